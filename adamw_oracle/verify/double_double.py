"""Double-double arithmetic on whole arrays: a value is ``hi + lo`` with ``|lo| <= ulp(hi)/2``.

Every function takes and returns arrays of an array namespace ``xp`` (numpy, or CuPy on a GPU) and
uses only float64 additions, multiplications, divisions and square roots, each correctly rounded to
nearest. The building blocks are error-free transformations (exact when nothing over- or underflows):

* ``two_sum(a, b)``: s + err = a + b exactly (Knuth, 6 operations, no ordering condition);
* ``fast_two_sum(a, b)``: the same when |a| >= |b| or a = 0 (Dekker, 3 operations);
* ``split(a)``: a = high + low with 26-bit halves (Dekker/Veltkamp, constant 2**27 + 1; exact for
  |a| < 2**996, beyond which ``a * (2**27 + 1)`` overflows);
* ``two_prod(a, b)``: p + err = a * b exactly from the splits (Dekker, no FMA needed).

The double-double operations built on them have relative errors below a small multiple of
u**2 = 2**-106 when no intermediate underflows (Joldes, Muller and Popescu, "Tight and rigorous error
bounds for basic building blocks of double-word arithmetic", ACM TOMS 44(2), 2017: 3u**2 for the
accurate sum, 7u**2 for the product without FMA, 15u**2 + 56u**3 for the division, 25/8 u**2 for the
square root). The running-error backend charges :data:`DD_RELATIVE` = 2**-100 (64 u**2, with room for
the variants written here) per operation. Additions never need more: an addition whose result is
subnormal is exact. Products, quotients and square roots whose low words could underflow (a result,
dividend or radicand below :data:`DD_TINY`) or whose split could overflow are returned in a
*fallback* mask; the caller replaces those elements by the plain float64 operation and charges it a
float64 bound. See docs/error-model.md, section "The vectorized judge".
"""
from __future__ import annotations

from typing import Any

DD_RELATIVE = 2.0**-100
"""Relative error charged to one double-double operation (>= 16x the published bounds)."""

DD_TINY = 2.0**-968
"""Below this magnitude the low word of a product (about 2**-53 of it) could be subnormal."""

SPLIT_LIMIT = 2.0**995
"""Above this magnitude Dekker's split overflows; products there fall back to a plain float64 bound."""

_SPLITTER = 134217729.0  # 2**27 + 1


def two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """(s, err) with s = fl(a + b) and s + err = a + b exactly (barring overflow)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return s, err


def fast_two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """(s, err) with s + err = a + b exactly, valid when |a| >= |b| (or a = 0)."""
    s = a + b
    err = b - (s - a)
    return s, err


def split(a: Any) -> tuple[Any, Any]:
    """(high, low), a = high + low, each half fitting in 26 bits (|a| < 2**996)."""
    c = _SPLITTER * a
    high = c - (c - a)
    return high, a - high


def two_prod(a: Any, b: Any) -> tuple[Any, Any]:
    """(p, err) with p = fl(a * b) and p + err = a * b exactly (no over/underflow, |a|, |b| < 2**996)."""
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, err


def dd_add(ah: Any, al: Any, bh: Any, bl: Any) -> tuple[Any, Any]:
    """(a_hi + a_lo) + (b_hi + b_lo), the accurate double-word sum (relative error <= 3u**2)."""
    s, e = two_sum(ah, bh)
    t, f = two_sum(al, bl)
    e = e + t
    s, e = fast_two_sum(s, e)
    e = e + f
    return fast_two_sum(s, e)


def dd_mul(xp: Any, ah: Any, al: Any, bh: Any, bl: Any) -> tuple[Any, Any, Any]:
    """(a_hi + a_lo) * (b_hi + b_lo) and a mask of the elements that must use the float64 fallback.

    The mask marks elements where a split could overflow (|a_hi| or |b_hi| >= :data:`SPLIT_LIMIT`) or
    the error-free product broke down (non-finite low word): the caller charges those a float64 bound.
    """
    p, e = two_prod(ah, bh)
    e = e + (ah * bl + al * bh)
    hi, lo = fast_two_sum(p, e)
    fallback = (xp.abs(ah) >= SPLIT_LIMIT) | (xp.abs(bh) >= SPLIT_LIMIT) | (xp.abs(p) < DD_TINY) | ~xp.isfinite(lo)
    return hi, lo, fallback


def dd_div(xp: Any, ah: Any, al: Any, bh: Any, bl: Any) -> tuple[Any, Any, Any]:
    """(a_hi + a_lo) / (b_hi + b_lo) by long division with two correction terms; with a fallback mask.

    q1 = a_hi / b_hi; r = a - q1*b (double-double); q2 = r_hi / b_hi; r -= q2*b; q3 = r_hi / b_hi;
    the result is q1 + q2 + q3 renormalised.
    """
    q1 = ah / bh
    ph, pl, f1 = dd_mul(xp, q1, xp.zeros_like(q1), bh, bl)
    rh, rl = dd_add(ah, al, -ph, -pl)
    q2 = rh / bh
    ph, pl, f2 = dd_mul(xp, q2, xp.zeros_like(q2), bh, bl)
    rh, rl = dd_add(rh, rl, -ph, -pl)
    q3 = rh / bh
    hi, lo = fast_two_sum(q1, q2)
    hi, lo = dd_add(hi, lo, q3, xp.zeros_like(q3))
    fallback = f1 | f2 | (xp.abs(ah) < DD_TINY) | (xp.abs(q1) < DD_TINY) | ~xp.isfinite(lo)
    return hi, lo, fallback


def dd_sqrt(xp: Any, ah: Any, al: Any) -> tuple[Any, Any, Any]:
    """sqrt(a_hi + a_lo) for a >= 0 by one Newton correction: s = sqrt(a_hi); s + (a - s**2)/(2s).

    Zero stays exactly zero; a fallback mask marks tiny, non-finite or unsplittable elements.
    """
    positive = ah > 0
    safe = xp.where(positive, ah, 1.0)
    s = xp.sqrt(safe)
    ph, pl, f1 = dd_mul(xp, s, xp.zeros_like(s), s, xp.zeros_like(s))
    rh, _rl = dd_add(safe, xp.where(positive, al, 0.0), -ph, -pl)
    correction = rh / (2.0 * s)
    hi, lo = fast_two_sum(s, correction)
    hi = xp.where(positive, hi, 0.0)
    lo = xp.where(positive, lo, 0.0)
    fallback = positive & (f1 | (ah < DD_TINY) | ~xp.isfinite(lo))
    return hi, lo, fallback
