"""The GPU layer: fused CUDA kernels for the Adam family, verified without a GPU.

* ``kernels/``: the ``.cu`` kernels and the ``__host__ __device__`` header of per-element arithmetic.
* :func:`compile_all_ptx`: every kernel compiled to PTX by NVRTC (no device needed).
* :class:`HostBuildImplementation`: the same arithmetic compiled for the CPU, as an ``Implementation``.
* :class:`FusedAdamW`, :class:`FusedAdam`, :class:`FusedSGD`, :class:`FusedOptimizer`: a torch-like
  ``step()`` over CuPy arrays (device kernels) or numpy arrays (host build).

Importing this package needs neither CuPy nor CUDA; they are loaded when a kernel is needed.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "FusedAdam", "FusedAdamW", "FusedOptimizer", "FusedSGD", "HostBuildImplementation", "compile_all_ptx",
    "compile_ptx",
]


def __getattr__(name: str) -> Any:
    if name in ("compile_all_ptx", "compile_ptx"):
        from adamw_oracle.gpu import nvrtc  # loaded only when used (keeps import and --help fast)

        return getattr(nvrtc, name)
    if name == "HostBuildImplementation":
        from adamw_oracle.gpu.host_impl import HostBuildImplementation  # loaded only when used

        return HostBuildImplementation
    if name in ("FusedAdam", "FusedAdamW", "FusedOptimizer", "FusedSGD"):
        from adamw_oracle.gpu import optim  # loaded only when used (keeps import and --help fast)

        return getattr(optim, name)
    raise AttributeError(f"module 'adamw_oracle.gpu' has no attribute {name!r}")
