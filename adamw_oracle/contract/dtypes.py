"""Binary floating-point formats the toolkit judges, and exact rounding into them.

Each format is described by its precision ``p`` (significand bits including the hidden bit) and its
exponent range. Rounding is round-to-nearest, ties-to-even, with gradual underflow and overflow to
infinity, computed exactly on rationals (no double rounding through float64).

=========  ==  =======  ======  ===================
format      p  emin     emax    unit roundoff u
=========  ==  =======  ======  ===================
float64    53  -1022    1023    2**-53
float32    24  -126     127     2**-24
float16    11  -14      15      2**-11
bfloat16    8  -126     127     2**-8
=========  ==  =======  ======  ===================
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction

from adamw_oracle.errors import InvalidArgumentError


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE-754 style binary format: ``precision`` bits, normal exponents in ``[emin, emax]``."""

    name: str
    precision: int
    emin: int
    emax: int

    @property
    def unit_roundoff(self) -> Fraction:
        """u = 2**-p: the largest relative error of one correctly rounded operation (normal range)."""
        return Fraction(1, 2 ** self.precision)

    @property
    def smallest_subnormal(self) -> Fraction:
        return Fraction(2) ** (self.emin - self.precision + 1)

    @property
    def smallest_normal(self) -> Fraction:
        return Fraction(2) ** self.emin

    @property
    def largest(self) -> Fraction:
        return (2 - Fraction(1, 2 ** (self.precision - 1))) * Fraction(2) ** self.emax

    def ulp(self, value: Fraction) -> Fraction:
        """The spacing of the format at ``value`` (the unit in the last place of |value|)."""
        magnitude = abs(value)
        if magnitude < self.smallest_normal:
            return self.smallest_subnormal
        exponent = _floor_log2(magnitude)
        return Fraction(2) ** (min(exponent, self.emax) - self.precision + 1)

    def round(self, value: Fraction) -> Fraction | float:
        """Round an exact rational to the nearest value of this format (ties to even).

        Returns the exact rational of the result, or ``±inf`` (a float) on overflow.
        """
        if value == 0:
            return Fraction(0)
        sign = -1 if value < 0 else 1
        magnitude = abs(value)
        quantum = self.ulp(magnitude)
        scaled = magnitude / quantum
        floor = scaled.numerator // scaled.denominator
        remainder = scaled - floor
        if remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and floor % 2 == 1):
            floor += 1
        result = floor * quantum
        # Rounding can carry into the next binade; the quantum there is coarser but the value
        # floor*quantum is still exactly representable, so no second rounding is needed.
        overflow_threshold = self.largest + Fraction(2) ** (self.emax - self.precision)
        if magnitude >= overflow_threshold:
            return sign * math.inf
        return sign * result


def _floor_log2(value: Fraction) -> int:
    """floor(log2(value)) for a positive rational, computed exactly."""
    exponent = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** exponent > value:
        exponent -= 1
    elif Fraction(2) ** (exponent + 1) <= value:
        exponent += 1
    return exponent


class Dtype(enum.Enum):
    """The dtypes a run can be judged in."""

    FLOAT64 = "float64"
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"

    @property
    def format(self) -> FloatFormat:
        return _FORMATS[self]

    @classmethod
    def parse(cls, value: Dtype | str, argument: str = "dtype") -> Dtype:
        """Accept a Dtype, its name, or a numpy/torch dtype-like whose str ends in the name."""
        if isinstance(value, Dtype):
            return value
        text = str(value).rsplit(".", 1)[-1].strip().lower()
        for member in cls:
            if member.value == text:
                return member
        raise InvalidArgumentError(argument, value, "one of " + ", ".join(m.value for m in cls))


_FORMATS = {
    Dtype.FLOAT64: FloatFormat("float64", 53, -1022, 1023),
    Dtype.FLOAT32: FloatFormat("float32", 24, -126, 127),
    Dtype.FLOAT16: FloatFormat("float16", 11, -14, 15),
    Dtype.BFLOAT16: FloatFormat("bfloat16", 8, -126, 127),
}
