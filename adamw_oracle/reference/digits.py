"""Exact decimal rounding of rationals (used to print certified digits).

``significant(x, d)`` rounds the exact rational ``x`` to ``d`` significant decimal digits, ties to
even, and writes it as ``[-]D.DDD...e[+-]XX``. Because rounding is monotone, an interval whose two ends
give the same string certifies that every value inside it (the exact value included) gives that string.
"""
from __future__ import annotations

from fractions import Fraction

from adamw_oracle.errors import InvalidArgumentError


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
    text = str(integer)
    mantissa = text[0] + ("." + text[1:] if digits > 1 else "")
    return f"{sign}{mantissa}e{exponent:+03d}"


def fixed(x: Fraction, decimals: int) -> str:
    """``x`` rounded to ``decimals`` places after the point (ties to even), e.g. for Markdown tables."""
    scaled = abs(x) * 10**decimals
    integer, remainder = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * remainder
    if twice > scaled.denominator or (twice == scaled.denominator and integer % 2 == 1):
        integer += 1
    text = str(integer).rjust(decimals + 1, "0")
    body = text[:-decimals] + "." + text[-decimals:] if decimals else text
    return ("-" if x < 0 and integer != 0 else "") + body
