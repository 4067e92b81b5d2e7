/* Batched independent cases for fuzzing: thousands of runs per launch, each with its own conventions
 * (flags word), hyperparameters (per-step scalars) and gradient sequence; returns the trajectory.
 *
 * Layout (total = number of elements over all cases, steps = common step count of the launch):
 *   elem_case[total]                       case index of each element
 *   case_flags[cases]                      flags word of each case
 *   case_scalars[cases][steps][AO_S_COUNT] per-step scalars of each case (host, double)
 *   p0[total], grads[steps][total]         initial parameters and gradients (storage dtype)
 *   m, v, vmax [total]                     state in, state out (compute dtype)
 *   traj[steps][total]                     parameter after every step (storage dtype)
 *   comp[total], comp_traj[steps][total]   Kahan compensation in / out, and after every step (storage)
 * One thread per element runs every step of its case. */
#include "ao_element.cuh"

#define AO_BATCHED(SUFFIX, S)                                                                        \
    extern "C" __global__ void ao_batched_cases_##SUFFIX(                                            \
        long long total, int steps, const int* elem_case, const int* case_flags,                     \
        const double* case_scalars, const S::storage* p0, const S::storage* grads, S::compute* m,    \
        S::compute* v, S::compute* vmax, S::storage* traj, S::storage* comp, S::storage* comp_traj) { \
        long long stride = (long long)blockDim.x * gridDim.x;                                        \
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)  \
            ao_batched_element<S>(i, total, steps, elem_case, case_flags, case_scalars, p0, grads,   \
                                  m, v, vmax, traj, comp, comp_traj);                                \
    }

AO_BATCHED(f64, AoF64)
AO_BATCHED(f32, AoF32)
AO_BATCHED(f16, AoF16)
AO_BATCHED(bf16, AoBF16)
AO_BATCHED(f64c32, AoF64C32)
