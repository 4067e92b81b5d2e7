"""Where the kernel sources live and what they export (no CUDA needed)."""
from __future__ import annotations

import hashlib
from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
HEADER = "ao_element.cuh"
HOST_SOURCE = "host_build.cpp"

DTYPE_SUFFIXES: dict[str, str] = {"float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16"}
"""Parameter dtype -> kernel name suffix."""

FLOAT32_ARITHMETIC_SUFFIX = "f64c32"
"""Suffix of the instantiation for float64 parameters computed in float32 with float32 state
(``AoF64C32`` in the header: the precision model ``PrecisionModel.float32_arithmetic``)."""

KERNEL_SUFFIXES: tuple[str, ...] = (*DTYPE_SUFFIXES.values(), FLOAT32_ARITHMETIC_SUFFIX)
"""Every instantiation of each kernel, in definition order."""

KERNEL_FILES: dict[str, str] = {
    "fused_step.cu": "ao_fused_step",
    "multi_tensor.cu": "ao_multi_tensor_step",
    "batched_cases.cu": "ao_batched_cases",
}
"""Kernel source file -> the prefix of its ``extern "C"`` kernels (one per suffix of :data:`KERNEL_SUFFIXES`)."""


def kernel_names(source: str) -> list[str]:
    """The ``extern "C"`` kernel names that ``source`` (a file of :data:`KERNEL_FILES`) defines."""
    prefix = KERNEL_FILES[source]
    return [f"{prefix}_{suffix}" for suffix in KERNEL_SUFFIXES]


def read_source(name: str) -> str:
    """Text of a file of the kernel directory."""
    return (KERNEL_DIR / name).read_text(encoding="utf-8")


def sources_digest(names: list[str], options: list[str]) -> str:
    """A hex digest of the named files' text and the compile options (cache key)."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(read_source(name).encode())
        digest.update(b"\0")
    for option in options:
        digest.update(option.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]
