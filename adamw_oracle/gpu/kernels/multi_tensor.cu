/* Multi-tensor step: many parameter arrays of different sizes updated by one launch.
 * Pointer tables (device arrays of addresses, one entry per tensor) give each tensor's p, g, m, v, vmax
 * (v/vmax entries may be 0). The host splits every tensor into chunks of `chunk` elements and assigns
 * one block per chunk: block b updates elements [block_start[b], min(block_start[b] + chunk, size))
 * of tensor block_tensor[b]. All tensors share the flags word and the step's scalars; tensor t's stochastic
 * rounding draws from stream t (ao_random_bits), so equal tensors of one launch get different bits. */
#include "ao_element.cuh"

template <class S> __device__ void ao_multi_tensor_kernel(
    int flags, const double* scalars, const long long* sizes, const unsigned long long* p_ptrs,
    const unsigned long long* g_ptrs, const unsigned long long* m_ptrs, const unsigned long long* v_ptrs,
    const unsigned long long* vmax_ptrs, const int* block_tensor, const long long* block_start, long long chunk) {
    typedef typename S::storage T;
    typedef typename S::compute C;
    AoScalars<C> k;
    k.load(scalars);
    int tensor = block_tensor[blockIdx.x];
    long long start = block_start[blockIdx.x];
    long long end = start + chunk < sizes[tensor] ? start + chunk : sizes[tensor];
    T* p = (T*)p_ptrs[tensor];
    const T* g = (const T*)g_ptrs[tensor];
    C* m = (C*)m_ptrs[tensor];
    C* v = (C*)v_ptrs[tensor];
    C* vmax = (C*)vmax_ptrs[tensor];
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x)
        ao_fused_element<S>(i, (ao_u32)tensor, flags, k, p, g, m, v, vmax);
}

#define AO_MULTI(SUFFIX, S)                                                                          \
    extern "C" __global__ void ao_multi_tensor_step_##SUFFIX(                                        \
        int flags, const double* scalars, const long long* sizes, const unsigned long long* p_ptrs,  \
        const unsigned long long* g_ptrs, const unsigned long long* m_ptrs,                          \
        const unsigned long long* v_ptrs, const unsigned long long* vmax_ptrs,                       \
        const int* block_tensor, const long long* block_start, long long chunk) {                    \
        ao_multi_tensor_kernel<S>(flags, scalars, sizes, p_ptrs, g_ptrs, m_ptrs, v_ptrs, vmax_ptrs,  \
                                  block_tensor, block_start, chunk);                                 \
    }

AO_MULTI(f64, AoF64)
AO_MULTI(f32, AoF32)
AO_MULTI(f16, AoF16)
AO_MULTI(bf16, AoBF16)
AO_MULTI(f64c32, AoF64C32)
