"""Exact decimal rounding of rationals (used to print certified digits).

``significant(x, d)`` rounds the exact rational ``x`` to ``d`` significant decimal digits, ties to
even, and writes it as ``[-]D.DDD...e[+-]XX``. Because rounding is monotone, an interval whose two ends
give the same string certifies that every value inside it (the exact value included) gives that string.
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from adamw_oracle.errors import InvalidArgumentError


def integer_text(n: int) -> str:
    """``str(n)`` without Python's int-to-string digit limit (4300 digits by default, process-wide):
    long integers go through :class:`decimal.Decimal`, whose conversion from int is exact."""
    return str(n) if n.bit_length() < 4000 * 3 else str(Decimal(n))


def floor_log10(x: Fraction) -> int:
    """floor(log10(x)) for a positive rational, exactly."""
    if x <= 0:
        raise InvalidArgumentError("x", x, "a positive rational")
    estimate = int((x.numerator.bit_length() - x.denominator.bit_length()) * 0.30102999566398120)
    power = Fraction(10) ** estimate
    while power > x:
        estimate -= 1
        power /= 10
    while power * 10 <= x:
        estimate += 1
        power *= 10
    return estimate


def significant(x: Fraction, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits (ties to even) in scientific notation."""
    if not isinstance(digits, int) or digits < 1:
        raise InvalidArgumentError("digits", digits, "an int >= 1")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    magnitude = abs(x)
    exponent = floor_log10(magnitude)
    scaled = magnitude / Fraction(10) ** (exponent - digits + 1)
    integer, remainder = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * remainder
    if twice > scaled.denominator or (twice == scaled.denominator and integer % 2 == 1):
        integer += 1
    if integer == 10**digits:
        integer //= 10
        exponent += 1
    text = integer_text(integer)
    mantissa = text[0] + ("." + text[1:] if digits > 1 else "")
    return f"{sign}{mantissa}e{exponent:+03d}"


def fixed(x: Fraction, decimals: int) -> str:
    """``x`` rounded to ``decimals`` places after the point (ties to even), e.g. for Markdown tables."""
    scaled = abs(x) * 10**decimals
    integer, remainder = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * remainder
    if twice > scaled.denominator or (twice == scaled.denominator and integer % 2 == 1):
        integer += 1
    text = integer_text(integer).rjust(decimals + 1, "0")
    body = text[:-decimals] + "." + text[-decimals:] if decimals else text
    return ("-" if x < 0 and integer != 0 else "") + body


# --- Fast paths on mpmath's raw (sign, mantissa, exponent, bitcount) tuples -------------------------
# Certification rounds both ends of thousands of enclosures; building Fractions (a gcd per operation)
# dominated its cost. The functions below compute the same correctly rounded results with plain
# integer arithmetic on x = (-1)^sign * man * 2^exp, exactly (no floating-point step anywhere).

RawMpf = tuple  # mpmath's internal (sign, man, exp, bc); man is odd (normalized) or 0


def _pow10(n: int) -> int:
    return 10**n


def _compare_pow10(man: int, exp: int, e10: int) -> int:
    """Sign of man*2^exp - 10^e10, by integers only."""
    left = man << exp if exp >= 0 else man
    right_twos = -exp if exp < 0 else 0
    if e10 >= 0:
        right = _pow10(e10) << right_twos
    else:
        left *= _pow10(-e10)
        right = 1 << right_twos
    return (left > right) - (left < right)


def _raw_floor_log10(man: int, exp: int, bc: int) -> int:
    # log10(x) lies in [(exp+bc-1)*log10(2), (exp+bc)*log10(2)); start below and step up exactly.
    estimate = int((exp + bc - 1) * 0.30102999566398120) - 1
    while _compare_pow10(man, exp, estimate) < 0:
        estimate -= 1
    while _compare_pow10(man, exp, estimate + 1) >= 0:
        estimate += 1
    return estimate


def significant_raw(raw: RawMpf, digits: int) -> str:
    """Same string as :func:`significant` for the exact value of a finite raw mpf."""
    sign, man, exp, bc = raw
    man = int(man)
    if not man:
        if exp == 0:
            return "0"
        raise InvalidArgumentError("x", raw, "a finite number")
    exponent = _raw_floor_log10(man, exp, bc)
    shift10 = exponent - digits + 1
    num = man << exp if exp >= 0 else man
    den = 1 << -exp if exp < 0 else 1
    if shift10 >= 0:
        den *= _pow10(shift10)
    else:
        num *= _pow10(-shift10)
    integer, remainder = divmod(num, den)
    twice = 2 * remainder
    if twice > den or (twice == den and integer % 2 == 1):
        integer += 1
    if integer == _pow10(digits):
        integer //= 10
        exponent += 1
    text = integer_text(integer)
    mantissa = text[0] + ("." + text[1:] if digits > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{exponent:+03d}"


def round_raw_to_format(raw: RawMpf, precision: int, emin: int, emax: int) -> float:
    """Round the exact value of a finite raw mpf to a binary format (nearest, ties to even).

    Same result as :meth:`adamw_oracle.contract.dtypes.FloatFormat.round` (gradual underflow,
    overflow to infinity), returned as a Python float (exact: every result of float64 or a narrower
    format is a float64 value).
    """
    sign, man, exp, bc = raw
    man = int(man)
    if not man:
        if exp == 0:
            return -0.0 if sign else 0.0
        raise InvalidArgumentError("x", raw, "a finite number")
    top = exp + bc - 1  # x in [2^top, 2^(top+1))
    quantum_exp = max(top, emin) - precision + 1
    shift = quantum_exp - exp
    if shift <= 0:
        kept, kept_exp = man, exp
    else:
        kept = man >> shift
        rest = man - (kept << shift)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and kept & 1):
            kept += 1
        kept_exp = quantum_exp
    if kept.bit_length() + kept_exp - 1 > emax:
        return -math.inf if sign else math.inf
    value = math.ldexp(kept, kept_exp) if kept.bit_length() <= 53 else math.ldexp(float(kept), kept_exp)
    return -value if sign else value
