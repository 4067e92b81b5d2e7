"""The device path: load the NVRTC-compiled PTX with CuPy and launch the kernels on CuPy arrays.

Nothing here runs without a CUDA device; importing this module does not import CuPy. The PTX is the
exact text :func:`adamw_oracle.gpu.nvrtc.compile_ptx` produces (the one the default tests inspect),
written to a per-user cache file and loaded with ``cupy.RawModule(path=...)``.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from adamw_oracle.errors import AdamwOracleError, InvalidArgumentError
from adamw_oracle.gpu.codes import SCALAR_COUNT
from adamw_oracle.gpu.hostbuild import cache_root
from adamw_oracle.gpu.nvrtc import SUPPORTED_ARCHS, compile_ptx, nvrtc_options
from adamw_oracle.gpu.sources import HEADER, KERNEL_FILES, sources_digest
from adamw_oracle.gpu.storage import StorageKind

THREADS_PER_BLOCK = 256
MULTI_TENSOR_CHUNK = 65536

_modules: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()


class CudaUnavailableError(AdamwOracleError, RuntimeError):
    """A kernel was needed but CuPy or a CUDA device is missing."""


def cupy_module() -> Any:
    """``cupy``, or a clear error saying what is missing."""
    try:
        import cupy  # optional dependency (cupy), imported only when used
    except ImportError as exc:
        raise CudaUnavailableError(
            "running the GPU kernels needs CuPy and a CUDA device: pip install 'adamw-oracle[gpu]' "
            "(the host build, adamw_oracle.gpu.HostBuildImplementation, runs the same arithmetic on the CPU)"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise CudaUnavailableError(f"CuPy is installed but CUDA reports no usable device ({exc})") from exc
    if count == 0:
        raise CudaUnavailableError("CuPy is installed but there is no CUDA device on this machine")
    return cupy


def device_arch(cupy: Any) -> str:
    """The highest supported ``sm_XY`` not above the current device's compute capability."""
    capability = int(cupy.cuda.Device().compute_capability)
    eligible = [arch for arch in SUPPORTED_ARCHS if int(arch[3:]) <= capability]
    if not eligible:
        raise CudaUnavailableError(f"device compute capability {capability} is below {SUPPORTED_ARCHS[0]}")
    return eligible[-1]


def kernel(source: str, name: str) -> Any:
    """The ``cupy.RawKernel`` ``name`` of kernel file ``source``, on the current device."""
    cupy = cupy_module()
    device_id = cupy.cuda.Device().id
    with _lock:
        key = (device_id, source)
        if key not in _modules:
            arch = device_arch(cupy)
            digest = sources_digest([source, HEADER], nvrtc_options(arch))
            directory = cache_root().parent / "ptx"
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{source}.{arch}.{digest}.ptx"
            if not path.exists():
                fd, temporary = tempfile.mkstemp(prefix=".ptx-", dir=directory)
                with os.fdopen(fd, "w") as handle:
                    handle.write(compile_ptx(source, arch))
                os.replace(temporary, path)
            _modules[key] = cupy.RawModule(path=str(path))
        return _modules[key].get_function(name)


def _blocks(n: int) -> int:
    return max(1, min((n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, 65535 * 8))


def _pointer(array: Any) -> int:
    return 0 if array is None else int(array.data.ptr)


def device_fused_step(kind: StorageKind, flags: int, scalars: Any, p: Any, g: Any, m: Any, v: Any, vmax: Any) -> None:
    """Launch ``ao_fused_step_<suffix>`` over one array (arrays already validated)."""
    cupy_module()
    n = int(p.size)
    if n == 0:
        return
    fn = kernel("fused_step.cu", f"{KERNEL_FILES['fused_step.cu']}_{kind.suffix}")
    fn((_blocks(n),), (THREADS_PER_BLOCK,),
       (np.int64(n), np.int32(flags), scalars, p, g, m, v if v is not None else np.uint64(0),
        vmax if vmax is not None else np.uint64(0)))


def device_multi_tensor_step(kind: StorageKind, flags: int, scalars: Any, params: Sequence[Any], grads: Sequence[Any],
                             ms: Sequence[Any], vs: Sequence[Any] | None, vmaxs: Sequence[Any] | None) -> None:
    """Launch ``ao_multi_tensor_step_<suffix>`` once for all arrays (pointer tables built here)."""
    cupy = cupy_module()
    sizes = [int(p.size) for p in params]
    block_tensor: list[int] = []
    block_start: list[int] = []
    for index, size in enumerate(sizes):
        for start in range(0, size, MULTI_TENSOR_CHUNK):
            block_tensor.append(index)
            block_start.append(start)
    if not block_tensor:
        return

    def table(seq: Sequence[Any] | None) -> Any:
        values = [_pointer(a) for a in seq] if seq is not None else [0] * len(params)
        return cupy.asarray(np.array(values, dtype=np.uint64))

    fn = kernel("multi_tensor.cu", f"{KERNEL_FILES['multi_tensor.cu']}_{kind.suffix}")
    fn((len(block_tensor),), (THREADS_PER_BLOCK,), (
        np.int32(flags), scalars, cupy.asarray(np.array(sizes, dtype=np.int64)), table(params), table(grads),
        table(ms), table(vs), table(vmaxs), cupy.asarray(np.array(block_tensor, dtype=np.int32)),
        cupy.asarray(np.array(block_start, dtype=np.int64)), np.int64(MULTI_TENSOR_CHUNK),
    ))


def device_batched_cases(kind: StorageKind, elem_case: np.ndarray, case_flags: np.ndarray, case_scalars: np.ndarray,
                         p0: np.ndarray, grads: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The batched-case kernel on host arrays (laid out as :func:`adamw_oracle.gpu.host.host_batched_cases`
    expects): copies in, launches once, copies back ``(traj, m, v, vmax)``."""
    cupy = cupy_module()
    total = int(p0.shape[0])
    steps = int(case_scalars.shape[1])
    if case_scalars.shape[2] != SCALAR_COUNT:
        raise InvalidArgumentError("case_scalars", case_scalars.shape, f"shape (cases, steps, {SCALAR_COUNT})")
    d = [cupy.asarray(a) for a in (elem_case, case_flags, case_scalars, p0, grads, m, v, vmax)]
    traj = cupy.empty((steps, total), dtype=kind.storage)
    comp, comp_traj = cupy.zeros(total, dtype=kind.storage), cupy.empty((steps, total), dtype=kind.storage)
    if total and steps:
        fn = kernel("batched_cases.cu", f"{KERNEL_FILES['batched_cases.cu']}_{kind.suffix}")
        fn((_blocks(total),), (THREADS_PER_BLOCK,), (np.int64(total), np.int32(steps), *d, traj, comp, comp_traj))
    return cupy.asnumpy(traj), cupy.asnumpy(d[5]), cupy.asnumpy(d[6]), cupy.asnumpy(d[7])
