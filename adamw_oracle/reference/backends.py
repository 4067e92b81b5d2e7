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
    "Backend", "IntervalBackend", "PointBackend", "interval_ends", "mpf_to_fraction", "raw_mpf_to_fraction",
]
