/* The host build: the kernels' per-element arithmetic (ao_element.cuh) compiled by the host C++
 * compiler into a shared library loaded with ctypes. Each entry point below is the CPU loop that
 * corresponds to one CUDA kernel of the same name without the "host_" infix: same element function,
 * same arguments, the loop over i replacing the thread grid. Pointers are raw host arrays.
 *
 * The fused loop is parallelised with OpenMP for large arrays; elements are independent, so the
 * schedule cannot change any result. The loop is instantiated once more with the flags of a plain
 * AdamW step (AO_FAST_FLAGS, a compile-time constant from codes.py) so that the compiler can drop the
 * convention branches and vectorise it; the arithmetic is the same function either way. */
#include "ao_element.cuh"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
/* Pins the SSE control register of the calling thread for the lifetime of the guard: round to nearest,
 * no flush-to-zero, no denormals-are-zero. A library built with -ffast-math that is loaded into the
 * same process (crtfastmath) sets FTZ/DAZ globally; the device never flushes (--ftz=false), so the
 * host build must not either. MXCSR is per thread, hence one guard in every OpenMP thread too. */
struct AoIeeeGuard {
    unsigned int saved;
    AoIeeeGuard() : saved(_mm_getcsr()) { _mm_setcsr(saved & ~(0x8000u | 0x0040u | 0x6000u)); }
    ~AoIeeeGuard() { _mm_setcsr(saved); }
};
extern "C" void ao_host_test_set_ftz_daz(int on) {  /* test hook: what a fast-math library would do */
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(on ? (csr | 0x8040u) : (csr & ~0x8040u));
}
#else
struct AoIeeeGuard {};
extern "C" void ao_host_test_set_ftz_daz(int) {}
#endif

#define AO_OMP_MIN_ELEMENTS 32768

template <class S> static void ao_host_fused_loop(
    long long n, ao_u32 stream, int flags, const double* scalars, typename S::storage* __restrict p,
    const typename S::storage* __restrict g, typename S::compute* __restrict m,
    typename S::compute* __restrict v, typename S::compute* __restrict vmax) {
    AoIeeeGuard guard;
    AoScalars<typename S::compute> k;
    k.load(scalars);
    if (flags == AO_FAST_FLAGS && v != 0 && vmax == 0) {
#pragma omp parallel if (n >= AO_OMP_MIN_ELEMENTS)
        {
            AoIeeeGuard thread_guard;
#pragma omp for simd schedule(static)
            for (long long i = 0; i < n; ++i) {
                typedef typename S::compute C;
                C m_i = m[i], v_i = v[i], unused = (C)0;
                C p_new = ao_element_step<C>(AO_FAST_FLAGS, k, S::load(p[i]), S::load(g[i]), m_i, v_i, unused);
                p[i] = S::store(p_new);
                m[i] = m_i;
                v[i] = v_i;
            }
        }
        return;
    }
#pragma omp parallel if (n >= AO_OMP_MIN_ELEMENTS)
    {
        AoIeeeGuard thread_guard;
#pragma omp for schedule(static)
        for (long long i = 0; i < n; ++i) ao_fused_element<S>(i, stream, flags, k, p, g, m, v, vmax);
    }
}

#define AO_HOST_ENTRIES(SUFFIX, S)                                                                   \
    extern "C" void ao_host_fused_step_##SUFFIX(                                                     \
        long long n, int flags, const double* scalars, S::storage* p, const S::storage* g,           \
        S::compute* m, S::compute* v, S::compute* vmax) {                                            \
        ao_host_fused_loop<S>(n, 0u, flags, scalars, p, g, m, v, vmax);                              \
    }                                                                                                \
    extern "C" void ao_host_multi_tensor_step_##SUFFIX(                                              \
        int n_tensors, int flags, const double* scalars, const long long* sizes,                     \
        const unsigned long long* p_ptrs, const unsigned long long* g_ptrs,                          \
        const unsigned long long* m_ptrs, const unsigned long long* v_ptrs,                          \
        const unsigned long long* vmax_ptrs) {                                                       \
        for (int t = 0; t < n_tensors; ++t)                                                          \
            ao_host_fused_loop<S>(sizes[t], (ao_u32)t, flags, scalars, (S::storage*)p_ptrs[t],       \
                                  (const S::storage*)g_ptrs[t], (S::compute*)m_ptrs[t],              \
                                  (S::compute*)v_ptrs[t], (S::compute*)vmax_ptrs[t]);                \
    }                                                                                                \
    extern "C" void ao_host_batched_cases_##SUFFIX(                                                  \
        long long total, int steps, const int* elem_case, const int* case_flags,                     \
        const double* case_scalars, const S::storage* p0, const S::storage* grads, S::compute* m,    \
        S::compute* v, S::compute* vmax, S::storage* traj, S::storage* comp, S::storage* comp_traj) { \
        AoIeeeGuard guard;                                                                           \
        for (long long i = 0; i < total; ++i)                                                        \
            ao_batched_element<S>(i, total, steps, elem_case, case_flags, case_scalars, p0, grads,   \
                                  m, v, vmax, traj, comp, comp_traj);                                \
    }

AO_HOST_ENTRIES(f64, AoF64)
AO_HOST_ENTRIES(f32, AoF32)
AO_HOST_ENTRIES(f16, AoF16)
AO_HOST_ENTRIES(bf16, AoBF16)
AO_HOST_ENTRIES(f64c32, AoF64C32)

extern "C" int ao_host_flt_eval_method(void) { return FLT_EVAL_METHOD; }
extern "C" void ao_host_float_to_f16(long long n, const float* x, unsigned short* out) {
    AoIeeeGuard guard;
    for (long long i = 0; i < n; ++i) out[i] = ao_float_to_f16(x[i]);
}
extern "C" void ao_host_float_to_bf16(long long n, const float* x, unsigned short* out) {
    AoIeeeGuard guard;
    for (long long i = 0; i < n; ++i) out[i] = ao_float_to_bf16(x[i]);
}
extern "C" void ao_host_f16_to_float(long long n, const unsigned short* h, float* out) {
    AoIeeeGuard guard;
    for (long long i = 0; i < n; ++i) out[i] = ao_f16_to_float(h[i]);
}
extern "C" void ao_host_bf16_to_float(long long n, const unsigned short* h, float* out) {
    AoIeeeGuard guard;
    for (long long i = 0; i < n; ++i) out[i] = ao_bf16_to_float(h[i]);
}
