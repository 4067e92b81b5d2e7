/* Fused single-tensor step: one pass over memory, reading p, g, m, v (vmax) and writing p, m, v (vmax).
 * One thread per element (grid-stride loop). v and vmax may be null (SGD; AMSGrad off).
 * scalars: double[AO_S_COUNT] of this step (adamw_oracle/gpu/scalars.py). */
#include "ao_element.cuh"

template <class S> __device__ void ao_fused_step_kernel(
    long long n, int flags, const double* scalars, typename S::storage* p, const typename S::storage* g,
    typename S::compute* m, typename S::compute* v, typename S::compute* vmax) {
    AoScalars<typename S::compute> k;
    k.load(scalars);
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        ao_fused_element<S>(i, 0u, flags, k, p, g, m, v, vmax);
}

#define AO_FUSED(SUFFIX, S)                                                                          \
    extern "C" __global__ void ao_fused_step_##SUFFIX(                                               \
        long long n, int flags, const double* scalars, S::storage* p, const S::storage* g,           \
        S::compute* m, S::compute* v, S::compute* vmax) {                                            \
        ao_fused_step_kernel<S>(n, flags, scalars, p, g, m, v, vmax);                                \
    }

AO_FUSED(f64, AoF64)
AO_FUSED(f32, AoF32)
AO_FUSED(f16, AoF16)
AO_FUSED(bf16, AoBF16)
AO_FUSED(f64c32, AoF64C32)
