"""Exact rational evaluation of a run, where the values are rational: the tie-breaker of the roundings.

Many quantities of a run are rational functions of its exact inputs (Adam's m and v without coupled L2,
every quantity of SGD); a square root makes the rest irrational in general. :class:`RationalBackend`
runs the reference's own element steps on :class:`Rational` numbers: a Fraction, or ``None`` once an
irrational square root has entered (and every result computed from it). A value known exactly decides
a rounding that an enclosure cannot: an exact tie between two values of a dtype, or an exact zero.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.run import Run
from adamw_oracle.reference.trajectory import run_trajectory

MAX_EXACT_POWER = 4096


class Rational:
    """An exact rational, or unknown (``value is None``: an irrational square root entered it)."""

    __slots__ = ("value",)

    def __init__(self, value: Fraction | None) -> None:
        self.value = value

    @staticmethod
    def _of(other: Any) -> Fraction | None:
        if isinstance(other, Rational):
            return other.value
        return Fraction(other)

    def _combine(self, other: Any, op: Any) -> Rational:
        a, b = self.value, self._of(other)
        return Rational(None if a is None or b is None else op(a, b))

    def __add__(self, other: Any) -> Rational:
        return self._combine(other, lambda a, b: a + b)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Rational:
        return self._combine(other, lambda a, b: a - b)

    def __rsub__(self, other: Any) -> Rational:
        return Rational(self._of(other)).__sub__(self)

    def __mul__(self, other: Any) -> Rational:
        b = self._of(other)
        if self.value == 0 or b == 0:  # 0 * (anything finite) is exactly 0: wd = 0 times an irrational p
            return Rational(Fraction(0))
        return self._combine(other, lambda a, b: a * b)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Rational:
        # 0/b is 0 for an unknown b too: these values are only consulted for a quantity whose arb ball is
        # finite, and a finite ball means every divisor on its path was enclosed away from 0
        b = self._of(other)
        if b == 0:
            return Rational(None)
        if self.value == 0:
            return Rational(Fraction(0))
        return self._combine(other, lambda a, b: a / b)

    def __rtruediv__(self, other: Any) -> Rational:
        return Rational(self._of(other)).__truediv__(self)

    def __neg__(self) -> Rational:
        return Rational(None if self.value is None else -self.value)


def _exact_sqrt(x: Fraction) -> Fraction | None:
    if x < 0:
        return None
    num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
    return Fraction(num, den) if num * num == x.numerator and den * den == x.denominator else None


class RationalBackend:
    """The reference step's backend protocol on :class:`Rational` numbers (exact, or unknown)."""

    prec = 0
    rigorous = True

    def const(self, value: Fraction | float) -> Rational:
        return Rational(Fraction(value))

    def sqrt(self, x: Rational) -> Rational:
        return Rational(None if x.value is None else _exact_sqrt(x.value))

    def maximum(self, a: Rational, b: Rational) -> Rational:
        return Rational(None if a.value is None or b.value is None else max(a.value, b.value))

    def power(self, base: Rational, exponent: int) -> Rational:
        # beta**t for a step counter near 2**24 would have millions of digits: left unknown
        if base.value is None or exponent > MAX_EXACT_POWER:
            return Rational(None)
        return Rational(base.value**exponent)


def exact_values(run: Run, quantities: tuple[str, ...]) -> list[dict[str, list[Fraction | None]]]:
    """Per step: the exact value of every quantity per element, None where it is not known to be rational.

    Only meaningful for a quantity whose arb enclosure is finite (see :meth:`Rational.__truediv__`).
    """
    trajectory = run_trajectory(run, RationalBackend())
    return [{q: [(e.p_new if q == "p" else getattr(e, q)).value for e in row] for q in quantities}
            for row in trajectory.steps]
