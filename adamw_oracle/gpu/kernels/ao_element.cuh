/* Per-element arithmetic of the adamw-oracle GPU layer, shared by the CUDA kernels and the host build.
 *
 * Every function here is __host__ __device__: NVRTC compiles it into the kernels and the host C++
 * compiler compiles the very same text into the host build. Results are bit-identical on both sides
 * because
 *   - every operation is a single IEEE-754 binary64/binary32 operation rounded to nearest even:
 *     device: --fmad=false, -prec-div=true, -prec-sqrt=true, -ftz=false (no .approx, no contraction);
 *     host:   -ffp-contract=off, no -ffast-math, SSE arithmetic (FLT_EVAL_METHOD == 0, checked below);
 *   - float32 arithmetic is written with float operands only (float literals never appear; per-step
 *     scalars arrive as double and are rounded once to float by a cast, which is cvt.rn on the device);
 *   - float16/bfloat16 <-> float32 conversions are the explicit bit-level routines below (not the
 *     compiler's or CUDA's intrinsics), rounding to nearest even;
 *   - max is written out with NaN propagation, not fmax (which drops NaNs).
 *
 * The integer codes (AO_FLAG_* shifts and masks, AO_WD_*, AO_EPS_*, AO_AMS_*, AO_S_* scalar slots) are
 * NOT defined here: they are passed as -D options generated from adamw_oracle/gpu/codes.py, the one
 * place that maps the contract's enums to integers. Which weight-decay codes add wd*p to the gradient
 * and which decay the parameter is not listed here either: AO_WD_COUPLED_MASK and AO_WD_DECOUPLED_MASK
 * (bit `code` set) come from the contract's rules (adamw_oracle/contract/scalars.py).
 *
 * Element step (t is the 1-based step number; see adamw_oracle/contract/conventions.py):
 *   g'   = (maximize ? -g : g) + [wd*p if the WD code is in AO_WD_COUPLED_MASK]
 *   Adam: m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*(g'*g');  m^ = m/bc1;  v^ = v/bc2
 *         AMSGrad raw v : vmax = max(vmax, v);  v~ = vmax/bc2;  r = vmax
 *         AMSGrad v-hat : vmax = max(vmax, v^); v~ = vmax;      r = vmax*bc2
 *         off           : v~ = v^;  r = v
 *         after root    : update = (lr_t*m^) / (sqrt(v~) + eps)
 *         inside root   : update = (lr_t*m^) / (sqrt(v~ + eps_root) + eps)
 *         epsilon-hat   : update = (alpha*m) / (sqrt(r) + eps),  alpha = lr_t*sqrt(bc2)/bc1 (host)
 *         floor         : update = (lr_t*m^) / max(sqrt(v~), eps)   (NaN-propagating max)
 *   SGD:  b = g' on step 1, else b = mu*b + (1-dampening)*g';  d = nesterov ? g' + mu*b : b
 *         (d = g' without momentum);  update = lr_t*d
 *   decay (WD code in AO_WD_DECOUPLED_MASK, c from the host): previous param: p_new = (p - c*p) - update
 *                                            updated param : q = p - update; p_new = q - c*q
 *   otherwise p_new = p - update.
 * Kahan summation (SUMMATION field = AO_SUM_KAHAN, batched kernel): the step's change
 *   d = -(update + decay)   (decay = c*p, or c*(p - update) for the updated param; 0 without decoupled decay)
 * is added with a compensation c kept in the parameter's storage type:
 *   y = store(c + d);  p_new = store(p + y);  c = store(y - (p_new - p))
 * (every operation in the compute type, each store() a rounding to nearest into storage).
 * Storage of p_new: rounded to nearest, or (ROUNDING field = AO_ROUND_STOCHASTIC, bfloat16 parameters
 * only) stochastically: 16 random bits are added to the float32 pattern, which is then truncated, so
 * the value away from zero is taken with probability equal to the dropped fraction. The bits are a
 * counter-based hash of the element index, the step number (slot AO_S_STEP) and the stream: the tensor's
 * index in a multi-tensor launch (0 for a single array and for the batched cases), so that tensors of
 * one launch draw different bits for the same element index. Reproducible, the same on host and
 * device, independent from element to element, step to step and tensor to tensor.
 */
#ifndef AO_ELEMENT_CUH
#define AO_ELEMENT_CUH

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define AO_HD __host__ __device__ __forceinline__
#define AO_ON_DEVICE 1
#else
#define AO_HD inline
#include <cfloat>
#include <cmath>
#include <cstring>
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "the host build needs FLT_EVAL_METHOD == 0 (float arithmetic evaluated in float, e.g. SSE on x86-64)"
#endif
#if defined(__FAST_MATH__)
#error "the host build must not be compiled with -ffast-math"
#endif
#endif

#ifndef AO_S_COUNT
#error "compile with the -D options from adamw_oracle.gpu.codes (AO_S_*, AO_FLAG_*, ...)"
#endif

typedef unsigned short ao_u16;
typedef unsigned int ao_u32;

/* ---- bit casts ------------------------------------------------------------------------------- */
AO_HD ao_u32 ao_float_to_bits(float x) {
#ifdef AO_ON_DEVICE
    return __float_as_uint(x);
#else
    ao_u32 u;
    std::memcpy(&u, &x, sizeof u);
    return u;
#endif
}

AO_HD float ao_bits_to_float(ao_u32 u) {
#ifdef AO_ON_DEVICE
    return __uint_as_float(u);
#else
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
#endif
}

/* ---- bfloat16 <-> float32 -------------------------------------------------------------------- */
AO_HD float ao_bf16_to_float(ao_u16 h) { return ao_bits_to_float(((ao_u32)h) << 16); }

/* Round to nearest, ties to even, by adding 0x7fff plus the kept lowest bit: the carry rounds up
 * exactly when the dropped 16 bits exceed one half (or equal it with an odd kept bit); a carry out of
 * the significand moves into the exponent, which is also how overflow to infinity happens. */
AO_HD ao_u16 ao_float_to_bf16(float x) {
    ao_u32 u = ao_float_to_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ao_u16)((u >> 16) | 0x0040u); /* quiet NaN, sign kept */
    ao_u32 lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;
    return (ao_u16)(u >> 16);
}

/* Stochastic rounding to bfloat16: add 16 random bits below the kept 16 and truncate (a carry out of
 * the significand moves into the exponent, up to infinity past the largest value); NaN and infinity
 * are stored as by round to nearest. */
AO_HD ao_u16 ao_float_to_bf16_stochastic(float x, ao_u32 random_bits) {
    ao_u32 u = ao_float_to_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return ao_float_to_bf16(x);
    return (ao_u16)((u + (random_bits & 0xffffu)) >> 16);
}

/* A 32-bit integer finaliser (xor-shift-multiply, full avalanche): the random bits of element i of
 * stream s at step t are ao_mix((ao_mix(i_low ^ ao_mix(i_high + K0)) ^ ao_mix(s + K2) ^ ao_mix(K2)) + t*K1).
 * The stream term is 0 for s = 0, so a single array's bits do not depend on the multi-tensor launch. */
AO_HD ao_u32 ao_mix(ao_u32 x) {
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    return x;
}
AO_HD ao_u32 ao_random_bits(long long i, ao_u32 step, ao_u32 stream) {
    ao_u32 index = ao_mix((ao_u32)i ^ ao_mix((ao_u32)((unsigned long long)i >> 32) + 0x9e3779b9u));
    index ^= ao_mix(stream + 0xc2b2ae35u) ^ ao_mix(0xc2b2ae35u);
    return ao_mix(index + step * 0x85ebca6bu);
}

/* ---- float16 <-> float32 --------------------------------------------------------------------- */
AO_HD float ao_f16_to_float(ao_u16 h) {
    ao_u32 sign = ((ao_u32)h & 0x8000u) << 16;
    ao_u32 exponent = ((ao_u32)h >> 10) & 0x1fu;
    ao_u32 mantissa = (ao_u32)h & 0x3ffu;
    if (exponent == 0x1fu) return ao_bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0u) {
        /* zero or subnormal: mantissa * 2^-24, exact in float (mantissa < 2^10, power-of-two scale) */
        float magnitude = (float)mantissa * 5.9604644775390625e-8f;
        return sign ? -magnitude : magnitude;
    }
    return ao_bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

AO_HD ao_u16 ao_float_to_f16(float x) {
    ao_u32 u = ao_float_to_bits(x);
    ao_u32 sign = (u >> 16) & 0x8000u;
    ao_u32 a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (ao_u16)(sign | 0x7e00u);          /* NaN -> quiet NaN */
    if (a >= 0x477ff000u) return (ao_u16)(sign | 0x7c00u);         /* >= 65520 rounds to infinity */
    if (a >= 0x38800000u) {                                         /* normal half: |x| >= 2^-14 */
        a += 0xfffu + ((a >> 13) & 1u);                              /* ties to even on 13 dropped bits */
        return (ao_u16)(sign | ((a - 0x38000000u) >> 13));          /* rebias exponent 127 -> 15 */
    }
    if (a <= 0x33000000u) return (ao_u16)sign;                      /* |x| <= 2^-25 rounds to zero */
    /* subnormal half: count of 2^-24 quanta = significand * 2^(e - 126), rounded to nearest even */
    ao_u32 e = a >> 23;
    ao_u32 significand = (a & 0x7fffffu) | 0x800000u;
    ao_u32 shift = 126u - e;                                         /* 14 .. 24 */
    ao_u32 q = significand >> shift;
    ao_u32 rest = significand & ((1u << shift) - 1u);
    ao_u32 half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (q & 1u))) q += 1u;
    return (ao_u16)(sign | q);
}

/* ---- storage types: how a parameter/gradient element is loaded to and stored from compute type -- */
/* store_stochastic(x, bits): the stochastic rounding into storage; only bfloat16 has one (the Python
 * side refuses stochastic rounding for the other dtypes), the others store as store(x). */
struct AoF64 { typedef double storage; typedef double compute;
    AO_HD static double load(double x) { return x; } AO_HD static double store(double x) { return x; }
    AO_HD static double store_stochastic(double x, ao_u32) { return x; } };
/* float64 parameters computed in float32 (a float32 working copy): each load rounds to float32 (a cast:
 * cvt.rn.f32.f64 on the device, round to nearest under the pinned MXCSR on the host), each store is
 * the exact widening back to float64; the state is float32. */
struct AoF64C32 { typedef double storage; typedef float compute;
    AO_HD static float load(double x) { return (float)x; } AO_HD static double store(float x) { return (double)x; }
    AO_HD static double store_stochastic(float x, ao_u32) { return (double)x; } };
struct AoF32 { typedef float storage; typedef float compute;
    AO_HD static float load(float x) { return x; } AO_HD static float store(float x) { return x; }
    AO_HD static float store_stochastic(float x, ao_u32) { return x; } };
struct AoF16 { typedef ao_u16 storage; typedef float compute;
    AO_HD static float load(ao_u16 x) { return ao_f16_to_float(x); }
    AO_HD static ao_u16 store(float x) { return ao_float_to_f16(x); }
    AO_HD static ao_u16 store_stochastic(float x, ao_u32) { return ao_float_to_f16(x); } };
struct AoBF16 { typedef ao_u16 storage; typedef float compute;
    AO_HD static float load(ao_u16 x) { return ao_bf16_to_float(x); }
    AO_HD static ao_u16 store(float x) { return ao_float_to_bf16(x); }
    AO_HD static ao_u16 store_stochastic(float x, ao_u32 bits) { return ao_float_to_bf16_stochastic(x, bits); } };

/* ---- elementary operations ------------------------------------------------------------------- */
AO_HD double ao_sqrt(double x) { return sqrt(x); }   /* sqrt.rn.f64 / sqrtsd */
AO_HD float ao_sqrt(float x) { return sqrtf(x); }    /* sqrt.rn.f32 with -prec-sqrt=true / sqrtss */

/* NaN-propagating maximum (like torch.maximum and the reference backend); fmax would drop NaN. */
template <class C> AO_HD C ao_max_nan(C a, C b) {
    if (a != a) return a;
    if (b != b) return b;
    return a >= b ? a : b;
}

/* Per-step scalars, computed on the host in double (adamw_oracle/gpu/scalars.py) and rounded once to
 * the compute type here. */
template <class C> struct AoScalars {
    C beta1, one_minus_beta1, beta2, one_minus_beta2, bc1, bc2, lr_t, eps, eps_root, weight_decay,
      decay_coef, alpha, momentum, one_minus_dampening;
    bool first_step;
    ao_u32 step;
    AO_HD void load(const double* s) {
        beta1 = (C)s[AO_S_BETA1]; one_minus_beta1 = (C)s[AO_S_ONE_MINUS_BETA1];
        beta2 = (C)s[AO_S_BETA2]; one_minus_beta2 = (C)s[AO_S_ONE_MINUS_BETA2];
        bc1 = (C)s[AO_S_BC1]; bc2 = (C)s[AO_S_BC2]; lr_t = (C)s[AO_S_LR_T]; eps = (C)s[AO_S_EPS];
        eps_root = (C)s[AO_S_EPS_ROOT]; weight_decay = (C)s[AO_S_WEIGHT_DECAY];
        decay_coef = (C)s[AO_S_DECAY_COEF]; alpha = (C)s[AO_S_ALPHA]; momentum = (C)s[AO_S_MOMENTUM];
        one_minus_dampening = (C)s[AO_S_ONE_MINUS_DAMPENING]; first_step = s[AO_S_FIRST_STEP] != 0.0;
        step = (ao_u32)s[AO_S_STEP];
    }
};

#define AO_FIELD(flags, name) (((flags) >> AO_FLAG_##name##_SHIFT) & AO_FLAG_##name##_MASK)
#define AO_HAS_WD(mask, flags) ((((mask) >> AO_FIELD(flags, WD)) & 1) != 0)

/* The new parameter of element i of stream `stream` (see ao_random_bits) in its storage type, rounded
 * per the ROUNDING field. */
template <class S> AO_HD typename S::storage ao_store_param(int flags, long long i, ao_u32 step, ao_u32 stream,
                                                            typename S::compute x) {
    if (AO_FIELD(flags, ROUNDING) == AO_ROUND_STOCHASTIC) return S::store_stochastic(x, ao_random_bits(i, step, stream));
    return S::store(x);
}

/* Decoupled decay and the new parameter (see the header comment). */
template <class C> AO_HD C ao_apply_decay(int flags, const AoScalars<C>& k, C p, C update) {
    if (AO_HAS_WD(AO_WD_DECOUPLED_MASK, flags)) {
        if (AO_FIELD(flags, TARGET) == AO_TARGET_UPDATED_PARAM) {
            C moved = p - update;
            return moved - k.decay_coef * moved;
        }
        return (p - k.decay_coef * p) - update;
    }
    return p - update;
}

/* The step's change d = -(update + decay) (Kahan summation adds it with a compensation). */
template <class C> AO_HD C ao_change(int flags, const AoScalars<C>& k, C p, C update) {
    if (AO_HAS_WD(AO_WD_DECOUPLED_MASK, flags)) {
        C decay = AO_FIELD(flags, TARGET) == AO_TARGET_UPDATED_PARAM ? k.decay_coef * (p - update) : k.decay_coef * p;
        return -(update + decay);
    }
    return -update;
}

/* One element of one step. m is Adam's first moment or SGD's momentum buffer; v and vmax are unused
 * (left unchanged) for SGD and vmax is unchanged with AMSGrad off. Returns p_new. */
template <class C> AO_HD C ao_element_update(int flags, const AoScalars<C>& k, C p, C g, C& m, C& v, C& vmax);

template <class C> AO_HD C ao_element_step(int flags, const AoScalars<C>& k, C p, C g, C& m, C& v, C& vmax) {
    return ao_apply_decay(flags, k, p, ao_element_update<C>(flags, k, p, g, m, v, vmax));
}

/* The update of one element's step (before decay): updates m, v, vmax in place. */
template <class C> AO_HD C ao_element_update(int flags, const AoScalars<C>& k, C p, C g, C& m, C& v, C& vmax) {
    C g_used = AO_FIELD(flags, MAXIMIZE) ? -g : g;
    if (AO_HAS_WD(AO_WD_COUPLED_MASK, flags)) g_used = g_used + k.weight_decay * p;
    C update;
    if (AO_FIELD(flags, FAMILY) == AO_FAMILY_SGD) {
        C direction = g_used;
        if (AO_FIELD(flags, MOMENTUM)) {
            m = k.first_step ? g_used : k.momentum * m + k.one_minus_dampening * g_used;
            direction = AO_FIELD(flags, NESTEROV) ? g_used + k.momentum * m : m;
        }
        update = k.lr_t * direction;
    } else {
        m = k.beta1 * m + k.one_minus_beta1 * g_used;
        v = k.beta2 * v + k.one_minus_beta2 * (g_used * g_used);
        C m_hat = m / k.bc1;
        C v_hat = v / k.bc2;
        C v_tilde = v_hat;
        C raw = v;
        int ams = AO_FIELD(flags, AMSGRAD);
        if (ams == AO_AMS_MAX_RAW_V) {
            vmax = ao_max_nan(vmax, v);
            v_tilde = vmax / k.bc2;
            raw = vmax;
        } else if (ams == AO_AMS_MAX_V_HAT) {
            vmax = ao_max_nan(vmax, v_hat);
            v_tilde = vmax;
            raw = vmax * k.bc2;
        }
        int eps_placement = AO_FIELD(flags, EPS);
        if (eps_placement == AO_EPS_EPSILON_HAT) {
            update = (k.alpha * m) / (ao_sqrt(raw) + k.eps);
        } else if (eps_placement == AO_EPS_INSIDE_ROOT) {
            update = (k.lr_t * m_hat) / (ao_sqrt(v_tilde + k.eps_root) + k.eps);
        } else if (eps_placement == AO_EPS_FLOOR) {
            update = (k.lr_t * m_hat) / ao_max_nan(ao_sqrt(v_tilde), k.eps);
        } else {
            update = (k.lr_t * m_hat) / (ao_sqrt(v_tilde) + k.eps);
        }
    }
    return update;
}

/* Element i of a fused step over one array (stream: the array's index in a multi-tensor launch, 0 for
 * a single array): reads p, g, m, v, vmax and writes p, m, v, vmax. */
template <class S> AO_HD void ao_fused_element(
    long long i, ao_u32 stream, int flags, const AoScalars<typename S::compute>& k, typename S::storage* p,
    const typename S::storage* g, typename S::compute* m, typename S::compute* v, typename S::compute* vmax) {
    typedef typename S::compute C;
    C m_i = m[i];
    C v_i = v ? v[i] : (C)0;
    C vmax_i = vmax ? vmax[i] : (C)0;
    C p_new = ao_element_step<C>(flags, k, S::load(p[i]), S::load(g[i]), m_i, v_i, vmax_i);
    p[i] = ao_store_param<S>(flags, i, k.step, stream, p_new);
    m[i] = m_i;
    if (v) v[i] = v_i;
    if (vmax) vmax[i] = vmax_i;
}

/* Element i of the batched-case layout (see batched_cases.cu): runs every step of its case and
 * writes the parameter after each step into traj[step * total + i], and the Kahan compensation
 * (SUMMATION field; it stays 0 otherwise) into comp_traj[step * total + i]. */
template <class S> AO_HD void ao_batched_element(
    long long i, long long total, int steps, const int* elem_case, const int* case_flags,
    const double* case_scalars, const typename S::storage* p0, const typename S::storage* grads,
    typename S::compute* m, typename S::compute* v, typename S::compute* vmax, typename S::storage* traj,
    typename S::storage* comp, typename S::storage* comp_traj) {
    typedef typename S::compute C;
    int c = elem_case[i];
    int flags = case_flags[c];
    bool kahan = AO_FIELD(flags, SUMMATION) == AO_SUM_KAHAN;
    C p = S::load(p0[i]);
    C m_i = m[i], v_i = v[i], vmax_i = vmax[i];
    typename S::storage comp_i = comp[i];
    for (int step = 0; step < steps; ++step) {
        AoScalars<C> k;
        k.load(case_scalars + ((long long)c * steps + step) * AO_S_COUNT);
        C g = S::load(grads[(long long)step * total + i]);
        typename S::storage stored;
        if (kahan) {
            C d = ao_change(flags, k, p, ao_element_update<C>(flags, k, p, g, m_i, v_i, vmax_i));
            C y = S::load(S::store(S::load(comp_i) + d));
            stored = S::store(p + y);
            comp_i = S::store(y - (S::load(stored) - p));
        } else {
            stored = ao_store_param<S>(flags, i, k.step, 0u, ao_element_step<C>(flags, k, p, g, m_i, v_i, vmax_i));
        }
        traj[(long long)step * total + i] = stored;
        comp_traj[(long long)step * total + i] = comp_i;
        p = S::load(stored);  /* the parameter lives in its storage dtype between steps */
    }
    m[i] = m_i;
    v[i] = v_i;
    vmax[i] = vmax_i;
    comp[i] = comp_i;
}

#endif /* AO_ELEMENT_CUH */
