"""Reading PTX text: which kernels it defines and which floating-point instructions it uses."""
from __future__ import annotations

import re
from collections import Counter

_ENTRY = re.compile(r"\.(?:visible\s+)?\.entry\s+([A-Za-z_][A-Za-z0-9_]*)")
_FLOAT_OP = re.compile(r"^\s*(?:@!?%p\d+\s+)?((?:div|sqrt|rcp|rsqrt|fma|mad|mul|add|sub|neg|max|min|cvt)\.[a-z0-9.]+)", re.M)


def entry_names(ptx: str) -> list[str]:
    """Names of the ``.entry`` (kernel) functions of a PTX module."""
    return _ENTRY.findall(ptx)


def float_instructions(ptx: str) -> Counter[str]:
    """Count of every arithmetic/conversion instruction with a floating-point type suffix
    (``div.rn.f64``, ``sqrt.approx.f32``, ``fma.rn.f32``, ``cvt.rn.f32.f64`` ...)."""
    return Counter(op for op in _FLOAT_OP.findall(ptx) if re.search(r"\.(?:f16|bf16|f32|f64)", op))


def fused_multiply_adds(ptx: str) -> list[str]:
    """Floating-point fused multiply-add instructions (``fma.*``/``mad.*`` on f32/f64)."""
    return sorted(op for op in float_instructions(ptx) if op.split(".")[0] in ("fma", "mad"))


def inexact_divisions_and_roots(ptx: str) -> list[str]:
    """Division, square root and reciprocal instructions that are not IEEE round-to-nearest
    (``.approx``, ``.full``, ``rcp``/``rsqrt`` approximations)."""
    return sorted(
        op for op in float_instructions(ptx)
        if op.split(".")[0] in ("div", "sqrt", "rcp", "rsqrt") and not re.match(r"^(div|sqrt|rcp)\.rn\.", op)
    )
