"""Number systems a compiled expression is evaluated in, each owning a private mpmath context.

* :class:`PointNumbers` -- ``mpmath.ctx_mp.MPContext`` at ``prec`` bits, round to nearest.
* :class:`IntervalNumbers` -- ``mpmath.ctx_iv.MPIntervalContext`` at ``prec`` bits, outward rounding:
  every result encloses the exact value of the expression at the exact inputs.

Neither touches the global ``mpmath.mp``; the precision lives in the private context only.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from mpmath.ctx_iv import MPIntervalContext
from mpmath.ctx_mp import MPContext

from adamw_oracle.errors import InvalidArgumentError

MIN_PREC = 24
MAX_PREC = 1 << 17


def check_prec(prec: Any) -> int:
    """``prec`` if it is an int number of bits in [MIN_PREC, MAX_PREC], else InvalidArgumentError."""
    if not isinstance(prec, int) or isinstance(prec, bool) or not MIN_PREC <= prec <= MAX_PREC:
        raise InvalidArgumentError("prec", prec, f"an int number of bits in [{MIN_PREC}, {MAX_PREC}]")
    return prec


class PointNumbers:
    """Round-to-nearest mpf arithmetic; sqrt of a negative number and max with NaN give NaN."""

    rigorous = False

    def __init__(self, prec: int) -> None:
        self.prec = check_prec(prec)
        self.ctx = MPContext()
        self.ctx.prec = self.prec

    def const(self, n: int) -> Any:
        return self.ctx.mpf(n)

    def ratio(self, numerator: int, denominator: int) -> Any:
        return self.ctx.mpf(numerator) / denominator

    def convert(self, value: Fraction | float) -> Any:
        if isinstance(value, float):
            return self.ctx.mpf(value)
        return self.ratio(value.numerator, value.denominator)

    def sqrt(self, x: Any) -> Any:
        if self.ctx.isnan(x) or x >= 0:
            return self.ctx.sqrt(x)
        return self.ctx.nan

    def max(self, *xs: Any) -> Any:
        if any(self.ctx.isnan(x) for x in xs):
            return self.ctx.nan
        best = xs[0]
        for x in xs[1:]:
            if x > best:
                best = x
        return best

    def abs(self, x: Any) -> Any:
        return abs(x)

    def power(self, base: Any, exponent: int) -> Any:
        return base ** int(exponent)


class IntervalNumbers:
    """Outward-rounded interval arithmetic: each result encloses the exact value."""

    rigorous = True

    def __init__(self, prec: int) -> None:
        self.prec = check_prec(prec)
        self.ctx = MPIntervalContext()
        self.ctx.prec = self.prec

    def const(self, n: int) -> Any:
        return self.ctx.mpf(n)

    def ratio(self, numerator: int, denominator: int) -> Any:
        return self.ctx.mpf(numerator) / self.ctx.mpf(denominator)

    def convert(self, value: Fraction | float) -> Any:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidArgumentError("value", value, "a finite number (interval evaluation needs finite inputs)")
            return self.ctx.mpf(value)
        return self.ratio(value.numerator, value.denominator)

    def sqrt(self, x: Any) -> Any:
        # Every radicand of the step is >= 0 exactly; an enclosure that dips below 0 by rounding is
        # clamped to its non-negative part, which still encloses the exact value.
        if x.a < 0:
            if x.b < 0:
                raise ArithmeticError("square root of an interval that is entirely negative")
            x = self.ctx.mpf([0, x.b])
        return self.ctx.sqrt(x)

    def max(self, *xs: Any) -> Any:
        low = xs[0].a
        high = xs[0].b
        for x in xs[1:]:
            low = x.a if x.a > low else low
            high = x.b if x.b > high else high
        return self.ctx.mpf([low, high])

    def abs(self, x: Any) -> Any:
        return abs(x)

    def power(self, base: Any, exponent: int) -> Any:
        return base ** int(exponent)
