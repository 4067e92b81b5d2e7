"""Bit patterns of the four dtypes, and the distance between two values counted in representable steps.

A value of a dtype (an exact rational, or ``±inf``) is written as the dtype's IEEE-754 bit pattern in
hexadecimal: 16 hex digits for float64, 8 for float32, 4 for float16 and bfloat16 (bfloat16 is the
upper half of the float32 pattern). Every value of these formats is a float64, so the patterns are
computed from ``float(value)`` without rounding.

The *ordinal* of a pattern maps the floats to consecutive integers in numeric order (``+0`` and ``-0``
both to 0): ``ordinal(b) = b`` for a positive sign bit clear, ``-(b & magnitude_mask)`` otherwise. The
distance ``|ordinal(a) - ordinal(b)|`` is the number of representable steps between a and b, the
"ULP distance" the vector files use for their bounds.
"""
from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError

WIDTH = {Dtype.FLOAT64: 64, Dtype.FLOAT32: 32, Dtype.FLOAT16: 16, Dtype.BFLOAT16: 16}


def to_bits(value: Fraction | float, dtype: Dtype) -> int:
    """The bit pattern of ``value``, which must be a value of ``dtype`` (or ±inf)."""
    x = float(value)
    if isinstance(value, Fraction) and Fraction(x) != value:
        raise InvalidArgumentError("value", str(value), f"a value of {dtype.value}")
    if dtype is Dtype.FLOAT64:
        return int(struct.unpack(">Q", struct.pack(">d", x))[0])
    if dtype is Dtype.FLOAT16:
        bits = int(np.array([x], dtype=np.float16).view(np.uint16)[0])
        if math.isfinite(x) and float(np.array([bits], dtype=np.uint16).view(np.float16)[0]) != x:
            raise InvalidArgumentError("value", x, "a value of float16")
        return bits
    single = int(struct.unpack(">I", struct.pack(">f", x))[0])
    if dtype is Dtype.FLOAT32:
        return single
    if single & 0xFFFF:
        raise InvalidArgumentError("value", x, "a value of bfloat16")
    return single >> 16


def from_bits(bits: int, dtype: Dtype) -> float:
    """The value of a bit pattern as a float (exact: every value of the four formats is a float64)."""
    if dtype is Dtype.FLOAT64:
        return float(struct.unpack(">d", struct.pack(">Q", bits))[0])
    if dtype is Dtype.FLOAT16:
        return float(np.array([bits], dtype=np.uint16).view(np.float16)[0])
    single = bits << 16 if dtype is Dtype.BFLOAT16 else bits
    return float(struct.unpack(">f", struct.pack(">I", single))[0])


def hex_bits(value: Fraction | float, dtype: Dtype) -> str:
    """``"0x3f800000"`` style: the pattern of ``value`` with the dtype's full width of hex digits."""
    return f"0x{to_bits(value, dtype):0{WIDTH[dtype] // 4}x}"


def ordinal(bits: int, dtype: Dtype) -> int:
    """The position of a pattern in numeric order (see the module docstring); NaN patterns are refused."""
    width = WIDTH[dtype]
    sign = 1 << (width - 1)
    return -(bits & (sign - 1)) if bits & sign else bits


def ulp_distance(a: int, b: int, dtype: Dtype) -> int:
    """Representable steps between two patterns of ``dtype``."""
    return abs(ordinal(a, dtype) - ordinal(b, dtype))
