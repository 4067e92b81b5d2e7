"""The running-error backend of :mod:`adamw_oracle.verify.tracked`, with whole arrays for numbers.

An :class:`ArrayNumber` holds, element-wise over an array of any shape (0-d for the per-step scalars):

* ``hi`` (+ ``lo`` in double-double mode): the *reference value*, the real-number algorithm evaluated
  in float64 (for float32/float16/bfloat16 targets) or in double-double (for float64 targets);
* ``r``: a rigorous bound on |reference value - exact value| (the reference's own evaluation error);
* ``e``: the running bound of :class:`~adamw_oracle.verify.tracked.Tracked`, on |x' - x| where x' is
  what an implementation rounding every operation to the format computes and x the exact value;
* ``flags``: ``ILL | OVERFLOW | NONFINITE`` as in tracked.py, for the per-step scalars (0-d).

Element-wise flags are *sticky*: the backend keeps one flag array for the elements (and the largest
reach per format) and raises an element's flag when any element-wise operation of it overflows, divides
by an ill-conditioned divisor or starts from a non-finite input; the flag then stays for the rest of
the run. tracked.py propagates each flag along the data flow instead; the two agree for the reference
steps, because every element-wise intermediate they compute feeds the state or the new parameter,
except v^ under MAX_RAW_V and the raw maximum under MAX_V_HAT with eps outside epsilon-hat, which
cannot overflow where the used v~ = vmax/bc2 >= v^ and vmax >= vmax*bc2 do not.

The implementation bound ``e`` is propagated with tracked.py's formulas (one rounding ``u*reach + eta``
per operation, the same divisor threshold and sqrt rule), with every |x| replaced by an upper bound
``|hi| + r`` (and every lower bound of |x| by ``|hi| - r``), so ``e`` is never smaller than tracked.py's
bound for the same case: it is rigorous, larger by a relative O(r/|x|). ``r`` itself propagates with the
same rules, plus the local evaluation error of each reference operation: ``u64*|z|`` (+ 2**-1074 for a
product or quotient that may underflow) in float64 mode, ``DD_RELATIVE*|z|`` in double-double mode
(elements where a double-double product, quotient or root could underflow or overflow fall back to
the float64 operation and its float64 bound). Every bound is inflated by 2**-50 per operation (tracked.py's ``inflate``) so
that its own float64 rounding cannot make it too small. The array namespace ``xp`` is numpy or CuPy.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.precision import FormatCost
from adamw_oracle.verify import double_double as dd
from adamw_oracle.verify.tracked import DIVISOR_THRESHOLD, ILL, NONFINITE, OVERFLOW, POWER_ULPS, Tracked

UP = 1.0 + 2.0**-50
"""tracked.py's inflation of a computed bound (covers the few roundings of one bound formula)."""
UP2 = 1.0 + 2.0**-49
DOWN2 = 1.0 - 2.0**-49
U64 = 2.0**-53
ETA64 = 2.0**-1074
TINY = 2.0**-969  # below this a float64 product or quotient may have lost bits to underflow


class ArrayNumber:
    """Reference value (``hi`` + ``lo``), its evaluation error ``r``, running bound ``e``, ``flags``."""

    __slots__ = ("hi", "lo", "r", "e", "flags", "fmt", "backend")

    def __init__(self, hi: Any, lo: Any, r: Any, e: Any, flags: Any, fmt: FormatCost, backend: ArrayBackend) -> None:
        self.hi, self.lo, self.r, self.e, self.flags, self.fmt, self.backend = hi, lo, r, e, flags, fmt, backend

    def __repr__(self) -> str:
        return f"ArrayNumber({self.hi!r} ± {self.e!r}, r={self.r!r}, flags={self.flags!r}, {self.fmt.name})"

    def _wrap(self, other: Any) -> ArrayNumber:
        if isinstance(other, ArrayNumber):
            return other
        o = self.backend.exact(other)
        o.fmt = self.fmt  # tracked.py: a plain number joins the format of the number it meets
        return o

    def _coarser(self, other: ArrayNumber) -> FormatCost:
        # a scalar (its value rounded to the scalar format) meeting a tensor element: the op rounds to the
        # arithmetic format (tracked.py's Tracked._coarser: a coarser scalar converts exactly)
        return self.fmt if self.fmt.name == other.fmt.name else self.backend.fmt

    def __add__(self, other: Any) -> ArrayNumber:
        o = self._wrap(other)
        return self.backend.add(self, o, self._coarser(o))

    __radd__ = __add__

    def __sub__(self, other: Any) -> ArrayNumber:
        o = self._wrap(other)
        return self.backend.add(self, o, self._coarser(o), subtract=True)

    def __rsub__(self, other: Any) -> ArrayNumber:
        return self._wrap(other).__sub__(self)

    def __mul__(self, other: Any) -> ArrayNumber:
        o = self._wrap(other)
        return self.backend.multiply(self, o, self._coarser(o))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> ArrayNumber:
        o = self._wrap(other)
        return self.backend.divide(self, o, self._coarser(o))

    def __rtruediv__(self, other: Any) -> ArrayNumber:
        o = self._wrap(other)
        return self.backend.divide(o, self, self._coarser(o))

    def __neg__(self) -> ArrayNumber:
        lo = None if self.lo is None else -self.lo
        return ArrayNumber(-self.hi, lo, self.r, self.e, self.flags, self.fmt, self.backend)


class ArrayBackend:
    """The reference step's backend protocol (``const``, ``sqrt``, ``maximum``, ``power``) on arrays.

    ``double_double`` selects the reference format: float64 (error ~2**-53 per operation, for targets
    of 24 bits or fewer) or double-double (~2**-100 per operation, for float64 targets). Call
    :meth:`start` with the element count before the first step and read :meth:`element_flags`.
    """

    rigorous = False

    def __init__(self, arithmetic: FormatCost, *, double_double: bool, xp: Any = None) -> None:
        if xp is None:

            xp = np
        self.xp = xp
        self.fmt = arithmetic
        self.double_double = double_double
        self.prec = 106 if double_double else 53
        self.rel = dd.DD_RELATIVE if double_double else U64
        self.start(0)

    def start(self, size: int) -> None:
        """Begin a run over ``size`` elements: no element flag raised yet."""
        self.size = size
        self.sticky = self.xp.zeros(size, dtype=self.xp.uint8)
        self.reach: dict[str, tuple[float, Any]] = {}

    def element_flags(self) -> Any:
        """The sticky flags of the elements (ILL | OVERFLOW | NONFINITE), shape ``(size,)``."""
        xp = self.xp
        flags = self.sticky
        for largest, reach in self.reach.values():
            flags = flags | (reach > largest).astype(xp.uint8) * OVERFLOW
        return flags

    def _element(self, x: Any) -> bool:
        return getattr(x, "ndim", 0) > 0

    def _note_reach(self, reach: Any, fmt: FormatCost, flags: Any) -> Any:
        """Record an operation's reach: into the sticky maximum for elements, into ``flags`` for scalars."""
        xp = self.xp
        if not self._element(reach):
            return flags | (reach > fmt.largest).astype(xp.uint8) * OVERFLOW
        entry = self.reach.get(fmt.name)
        if entry is None:
            self.reach[fmt.name] = (fmt.largest, xp.array(xp.broadcast_to(reach, (self.size,))))
        else:
            # fmax ignores NaN: a NaN reach (inf * 0 in a bound) must not hide another operation's overflow
            xp.fmax(entry[1], reach, out=entry[1])
        return flags

    def _raise(self, mask: Any, flag: int, flags: Any) -> Any:
        """Raise ``flag`` where ``mask`` holds: sticky for elements, in ``flags`` for scalars."""
        xp = self.xp
        if self._element(mask):
            self.sticky |= mask.astype(xp.uint8) * flag
            return flags
        return flags | mask.astype(xp.uint8) * flag

    # -- construction -------------------------------------------------------------------------
    def _make(self, hi: Any, lo: Any, r: Any, e: Any, flags: Any, fmt: FormatCost | None = None) -> ArrayNumber:
        return ArrayNumber(hi, lo, r, e, flags, fmt or self.fmt, self)

    def array(self, values: Any, lo: Any = None, r: Any = None) -> ArrayNumber:
        """Exact inputs: a float64 array whose finite values are the exact numbers (bound 0), or
        ``values + lo`` within ``r`` of them (an input that is no float64 value).

        Non-finite entries become tracked.py's NONFINITE numbers (value 0, bound inf)."""
        xp = self.xp
        values = xp.asarray(values, dtype=xp.float64)
        finite = xp.isfinite(values)
        zero = xp.zeros_like(values)
        flags = xp.zeros((), dtype=xp.uint8)
        lo = (zero if lo is None else lo) if self.double_double else None
        r = zero if r is None else r
        if bool(xp.all(finite)):
            return self._make(values, lo, r, zero, flags)
        flags = self._raise(~finite, NONFINITE, flags)
        hi = xp.where(finite, values, 0.0)
        e = xp.where(finite, 0.0, xp.inf)
        return self._make(hi, lo, r, e, flags)

    def exact(self, value: Any) -> ArrayNumber:
        """A number given exactly (Fraction, int, float or mpf), as a 0-d ArrayNumber with bound 0."""
        if isinstance(value, ArrayNumber):
            return value
        if isinstance(value, Tracked):
            return self.from_tracked(value)
        return self.scalar(Fraction(value), 0.0, 0, self.fmt)

    const = exact

    def scalar(self, value: Fraction, e: float, flags: int, fmt: FormatCost) -> ArrayNumber:
        """A 0-d number with exact value ``value`` (rounded to the reference format, with its ``r``)."""
        xp = self.xp
        hi = float(value)
        lo = float(value - Fraction(hi)) if self.double_double else 0.0
        residual = abs(value - Fraction(hi) - Fraction(lo))
        r = float(residual) * UP if residual else 0.0
        return self._make(xp.asarray(hi), xp.asarray(lo) if self.double_double else None, xp.asarray(r),
                          xp.asarray(e), xp.asarray(flags, dtype=xp.uint8), fmt)

    def from_tracked(self, t: Tracked) -> ArrayNumber:
        """A per-step scalar computed by tracked.py (exact mpf value at ``prec`` bits and bound ``e``)."""
        x = t.x
        hi = float(x)
        lo = float(x - hi) if self.double_double else 0.0
        residual = abs(float(x - hi - lo))
        # the mpf value itself is within 2**-(prec-1) relative of the real number it stands for
        r = (residual + abs(hi) * 2.0 ** (1 - t.backend.prec)) * UP
        xp = self.xp
        return self._make(xp.asarray(hi), xp.asarray(lo) if self.double_double else None, xp.asarray(r),
                          xp.asarray(t.e), xp.asarray(t.flags, dtype=xp.uint8), t.backend.fmt)

    # -- magnitudes ----------------------------------------------------------------------------
    def upper(self, a: ArrayNumber) -> Any:
        """An upper bound of |exact value| (|hi + lo| <= |hi| (1 + 2**-53))."""
        return (self.xp.abs(a.hi) + a.r) * UP2

    def lower(self, a: ArrayNumber) -> Any:
        """A lower bound of |exact value| (0 when the reference error may reach it)."""
        return self.xp.maximum((self.xp.abs(a.hi) - a.r) * DOWN2, 0.0)

    # -- one rounding of the implementation ------------------------------------------------------
    def rounded(self, hi: Any, lo: Any, r: Any, prop: Any, flags: Any, fmt: FormatCost, ulps: float = 1.0,
                magnitude: Any = None) -> ArrayNumber:
        """tracked.py's ``rounded``: bound ``prop + ulps*u*reach + eta`` with reach = |z| + prop.

        An exact zero (reach 0: value, reference error and propagated bound all 0) keeps bound 0;
        ``min(reach * 2**100, eta)`` is eta for every other reach (reach >= 2**-1074)."""
        xp = self.xp
        if magnitude is None:
            magnitude = xp.abs(hi)
        reach = (magnitude + r) * UP2 + prop
        flags = self._note_reach(reach, fmt, flags)
        e = prop * UP + (ulps * fmt.unit_roundoff * UP) * reach + xp.minimum(reach * 2.0**100, fmt.underflow * UP)
        return ArrayNumber(hi, lo, r, e, flags, fmt, self)

    # -- the operations ------------------------------------------------------------------------
    def add(self, a: ArrayNumber, b: ArrayNumber, fmt: FormatCost, *, subtract: bool = False) -> ArrayNumber:
        xp = self.xp
        if self.double_double:
            if subtract:
                hi, lo = dd.dd_add(a.hi, a.lo, -b.hi, -b.lo)
            else:
                hi, lo = dd.dd_add(a.hi, a.lo, b.hi, b.lo)
            magnitude = xp.abs(hi)
            r = (a.r + b.r + self.rel * magnitude) * UP
        else:
            hi, lo = (a.hi - b.hi) if subtract else (a.hi + b.hi), None
            magnitude = xp.abs(hi)
            # |fl(x + y) - (x + y)| <= u |fl(x + y)| (exact when the sum underflows)
            r = (a.r + b.r + U64 * magnitude) * UP
        return self.rounded(hi, lo, r, a.e + b.e, a.flags | b.flags, fmt, magnitude=magnitude)

    def _product(self, a: ArrayNumber, b: ArrayNumber) -> tuple[Any, Any, Any]:
        """Reference value of a*b and its local error (before propagation)."""
        xp = self.xp
        if self.double_double:
            hi, lo, fallback = dd.dd_mul(xp, a.hi, a.lo, b.hi, b.lo)
            local = self.rel * xp.abs(hi)
            if bool(xp.any(fallback)):
                # fl(a_hi*b_hi) for a*b: off by u|p| + eta + the dropped cross terms (0 for a zero operand)
                plain = a.hi * b.hi
                cross = xp.abs(a.hi * b.lo) + xp.abs(a.lo * b.hi) + xp.abs(a.lo * b.lo)
                eta = xp.where((a.hi == 0) | (b.hi == 0), 0.0, ETA64)
                hi = xp.where(fallback, plain, hi)
                lo = xp.where(fallback, 0.0, lo)
                local = xp.where(fallback, (U64 * xp.abs(plain) + cross) * UP2 + eta, local)
            return hi, lo, local
        hi = a.hi * b.hi
        # |fl(xy) - xy| <= u|fl(xy)| + 2**-1074, and 0 when x or y is 0: min(|x K| |y K|, eta) with
        # K = 2**600 is eta for any two non-zero floats (each |x K| >= 2**-474) and 0 otherwise
        with np.errstate(over="ignore"):  # the scaled product may overflow to inf: min() then gives eta
            eta = xp.minimum(xp.abs(a.hi * 2.0**600) * xp.abs(b.hi * 2.0**600), ETA64)
        return hi, None, U64 * xp.abs(hi) + eta

    def multiply(self, a: ArrayNumber, b: ArrayNumber, fmt: FormatCost) -> ArrayNumber:
        hi, lo, local = self._product(a, b)
        ua, ub = self.upper(a), self.upper(b)
        r = (ua * b.r + ub * a.r + a.r * b.r + local) * UP
        prop = ua * b.e + ub * a.e + a.e * b.e
        return self.rounded(hi, lo, r, prop, a.flags | b.flags, fmt)

    def divide(self, a: ArrayNumber, b: ArrayNumber, fmt: FormatCost | None = None) -> ArrayNumber:
        xp = self.xp
        fmt = fmt or self.fmt
        flags = a.flags | b.flags
        low_b = self.lower(b)
        zero = (b.hi == 0) & (b.r == 0)
        ill = (low_b <= 0) | (b.e >= low_b) | (b.e > DIVISOR_THRESHOLD * low_b)
        flags = self._raise(ill, ILL, flags)
        any_zero = bool(xp.any(zero))
        safe_hi = xp.where(zero, 1.0, b.hi) if any_zero else b.hi
        if self.double_double:
            safe_lo = xp.where(zero, 0.0, b.lo) if any_zero else b.lo
            hi, lo, fallback = dd.dd_div(xp, a.hi, a.lo, safe_hi, safe_lo)
            local = self.rel * xp.abs(hi)
            if bool(xp.any(fallback)):
                plain = a.hi / safe_hi
                hi = xp.where(fallback, plain, hi)
                lo = xp.where(fallback, 0.0, lo)
                # |a/b - fl(a_hi/b_hi)| <= u|q| + (|a_lo| + |q||b_lo|)/|b_hi| (1 + 2**-52) + eta
                spill = (xp.abs(a.lo) + xp.abs(plain) * xp.abs(safe_lo)) / xp.abs(safe_hi)
                eta = xp.where(a.hi == 0, 0.0, ETA64)
                local = xp.where(fallback, (U64 * xp.abs(plain) + spill) * UP2 + eta, local)
        else:
            hi, lo = a.hi / safe_hi, None
            # |fl(x/y) - x/y| <= u|fl(x/y)| + 2**-1074 (0 when x = 0)
            local = U64 * xp.abs(hi) + xp.minimum(xp.abs(a.hi * 2.0**600), ETA64)
        magnitude = xp.abs(hi)
        positive = low_b > 0
        safe_low = xp.where(positive, low_b, 1.0)
        # |x'/y' - x/y| <= (r_x + |x/y| r_y) / |y'| with |x/y| <= |hi| + local and |y'| >= low_b
        r = xp.where(positive, (a.r + (magnitude + local) * UP2 * b.r) / safe_low * UP2 + local * UP, xp.inf)
        # tracked.py: prop = (e_a + |z| e_b) / (|b| - e_b), with |z| <= |hi| + r and |b| >= low_b
        slack_e = low_b - b.e
        prop = xp.where(slack_e > 0, (a.e + (magnitude + r) * UP2 * b.e) / xp.where(slack_e > 0, slack_e, 1.0) * UP,
                        xp.inf)
        prop = xp.where((a.e == 0) & (b.e == 0), 0.0, prop)
        if any_zero:
            hi = xp.where(zero, 0.0, hi)
            lo = None if lo is None else xp.where(zero, 0.0, lo)
            r = xp.where(zero, 0.0, r)
        out = self.rounded(hi, lo, r, prop, flags, fmt)
        if any_zero:
            out.e = xp.where(zero, xp.inf, out.e)
        return out

    def sqrt(self, a: ArrayNumber) -> ArrayNumber:
        xp = self.xp
        x_hi = xp.maximum(a.hi, 0.0)
        if self.double_double:
            hi, lo, fallback = dd.dd_sqrt(xp, x_hi, xp.where(a.hi > 0, a.lo, 0.0))
            local = self.rel * hi
            if bool(xp.any(fallback)):
                plain = xp.sqrt(x_hi)
                hi = xp.where(fallback, plain, hi)
                lo = xp.where(fallback, 0.0, lo)
                local = xp.where(fallback, 2.0 * U64 * plain * UP2 + xp.abs(a.lo) / xp.where(plain > 0, plain, 1.0), local)
            root = xp.sqrt(x_hi)
        else:
            hi, lo = xp.sqrt(x_hi), None
            local = U64 * hi
            root = hi
        # |sqrt(x') - sqrt(x)| <= r / (sqrt(x) + sqrt(max(x - r, 0))), and <= sqrt(r)
        shrunk = xp.sqrt(xp.maximum(x_hi - a.r, 0.0))
        denom_r = (root + shrunk) * DOWN2
        by_derivative_r = xp.where(denom_r > 0, a.r / xp.where(denom_r > 0, denom_r, 1.0), xp.inf)
        r = (xp.minimum(by_derivative_r, xp.sqrt(a.r)) * UP2 + local) * UP
        # tracked.py: prop = min(e / (sqrt(x) + sqrt(max(x - e, 0))), sqrt(e)), here with x >= low_x
        low_x = xp.maximum(x_hi - a.r, 0.0) * DOWN2
        low = xp.maximum(low_x - a.e - 2.0**-50 * low_x, 0.0)
        denominator = shrunk * DOWN2 * DOWN2 + xp.sqrt(low)
        by_derivative = xp.where(denominator > 0, a.e / xp.where(denominator > 0, denominator, 1.0), xp.inf)
        prop = xp.where(a.e == 0, 0.0, xp.minimum(by_derivative, xp.sqrt(a.e)) * UP)
        return self.rounded(hi, lo, r, prop, a.flags, self.fmt)

    def maximum(self, a: ArrayNumber, b: ArrayNumber) -> ArrayNumber:
        xp = self.xp
        if self.double_double:
            take_a = (a.hi > b.hi) | ((a.hi == b.hi) & (a.lo >= b.lo))
            lo = xp.where(take_a, a.lo, b.lo)
        else:
            take_a, lo = a.hi >= b.hi, None
        # max is 1-Lipschitz in each argument: the larger of the two reference errors bounds its error
        hi, r, e = xp.where(take_a, a.hi, b.hi), xp.maximum(a.r, b.r), xp.maximum(a.e, b.e)
        if a.fmt.name != b.fmt.name:  # tracked.py: one rounding into the arithmetic format
            return self.rounded(hi, lo, r, e, a.flags | b.flags, a._coarser(b))
        return ArrayNumber(hi, lo, r, e, a.flags | b.flags, self.fmt, self)

    def power(self, base: ArrayNumber, exponent: int) -> ArrayNumber:
        """base**exponent (exponent >= 0): tracked.py's bound t (|b| + e_b)**(t-1) e_b + POWER_ULPS u."""
        xp = self.xp
        if exponent == 0:
            return self.exact(1)
        # the reference value by repeated squaring, its error propagated through each product
        result: ArrayNumber | None = None
        square = base
        n = exponent
        while n:
            if n & 1:
                result = square if result is None else self._exact_product(result, square)
            n >>= 1
            if n:
                square = self._exact_product(square, square)
        assert result is not None
        prop = xp.where(base.e == 0, 0.0, exponent * (self.upper(base) + base.e) ** (exponent - 1) * base.e * UP)
        return self.rounded(result.hi, result.lo, result.r, prop, base.flags, self.fmt, ulps=POWER_ULPS)

    def _exact_product(self, a: ArrayNumber, b: ArrayNumber) -> ArrayNumber:
        """a*b for the reference value only (no implementation rounding: the bound is added once)."""
        hi, lo, local = self._product(a, b)
        r = (self.upper(a) * b.r + self.upper(b) * a.r + a.r * b.r + local) * UP
        return ArrayNumber(hi, lo, r, a.e, a.flags, a.fmt, self)

    # -- storage -------------------------------------------------------------------------------
    def store(self, a: ArrayNumber, fmt: FormatCost) -> ArrayNumber:
        """Round a value into a storage format that differs from the arithmetic format."""
        if fmt.name == self.fmt.name:
            return a
        xp = self.xp
        reach = self.upper(a) + a.e
        flags = self._note_reach(reach, fmt, a.flags)
        # as in rounded: an exact zero (reach 0) stays exact
        e = a.e * UP + (fmt.unit_roundoff * UP) * reach + xp.minimum(reach * 2.0**100, fmt.underflow * UP)
        return ArrayNumber(a.hi, a.lo, a.r, e, flags, self.fmt, self)
