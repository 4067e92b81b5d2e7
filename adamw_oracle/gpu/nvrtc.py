"""Compile the kernels to PTX with NVRTC directly (works without a CUDA device).

CuPy's ``RawModule`` compiles through a path that queries the current device, so this module calls
the NVRTC bindings (``cupy.cuda.nvrtc``: createProgram / compileProgram / getPTX) itself. The device
path (:mod:`adamw_oracle.gpu.device`) loads the PTX produced here.

Options fix the floating-point semantics the design relies on (see ``kernels/ao_element.cuh``):
``--fmad=false`` (no multiply-add contraction), ``--prec-div=true`` and ``--prec-sqrt=true``
(IEEE round-to-nearest division and square root), ``--ftz=false`` (subnormals kept).
"""
from __future__ import annotations

from typing import Any

from adamw_oracle.errors import AdamwOracleError, InvalidArgumentError
from adamw_oracle.gpu.codes import compile_options
from adamw_oracle.gpu.sources import HEADER, KERNEL_FILES, read_source

SUPPORTED_ARCHS: tuple[str, ...] = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90")
FLOAT_SEMANTICS_OPTIONS: tuple[str, ...] = ("--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--ftz=false")


class NvrtcUnavailableError(AdamwOracleError, RuntimeError):
    """CuPy or the NVRTC library cannot be imported/loaded."""


class NvrtcCompileError(AdamwOracleError, RuntimeError):
    """NVRTC rejected a kernel source; the message carries the program log."""


def _nvrtc() -> Any:
    try:
        from cupy.cuda import nvrtc  # optional dependency (cupy), imported only when used

        nvrtc.getVersion()
    except Exception as exc:  # ImportError, or the shared library missing
        raise NvrtcUnavailableError(
            f"NVRTC is not available ({exc}); install the 'gpu' extra: pip install 'adamw-oracle[gpu]'"
        ) from exc
    return nvrtc


def nvrtc_options(arch: str, float_semantics: tuple[str, ...] = FLOAT_SEMANTICS_OPTIONS) -> list[str]:
    """Every option given to NVRTC for ``arch`` (also part of what the tests inspect).

    ``float_semantics`` replaces :data:`FLOAT_SEMANTICS_OPTIONS`; only the tests' negative controls
    (showing the PTX inspection detects contraction or approximate division) change it.
    """
    if arch not in SUPPORTED_ARCHS:
        raise InvalidArgumentError("arch", arch, "one of " + ", ".join(SUPPORTED_ARCHS))
    return [f"--gpu-architecture=compute_{arch[3:]}", "--std=c++17", *float_semantics, *compile_options()]


def compile_ptx(source: str, arch: str = "sm_80", *,
                float_semantics: tuple[str, ...] = FLOAT_SEMANTICS_OPTIONS) -> str:
    """PTX of one kernel file of :data:`adamw_oracle.gpu.sources.KERNEL_FILES` for ``arch``."""
    if source not in KERNEL_FILES:
        raise InvalidArgumentError("source", source, "one of " + ", ".join(KERNEL_FILES))
    options = nvrtc_options(arch, float_semantics)
    nvrtc = _nvrtc()
    program = nvrtc.createProgram(read_source(source), source, [read_source(HEADER).encode()], [HEADER.encode()])
    try:
        try:
            nvrtc.compileProgram(program, options)
        except nvrtc.NVRTCError as exc:
            log = nvrtc.getProgramLog(program)
            raise NvrtcCompileError(f"NVRTC failed on {source} for {arch}: {exc}\n{log}") from exc
        ptx = nvrtc.getPTX(program)
    finally:
        nvrtc.destroyProgram(program)
    return ptx.decode() if isinstance(ptx, bytes) else str(ptx)


def compile_all_ptx(arch: str = "sm_80") -> dict[str, str]:
    """PTX of every kernel file for ``arch``: ``{"fused_step.cu": ptx, ...}``."""
    return {source: compile_ptx(source, arch) for source in KERNEL_FILES}
