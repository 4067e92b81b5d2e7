"""Number backends the reference step is written against (mpmath style: code against a context).

Each backend owns a *private* mpmath context (never the global ``mp``), so precision changes made
here cannot leak into, or be disturbed by, the caller's mpmath use.

* :class:`PointBackend` -- ``mpmath.ctx_mp.MPContext`` at ``prec`` bits: fast, not rigorous.
* :class:`IntervalBackend` -- ``mpmath.ctx_iv.MPIntervalContext``: every result is an interval that
  encloses the exact value; used to certify digits.

A backend converts exact inputs once (:meth:`const`) and supplies the few non-operator functions the
step needs (``sqrt``, ``maximum``, ``power``); ``+ - * /`` are the number type's own operators.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Protocol

from mpmath.ctx_iv import MPIntervalContext
from mpmath.ctx_mp import MPContext

from adamw_oracle.contract.exact import interval_ends, mpf_to_fraction, raw_mpf_to_fraction
from adamw_oracle.errors import InvalidArgumentError

MIN_PREC = 24
MAX_PREC = 1 << 17


class Backend(Protocol):
    """What the reference step needs from a number system."""

    prec: int
    rigorous: bool

    def const(self, value: Fraction | float) -> Any: ...
    def sqrt(self, x: Any) -> Any: ...
    def maximum(self, a: Any, b: Any) -> Any: ...
    def power(self, base: Any, exponent: int) -> Any: ...


def _check_prec(prec: int) -> int:
    if not isinstance(prec, int) or isinstance(prec, bool) or not MIN_PREC <= prec <= MAX_PREC:
        raise InvalidArgumentError("prec", prec, f"an int number of bits in [{MIN_PREC}, {MAX_PREC}]")
    return prec


class PointBackend:
    """Round-to-nearest mpmath arithmetic at ``prec`` bits in a private context."""

    rigorous = False

    def __init__(self, prec: int = 256) -> None:
        self.prec = _check_prec(prec)
        self.ctx = MPContext()
        self.ctx.prec = self.prec
        self.zero = self.ctx.mpf(0)
        self.one = self.ctx.mpf(1)

    def const(self, value: Fraction | float) -> Any:
        if isinstance(value, float):
            return self.ctx.mpf(value)
        if value.denominator == 1:
            return self.ctx.mpf(value.numerator)
        return self.ctx.mpf(value.numerator) / value.denominator

    def sqrt(self, x: Any) -> Any:
        return self.ctx.sqrt(x) if x >= 0 or self.ctx.isnan(x) else self.ctx.nan

    def maximum(self, a: Any, b: Any) -> Any:
        # NaN-propagating, like torch.maximum / jnp.maximum
        if self.ctx.isnan(a) or self.ctx.isnan(b):
            return self.ctx.nan
        return a if a >= b else b

    def power(self, base: Any, exponent: int) -> Any:
        return base**exponent

    def to_fraction(self, x: Any) -> Fraction | float:
        """The exact rational value of an mpf (or the float inf/nan)."""
        return mpf_to_fraction(x)


class IntervalBackend:
    """Interval arithmetic (outward rounding) at ``prec`` bits in a private context."""

    rigorous = True

    def __init__(self, prec: int = 256) -> None:
        self.prec = _check_prec(prec)
        self.ctx = MPIntervalContext()
        self.ctx.prec = self.prec
        self.zero = self.ctx.mpf(0)
        self.one = self.ctx.mpf(1)

    def const(self, value: Fraction | float) -> Any:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidArgumentError("value", value, "a finite number (interval certification needs finite inputs)")
            return self.ctx.mpf(value)
        if value.denominator == 1:
            return self.ctx.mpf(value.numerator)
        return self.ctx.mpf(value.numerator) / self.ctx.mpf(value.denominator)

    def sqrt(self, x: Any) -> Any:
        # An enclosure of a non-negative quantity may dip below 0 through rounding; the true value is
        # >= 0, so clamping the lower end keeps a valid enclosure instead of a ComplexResult.
        if x.a < 0:
            if x.b < 0:
                raise ArithmeticError("square root of an interval that is entirely negative")
            x = self.ctx.mpf([0, x.b])
        return self.ctx.sqrt(x)

    def maximum(self, a: Any, b: Any) -> Any:
        low = a.a if a.a >= b.a else b.a
        high = a.b if a.b >= b.b else b.b
        return self.ctx.mpf([low, high])

    def power(self, base: Any, exponent: int) -> Any:
        return base**exponent

__all__ = [
    "IRRATIONAL", "Backend", "ExactBackend", "IntervalBackend", "Irrational", "PointBackend", "interval_ends",
    "mpf_to_fraction", "raw_mpf_to_fraction",
]


class Irrational:
    """A value the exact backend does not hold as a rational (an irrational square root, or a result
    computed from one): all that is known is that no exact rational is available for it.

    Arithmetic with it gives :data:`IRRATIONAL` again, except multiplication by an exact 0 (which is 0).
    """

    _instance: Irrational | None = None

    def __new__(cls) -> Irrational:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "IRRATIONAL"

    def _absorb(self, other: Any) -> Irrational:
        return self

    def _times(self, other: Any) -> Any:
        return other if isinstance(other, Fraction) and other == 0 else self

    __add__ = __radd__ = __sub__ = __rsub__ = __truediv__ = __rtruediv__ = __pow__ = _absorb
    __mul__ = __rmul__ = _times

    def __neg__(self) -> Irrational:
        return self


IRRATIONAL = Irrational()


class ExactBackend:
    """Exact rational arithmetic (:class:`fractions.Fraction`); a square root that is not rational
    becomes :data:`IRRATIONAL`, and so does everything computed from it.

    Used by certification to recognise a quantity whose exact value is a rational (m, v, and the
    parameters of SGD runs always are), e.g. a value exactly halfway between two float32 numbers,
    which no enclosure of non-zero width can certify.
    """

    rigorous = True
    prec = 0  # unbounded

    def const(self, value: Fraction | float | int) -> Fraction:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidArgumentError("value", value, "a finite number (exact arithmetic needs finite inputs)")
        return Fraction(value)

    def sqrt(self, x: Any) -> Any:
        if not isinstance(x, Fraction):
            return IRRATIONAL
        if x < 0:
            raise ArithmeticError("square root of a negative rational")
        num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if num * num == x.numerator and den * den == x.denominator:
            return Fraction(num, den)
        return IRRATIONAL

    def maximum(self, a: Any, b: Any) -> Any:
        if not isinstance(a, Fraction) or not isinstance(b, Fraction):
            return IRRATIONAL
        return a if a >= b else b

    def power(self, base: Any, exponent: int) -> Any:
        return base**exponent
