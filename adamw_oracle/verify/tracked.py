"""Running error analysis as a reference-layer backend: numbers that carry an error bound.

A :class:`Tracked` number is a pair (x, e): ``x`` is the exact result of the real-number algorithm
(computed by mpmath at ``prec`` bits, 2**-prec relative, negligible next to any dtype), and ``e`` is
an upper bound on |x' - x| where x' is what an implementation rounding every operation to the
arithmetic format computes. Each operation propagates the operands' bounds (e_a, e_b) and then adds
its own rounding ``u*(|z| + e_prop) + eta`` (the rounding happens at the computed value, whose
magnitude is at most |z| + e_prop):

=============  ===========================================================================
operation      propagated bound e_prop (rigorous, not first-order)
=============  ===========================================================================
a +- b         e_a + e_b
a * b          |a| e_b + |b| e_a + e_a e_b
a / b          (e_a + |a/b| e_b) / (|b| - e_b)      (ill-conditioned if e_b > tau*|b|)
sqrt(a)        min(e_a / (sqrt(a) + sqrt(max(a - e_a, 0))), sqrt(e_a))
max(a, b)      max(e_a, e_b)                          (exact: no rounding added, unless a and b are held
                                                      in different formats: one rounding to the arithmetic)
b ** t         t (|b| + e_b)**(t-1) e_b               (rounding: POWER_ULPS * u)
-a             e_a                                    (exact)
=============  ===========================================================================

Flags propagate to every result: ``ILL`` (a divisor's relative error bound exceeded ``tau``),
``OVERFLOW`` (|z| + e exceeds the largest finite value of the format), ``NONFINITE`` (an input was
inf/nan). Bounds are float64 numbers inflated by 2**-50 per operation so their own rounding never
makes them too small.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from mpmath.ctx_mp import MPContext

from adamw_oracle.contract.precision import FormatCost, inflate

ILL = 1
OVERFLOW = 2
NONFINITE = 4

DIVISOR_THRESHOLD = 2.0**-4
"""tau: a division whose divisor may be off by more than 1/16 of itself is too ill-conditioned to judge."""

POWER_ULPS = 2.0
"""beta**t is assumed accurate to 2 units of roundoff (libm/XLA pow are < 1 ulp; repeated
multiplication is not used by any framework we model)."""

BOUND_OVERFLOW = "bound overflow"
"""Set-aside reason of an element-step whose slackened bound is inf, NaN or above the largest finite
value of its format with no flag raised. A running bound that grows by a factor > 1 a step (1 + c under a
decay factor c near 1: about 1,100 steps at c = 0.95 in float64) is flagged OVERFLOW once an operation's
reach passes the format's largest value; in the step before, bound <= largest < slack * bound, so the
slackened bound is inf in float64 (beyond the range of a narrower format) and would pass any observation."""


BOUND_VACUOUS = "bound vacuous"
"""Set-aside reason of an element-step whose slackened bound is finite and within the format's range but
wider than the step's own values by more than the format's precision:
``u * allowed > max(|before| + |after|, smallest normal)``, with ``u`` the parameter format's unit
roundoff, ``before`` the exact parameter entering the step and ``after`` the exact result
(:func:`bound_vacuous`; 1e283 on an exact 0.25 after a long run whose bound grew by 1.95 a step).

Rounding the step's operands cannot explain such a bound: a one-step bound is a few ``u`` times the
magnitudes the step handles (which may exceed the parameter: torch's lerp form of m + (1 - b1)(g - m)
charges u*|m| to a tiny new m, so a step from 0 to 1e-10 may carry 3e-9, about 25 times the values, and
is judged), and it is over 1/u times the values only after the bound has compounded over a run, where
the interval holds 0, the value before the step and the result's negation many times over. An
observation inside it is set aside, never counted within; one outside it is still outside (the bound is
sound, only loose), so a correct implementation's verdicts only move from within to set aside. The
floor (the smallest normal) keeps a bound at the format's absolute resolution judged where before and
after are 0 or subnormal."""


def vacuity_constants(fmt: Any) -> tuple[float, float]:
    """``(u, smallest normal)`` of a :class:`~adamw_oracle.contract.dtypes.FloatFormat`: the constants of
    :func:`bound_vacuous` for parameters held in it."""
    return 2.0 ** -int(fmt.precision), float(fmt.smallest_normal)


def bound_vacuous(allowed: Any, before: Any, after: Any, constants: tuple[float, float]) -> Any:
    """Whether a slackened bound ``allowed`` on a step from exact ``before`` to exact ``after`` proves
    nothing (:data:`BOUND_VACUOUS`); element-wise for arrays. False for NaN operands. ``constants``:
    :func:`vacuity_constants` of the parameter format."""
    unit, floor = constants
    return allowed * unit > np.maximum(abs(before) + abs(after), floor)


def bound_proves(allowed: float, largest: float) -> bool:
    """Whether a slackened bound ``allowed`` can judge an element held in a format whose largest finite
    value is ``largest``: a finite number at most ``largest`` (False for inf and NaN). A larger bound
    spans more than the format's range, as an overflowing reach does (tracked.py's OVERFLOW)."""
    return allowed <= largest


class Tracked:
    """A number of the running-error backend: exact value ``x`` (mpf), bound ``e`` (float), ``flags``."""

    __slots__ = ("x", "e", "flags", "backend")

    def __init__(self, x: Any, e: float, flags: int, backend: RunningErrorBackend) -> None:
        self.x = x
        self.e = e
        self.flags = flags
        self.backend = backend

    def __repr__(self) -> str:
        return f"Tracked({float(self.x)!r} ± {self.e:.3g}, flags={self.flags})"

    def _wrap(self, other: Any) -> Tracked:
        if isinstance(other, Tracked):
            return other
        return self.backend.exact(other)

    def _coarser(self, other: Tracked) -> RunningErrorBackend:
        # a scalar (its value rounded to the scalar format) meeting a tensor element: the op rounds to the
        # arithmetic format. A finer scalar (float32 lr, float16 tensors) is rounded with the result; a
        # coarser one (Keras' float32 lr for float64 weights, cast to float64) converts exactly, so the op
        # rounds in the arithmetic, not in the scalar format (its underflow and range would make the bound
        # vacuous below 1e-38 and flag every value above 3.4e38 "possible overflow")
        a, b = self.backend, other.backend
        if a.fmt.name == b.fmt.name:
            return a
        return b if a.scalar else a

    def __add__(self, other: Any) -> Tracked:
        o = self._wrap(other)
        return self._coarser(o).rounded(self.x + o.x, self.e + o.e, self.flags | o.flags)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tracked:
        o = self._wrap(other)
        return self._coarser(o).rounded(self.x - o.x, self.e + o.e, self.flags | o.flags)

    def __rsub__(self, other: Any) -> Tracked:
        return self._wrap(other).__sub__(self)

    def __mul__(self, other: Any) -> Tracked:
        o = self._wrap(other)
        prop = abs_float(self.x) * o.e + abs_float(o.x) * self.e + self.e * o.e
        return self._coarser(o).rounded(self.x * o.x, prop, self.flags | o.flags)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tracked:
        o = self._wrap(other)
        return self._coarser(o).divide(self, o)

    def __rtruediv__(self, other: Any) -> Tracked:
        o = self._wrap(other)
        return self._coarser(o).divide(o, self)

    def __neg__(self) -> Tracked:
        return Tracked(-self.x, self.e, self.flags, self.backend)


def abs_float(x: Any) -> float:
    """|x| as a float64 rounded upwards (inf when it does not fit)."""
    try:
        return inflate(abs(float(x)))
    except OverflowError:  # pragma: no cover - mpf beyond float64 range
        return math.inf


_CONTEXTS: dict[int, MPContext] = {}


def _context(prec: int) -> MPContext:
    """A private mpmath context at ``prec`` bits, shared by the backends of this module (its precision
    is set once here and never changed, so sharing it cannot leak a precision change)."""
    if prec not in _CONTEXTS:
        ctx = MPContext()
        ctx.prec = prec
        _CONTEXTS[prec] = ctx
    return _CONTEXTS[prec]


class RunningErrorBackend:
    """The reference step's backend protocol (``const``, ``sqrt``, ``maximum``, ``power``) on :class:`Tracked`.

    ``const`` makes an *exact* input (an initial parameter, gradient or state value that is already a
    value of the format): its bound is 0. Hyperparameters enter through :meth:`inexact` with the bound
    of their rounding to float64 and to the arithmetic format.
    """

    rigorous = False

    def __init__(self, arithmetic: FormatCost, prec: int = 200, ctx: MPContext | None = None) -> None:
        self.prec = prec
        self.ctx = ctx if ctx is not None else _context(prec)
        self.fmt = arithmetic
        self.scalar = False  # True for the scalars' backend (sibling)
        self.arithmetic_unit = arithmetic.unit_roundoff  # a sibling's: the tensors' arithmetic format's

    def sibling(self, fmt: FormatCost) -> RunningErrorBackend:
        """A backend rounding to ``fmt`` that shares this one's mpmath context (for scalars: an operation
        between one of its numbers and a tensor element rounds to the element's arithmetic format)."""
        out = RunningErrorBackend(fmt, self.prec, self.ctx)
        out.scalar = True
        out.arithmetic_unit = self.fmt.unit_roundoff
        return out

    # -- construction -------------------------------------------------------------------------
    def exact(self, value: Fraction | float | int | Any) -> Tracked:
        if isinstance(value, Tracked):
            return value
        if isinstance(value, float) and not math.isfinite(value):
            return Tracked(self.ctx.mpf(0), math.inf, NONFINITE, self)
        if isinstance(value, Fraction):
            x = self.ctx.mpf(value.numerator) / value.denominator if value.denominator != 1 else self.ctx.mpf(value.numerator)
        else:
            x = self.ctx.mpf(value)
        return Tracked(x, 0.0, 0, self)

    const = exact

    def inexact(self, value: Fraction, error: float) -> Tracked:
        t = self.exact(value)
        t.e = error
        if not math.isfinite(error):
            t.flags |= OVERFLOW
        return t

    # -- one rounding ----------------------------------------------------------------------------
    def rounded(self, z: Any, propagated: float, flags: int, ulps: float = 1.0) -> Tracked:
        """The result z of one operation with propagated bound ``propagated``, plus its own rounding."""
        if propagated == 0.0 and not z:
            return Tracked(z, 0.0, flags, self)
        reach = abs_float(z) + propagated
        if reach > self.fmt.largest:
            flags |= OVERFLOW
        e = inflate(propagated + ulps * self.fmt.unit_roundoff * reach + self.fmt.underflow)
        return Tracked(z, e, flags, self)

    def store(self, a: Tracked, fmt: FormatCost) -> Tracked:
        """Round a value into a storage format that differs from the arithmetic format."""
        if fmt.name == self.fmt.name:
            return a
        flags = a.flags
        reach = abs_float(a.x) + a.e
        if reach > fmt.largest:
            flags |= OVERFLOW
        if a.e == 0.0 and not a.x:
            return a
        return Tracked(a.x, inflate(a.e + fmt.unit_roundoff * reach + fmt.underflow), flags, self)

    # -- the backend protocol ------------------------------------------------------------------
    def divide(self, a: Tracked, b: Tracked) -> Tracked:
        flags = a.flags | b.flags
        mag_b = abs(float(b.x)) * (1.0 - 2.0**-50)  # a lower bound of |b|
        if not b.x or b.e >= mag_b or b.e > DIVISOR_THRESHOLD * mag_b:
            flags |= ILL
        if not b.x:
            return Tracked(self.ctx.mpf(0), math.inf, flags, self)
        z = a.x / b.x
        if a.e == 0.0 and b.e == 0.0:
            return self.rounded(z, 0.0, flags)
        slack_b = mag_b - b.e
        prop = math.inf if slack_b <= 0 else inflate((a.e + abs_float(z) * b.e) / slack_b)
        return self.rounded(z, prop, flags)

    def sqrt(self, a: Tracked) -> Tracked:
        x = a.x if a.x > 0 else self.ctx.mpf(0)
        root = self.ctx.sqrt(x)
        if a.e == 0.0:
            return self.rounded(root, 0.0, a.flags)
        as_float = float(x)
        # a float lower bound of x - e_a: the margin 2**-50 * x exceeds both roundings (of x and of the
        # difference), so sqrt(low) can never overestimate sqrt(x - e_a) even under cancellation
        low = max(as_float - a.e - 2.0**-50 * as_float, 0.0)
        denominator = float(root) + math.sqrt(low)
        by_derivative = a.e / denominator if denominator > 0 else math.inf
        prop = inflate(min(by_derivative, math.sqrt(a.e)))
        return self.rounded(root, prop, a.flags)

    def maximum(self, a: Tracked, b: Tracked) -> Tracked:
        x = a.x if a.x >= b.x else b.x
        if a.backend.fmt.name != b.backend.fmt.name:
            # a tensor element against a scalar of another format (eps as a floor): the result is held in
            # the arithmetic format, so the value that wins may be rounded once into it
            return a._coarser(b).rounded(x, max(a.e, b.e), a.flags | b.flags)
        return Tracked(x, max(a.e, b.e), a.flags | b.flags, self)

    def power(self, base: Tracked, exponent: int) -> Tracked:
        z = base.x**exponent
        if exponent == 0:
            return self.exact(1)
        prop = 0.0
        if base.e:
            try:
                prop = inflate(exponent * (abs_float(base.x) + base.e) ** (exponent - 1) * base.e)
            except OverflowError:  # (x + e)^(t-1) past float range at a seeded t such as 2**31: no finite bound
                prop = math.inf
        return self.rounded(z, prop, base.flags, ulps=POWER_ULPS)
