"""The operations of :class:`~adamw_oracle.verify.array_backend.ArrayBackend` on one element, for numba.

Each function is the element-wise formula of the array backend's operation of the same name, written
on float64 scalars in the same order of evaluation, so a compiled kernel computes bit for bit what the
numpy path computes (IEEE float64, round to nearest, no fused multiply-add: numba compiles without
``fastmath``, so LLVM neither contracts ``a*b + c`` nor reorders sums). ``np.minimum``/``np.maximum``
propagate NaN; :func:`fmin`/:func:`fmax` do the same.

The functions carry no branch, so that the loops calling them vectorize: each ``xp.where`` of the array
backend is a select between values computed on every element (a quotient whose divisor ``xp.where``
replaces by 1 is computed on 1 and then discarded the same way), conditions are ``&``/``|`` of
comparisons, and a double-double fallback computes both results and selects. They are inlined into the
loops (``inline="always"``: LLVM would keep the larger ones as calls, and a loop with a call stays scalar).

Numbers are passed as their components: ``h`` (reference value), ``l`` (its low word in double-double
mode), ``r`` (reference error bound), ``e`` (running bound). Every operation returns its result's
components and the flag bits it raises for the element (OVERFLOW when the reach exceeds the rounding
format's largest value, ILL for an ill-conditioned divisor). The per-format constants are arguments:
``ue = ulps * u * UP``, ``eta = underflow * UP`` and ``largest``; the generated kernels pass literals.

Functions ending in ``64`` are the float64-reference mode, ``dd`` the double-double mode (the
error-free transformations of :mod:`adamw_oracle.verify.double_double`, element by element).
See docs/error-model.md, section 9.
"""
from __future__ import annotations

import math

from numba import njit

UP = 1.0 + 2.0**-50
UP2 = 1.0 + 2.0**-49
DOWN2 = 1.0 - 2.0**-49
U64 = 2.0**-53
ETA64 = 2.0**-1074
DD_RELATIVE = 2.0**-100
DD_TINY = 2.0**-968
SPLIT_LIMIT = 2.0**995
SPLITTER = 134217729.0
TAU = 2.0**-4
ILL = 1
OVERFLOW = 2
NONFINITE = 4
INF = math.inf

_jit = njit(error_model="numpy", nogil=True, inline="always")


@_jit
def fmin(a: float, b: float) -> float:
    """``np.minimum``: NaN when either is NaN (selects, no branch: a vector min and a blend)."""
    nan = (a != a) | (b != b)
    smaller = a if a < b else b
    return a + b if nan else smaller


@_jit
def fmax(a: float, b: float) -> float:
    """``np.maximum``: NaN when either is NaN (selects, no branch)."""
    nan = (a != a) | (b != b)
    larger = a if a > b else b
    return a + b if nan else larger


@_jit
def finite(x: float) -> bool:
    """``math.isfinite`` as one comparison (NaN compares false)."""
    return abs(x) < INF


@_jit
def upper(h: float, r: float) -> float:
    return (abs(h) + r) * UP2


@_jit
def lower(h: float, r: float) -> float:
    return fmax((abs(h) - r) * DOWN2, 0.0)


@_jit
def rounded(magnitude: float, r: float, prop: float, ue: float, eta: float, largest: float) -> tuple[float, int]:
    """ArrayBackend.rounded: (bound, flag) with reach = (|z| + r)(1 + 2**-49) + prop."""
    reach = (magnitude + r) * UP2 + prop
    e = prop * UP + ue * reach + fmin(reach * 2.0**100, eta)
    return e, (OVERFLOW if reach > largest else 0)


@_jit
def store(h: float, r: float, e: float, ue: float, eta: float, largest: float) -> tuple[float, int]:
    """ArrayBackend.store into a narrower format: (bound, flag)."""
    reach = upper(h, r) + e
    out = e * UP + ue * reach + fmin(reach * 2.0**100, eta)
    return out, (OVERFLOW if reach > largest else 0)


@_jit
def divisor(bh: float, br: float, be: float) -> tuple[float, bool, int]:
    """(lower bound of |b|, b is exactly 0, ILL flag) as in ArrayBackend.divide."""
    low_b = lower(bh, br)
    zero = (bh == 0) & (br == 0)
    ill = (low_b <= 0) | (be >= low_b) | (be > TAU * low_b)
    return low_b, zero, (ILL if ill else 0)


@_jit
def divide_bounds(ar: float, ae: float, br: float, be: float, magnitude: float, local: float,
                  low_b: float) -> tuple[float, float]:
    """(r, prop) of a quotient, ArrayBackend.divide."""
    positive = low_b > 0
    r_pos = (ar + (magnitude + local) * UP2 * br) / (low_b if positive else 1.0) * UP2 + local * UP
    r = r_pos if positive else INF
    slack_e = low_b - be
    room = slack_e > 0
    prop_room = (ae + (magnitude + r) * UP2 * be) / (slack_e if room else 1.0) * UP
    prop = prop_room if room else INF
    prop = 0.0 if (ae == 0) & (be == 0) else prop
    return r, prop


@_jit
def sqrt_bounds(x_hi: float, ar: float, ae: float, root: float, local: float) -> tuple[float, float]:
    """(r, prop) of a square root, ArrayBackend.sqrt."""
    shrunk = math.sqrt(fmax(x_hi - ar, 0.0))
    denom_r = (root + shrunk) * DOWN2
    by_derivative_r = ar / (denom_r if denom_r > 0 else 1.0)
    by_derivative_r = by_derivative_r if denom_r > 0 else INF
    r = (fmin(by_derivative_r, math.sqrt(ar)) * UP2 + local) * UP
    low_x = fmax(x_hi - ar, 0.0) * DOWN2
    low = fmax(low_x - ae - 2.0**-50 * low_x, 0.0)
    denominator = shrunk * DOWN2 * DOWN2 + math.sqrt(low)
    by_derivative = ae / (denominator if denominator > 0 else 1.0)
    by_derivative = by_derivative if denominator > 0 else INF
    prop = fmin(by_derivative, math.sqrt(ae)) * UP
    prop = 0.0 if ae == 0 else prop
    return r, prop


# -- float64 reference ---------------------------------------------------------------------------
@_jit
def add64(ah: float, ar: float, ae: float, bh: float, br: float, be: float, ue: float, eta: float,
          largest: float) -> tuple[float, float, float, int]:
    h = ah + bh
    magnitude = abs(h)
    r = (ar + br + U64 * magnitude) * UP
    e, f = rounded(magnitude, r, ae + be, ue, eta, largest)
    return h, r, e, f


@_jit
def mul64(ah: float, ar: float, ae: float, bh: float, br: float, be: float, ue: float, eta: float,
          largest: float) -> tuple[float, float, float, int]:
    h = ah * bh
    local = U64 * abs(h) + fmin(abs(ah * 2.0**600) * abs(bh * 2.0**600), ETA64)
    ua, ub = upper(ah, ar), upper(bh, br)
    r = (ua * br + ub * ar + ar * br + local) * UP
    prop = ua * be + ub * ae + ae * be
    e, f = rounded(abs(h), r, prop, ue, eta, largest)
    return h, r, e, f


@_jit
def div64(ah: float, ar: float, ae: float, bh: float, br: float, be: float, ue: float, eta: float,
          largest: float) -> tuple[float, float, float, int]:
    low_b, zero, f_ill = divisor(bh, br, be)
    h = ah / (1.0 if zero else bh)
    local = U64 * abs(h) + fmin(abs(ah * 2.0**600), ETA64)
    r, prop = divide_bounds(ar, ae, br, be, abs(h), local, low_b)
    h = 0.0 if zero else h
    r = 0.0 if zero else r
    e, f = rounded(abs(h), r, prop, ue, eta, largest)
    e = INF if zero else e
    return h, r, e, f | f_ill


@_jit
def sqrt64(ah: float, ar: float, ae: float, ue: float, eta: float, largest: float) -> tuple[float, float, float, int]:
    x_hi = fmax(ah, 0.0)
    h = math.sqrt(x_hi)
    r, prop = sqrt_bounds(x_hi, ar, ae, h, U64 * h)
    e, f = rounded(abs(h), r, prop, ue, eta, largest)
    return h, r, e, f


@_jit
def max64(ah: float, ar: float, ae: float, bh: float, br: float, be: float, rounding: bool, ue: float, eta: float,
          largest: float) -> tuple[float, float, float, int]:
    """ArrayBackend.maximum; ``rounding`` (operands of two formats): one rounding into the coarser one."""
    h, r, e = (ah if ah >= bh else bh), fmax(ar, br), fmax(ae, be)
    e_rounded, f = rounded(abs(h), r, e, ue, eta, largest)
    return h, r, (e_rounded if rounding else e), (f if rounding else 0)


# -- double-double reference -----------------------------------------------------------------------
@_jit
def two_sum(a: float, b: float) -> tuple[float, float]:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@_jit
def fast_two_sum(a: float, b: float) -> tuple[float, float]:
    s = a + b
    return s, b - (s - a)


@_jit
def split(a: float) -> tuple[float, float]:
    c = SPLITTER * a
    high = c - (c - a)
    return high, a - high


@_jit
def dd_add(ah: float, al: float, bh: float, bl: float) -> tuple[float, float]:
    s, e = two_sum(ah, bh)
    t, f = two_sum(al, bl)
    e = e + t
    s, e = fast_two_sum(s, e)
    e = e + f
    return fast_two_sum(s, e)


@_jit
def dd_mul(ah: float, al: float, bh: float, bl: float) -> tuple[float, float, bool]:
    p = ah * bh
    xh, xl = split(ah)
    yh, yl = split(bh)
    err = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl
    err = err + (ah * bl + al * bh)
    hi, lo = fast_two_sum(p, err)
    fallback = (abs(ah) >= SPLIT_LIMIT) | (abs(bh) >= SPLIT_LIMIT) | (abs(p) < DD_TINY) | (not finite(lo))
    return hi, lo, fallback


@_jit
def dd_div(ah: float, al: float, bh: float, bl: float) -> tuple[float, float, bool]:
    q1 = ah / bh
    ph, pl, f1 = dd_mul(q1, 0.0, bh, bl)
    rh, rl = dd_add(ah, al, -ph, -pl)
    q2 = rh / bh
    ph, pl, f2 = dd_mul(q2, 0.0, bh, bl)
    rh, rl = dd_add(rh, rl, -ph, -pl)
    q3 = rh / bh
    hi, lo = fast_two_sum(q1, q2)
    hi, lo = dd_add(hi, lo, q3, 0.0)
    fallback = f1 | f2 | (abs(ah) < DD_TINY) | (abs(q1) < DD_TINY) | (not finite(lo))
    return hi, lo, fallback


@_jit
def dd_sqrt(ah: float, al: float) -> tuple[float, float, bool]:
    positive = ah > 0
    safe = ah if positive else 1.0
    s = math.sqrt(safe)
    ph, pl, f1 = dd_mul(s, 0.0, s, 0.0)
    rh, _rl = dd_add(safe, al if positive else 0.0, -ph, -pl)
    correction = rh / (2.0 * s)
    hi, lo = fast_two_sum(s, correction)
    fallback = positive & (f1 | (ah < DD_TINY) | (not finite(lo)))
    hi = hi if positive else 0.0
    lo = lo if positive else 0.0
    return hi, lo, fallback


@_jit
def adddd(ah: float, al: float, ar: float, ae: float, bh: float, bl: float, br: float, be: float, ue: float,
          eta: float, largest: float) -> tuple[float, float, float, float, int]:
    h, lo = dd_add(ah, al, bh, bl)
    magnitude = abs(h)
    r = (ar + br + DD_RELATIVE * magnitude) * UP
    e, f = rounded(magnitude, r, ae + be, ue, eta, largest)
    return h, lo, r, e, f


@_jit
def product_dd(ah: float, al: float, bh: float, bl: float) -> tuple[float, float, float]:
    """ArrayBackend._product in double-double mode: (hi, lo, local error)."""
    h, lo, fallback = dd_mul(ah, al, bh, bl)
    local = DD_RELATIVE * abs(h)
    plain = ah * bh
    cross = abs(ah * bl) + abs(al * bh) + abs(al * bl)
    eta = 0.0 if (ah == 0) | (bh == 0) else ETA64
    local_plain = (U64 * abs(plain) + cross) * UP2 + eta
    h = plain if fallback else h
    lo = 0.0 if fallback else lo
    local = local_plain if fallback else local
    return h, lo, local


@_jit
def muldd(ah: float, al: float, ar: float, ae: float, bh: float, bl: float, br: float, be: float, ue: float,
          eta: float, largest: float) -> tuple[float, float, float, float, int]:
    h, lo, local = product_dd(ah, al, bh, bl)
    ua, ub = upper(ah, ar), upper(bh, br)
    r = (ua * br + ub * ar + ar * br + local) * UP
    prop = ua * be + ub * ae + ae * be
    e, f = rounded(abs(h), r, prop, ue, eta, largest)
    return h, lo, r, e, f


@_jit
def divdd(ah: float, al: float, ar: float, ae: float, bh: float, bl: float, br: float, be: float, ue: float,
          eta: float, largest: float) -> tuple[float, float, float, float, int]:
    low_b, zero, f_ill = divisor(bh, br, be)
    safe_hi = 1.0 if zero else bh
    safe_lo = 0.0 if zero else bl
    h, lo, fallback = dd_div(ah, al, safe_hi, safe_lo)
    local = DD_RELATIVE * abs(h)
    plain = ah / safe_hi
    spill = (abs(al) + abs(plain) * abs(safe_lo)) / abs(safe_hi)
    eta_local = 0.0 if ah == 0 else ETA64
    local_plain = (U64 * abs(plain) + spill) * UP2 + eta_local
    h = plain if fallback else h
    lo = 0.0 if fallback else lo
    local = local_plain if fallback else local
    r, prop = divide_bounds(ar, ae, br, be, abs(h), local, low_b)
    h = 0.0 if zero else h
    lo = 0.0 if zero else lo
    r = 0.0 if zero else r
    e, f = rounded(abs(h), r, prop, ue, eta, largest)
    e = INF if zero else e
    return h, lo, r, e, f | f_ill


@_jit
def sqrtdd(ah: float, al: float, ar: float, ae: float, ue: float, eta: float,
           largest: float) -> tuple[float, float, float, float, int]:
    x_hi = fmax(ah, 0.0)
    h, lo, fallback = dd_sqrt(x_hi, al if ah > 0 else 0.0)
    local = DD_RELATIVE * h
    plain = math.sqrt(x_hi)
    local_plain = 2.0 * U64 * plain * UP2 + abs(al) / (plain if plain > 0 else 1.0)
    h = plain if fallback else h
    lo = 0.0 if fallback else lo
    local = local_plain if fallback else local
    r, prop = sqrt_bounds(x_hi, ar, ae, plain, local)
    e, f = rounded(abs(h), r, prop, ue, eta, largest)
    return h, lo, r, e, f


@_jit
def maxdd(ah: float, al: float, ar: float, ae: float, bh: float, bl: float, br: float, be: float, rounding: bool,
          ue: float, eta: float, largest: float) -> tuple[float, float, float, float, int]:
    take_a = (ah > bh) | ((ah == bh) & (al >= bl))
    h, r, e = (ah if take_a else bh), fmax(ar, br), fmax(ae, be)
    e_rounded, f = rounded(abs(h), r, e, ue, eta, largest)
    return h, (al if take_a else bl), r, (e_rounded if rounding else e), (f if rounding else 0)


@_jit
def distance(observed: float, h: float, lo: float) -> float:
    """|observed - (h + lo)| as judge_vectorized computes it (the high word of a double-double sum)."""
    dh, _dl = dd_add(observed, 0.0, -h, -lo)
    return abs(dh)
