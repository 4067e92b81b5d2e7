"""Exact inputs: every number that enters the toolkit becomes an exact rational.

* A decimal string is read as the exact rational it spells: ``"0.001"`` is one thousandth, not the
  float64 nearest to it. Fractions (``"3/4"``) and exponents (``"1e-8"``) are accepted.
* A binary float (Python ``float``, numpy float64/float32/float16, ml_dtypes/torch bfloat16 scalars,
  0-d arrays) is taken as the exact binary value it holds: ``0.1`` becomes
  3602879701896397/36028797018963968.
* Integers and :class:`fractions.Fraction` / :class:`decimal.Decimal` are exact already.

Written numbers are bounded before they are converted (the conversion of ``"1e-400000"`` alone would
build a million-bit integer and the reference would then crawl): a decimal exponent must lie in
[-MAX_DECIMAL_EXPONENT, MAX_DECIMAL_EXPONENT] = [-1000, 1000] and a mantissa, numerator or denominator may
have at most MAX_WRITTEN_DIGITS = 1000 digits. Every float64 value and every hyperparameter a real
optimizer uses lies far inside this range.

Non-finite values are refused for hyperparameters. Gradients may be non-finite when
``allow_nonfinite=True``; they are then returned as the float ``inf``/``-inf``/``nan`` itself.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, SupportsFloat, overload

from adamw_oracle.errors import InvalidArgumentError

Exact = Fraction
"""An exact finite input value."""

ExactOrNonFinite = Fraction | float
"""An exact value, or a float that is ``inf``, ``-inf`` or ``nan`` (gradients only)."""

ExactInput = str | int | float | Fraction | Decimal | SupportsFloat
"""What :func:`to_exact` accepts: a decimal string, int, Fraction, Decimal or a binary float scalar."""

MAX_DECIMAL_EXPONENT = 1000
"""Largest ``|e|`` of a written exponent (``"1e-1000"``) and of a Decimal's adjusted exponent."""
MAX_WRITTEN_DIGITS = 1000
"""Most digits in a written mantissa, numerator or denominator."""

_NUMBER_PATTERN = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?\d+\s*/\s*[+-]?\d+$"
)
_RANGE = (f"a number with a decimal exponent in [-{MAX_DECIMAL_EXPONENT}, {MAX_DECIMAL_EXPONENT}] "
          f"and at most {MAX_WRITTEN_DIGITS} digits")


@overload
def to_exact(value: Any, argument: str = ..., *, allow_nonfinite: Literal[False] = ...) -> Fraction: ...


@overload
def to_exact(value: Any, argument: str = ..., *, allow_nonfinite: bool) -> ExactOrNonFinite: ...


def to_exact(value: Any, argument: str = "value", *, allow_nonfinite: bool = False) -> ExactOrNonFinite:
    """Return the exact rational held by ``value``.

    Args:
        value: a decimal string, int, Fraction, Decimal, or binary float scalar of any width.
        argument: the name reported in errors.
        allow_nonfinite: accept inf/nan (returned as float) instead of raising.

    Raises:
        InvalidArgumentError: for booleans, non-numeric strings, non-scalars, or non-finite values
            when ``allow_nonfinite`` is false.
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(argument, value, "a number, not a boolean")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_PATTERN.match(text):
            lowered = text.lower().lstrip("+-")
            if lowered in ("inf", "infinity", "nan"):
                if allow_nonfinite:
                    return float(text)
                raise InvalidArgumentError(argument, value, "a finite number")
            raise InvalidArgumentError(
                argument, value, "a decimal number such as '0.001', '1e-8' or '3/4'"
            )
        _check_written_size(text, argument, value)
        try:
            return Fraction(text.replace(" ", ""))
        except (ValueError, ZeroDivisionError) as exc:
            raise InvalidArgumentError(argument, value, "a decimal number or a fraction with a non-zero denominator") from exc
    if isinstance(value, Decimal):
        if not value.is_finite():
            if allow_nonfinite:
                return float(value)
            raise InvalidArgumentError(argument, value, "a finite number")
        if value and (len(value.as_tuple().digits) > MAX_WRITTEN_DIGITS or abs(value.adjusted()) > MAX_DECIMAL_EXPONENT):
            raise InvalidArgumentError(argument, value, _RANGE)
        return Fraction(value) if value else Fraction(0)
    as_float = _binary_float(value)
    if as_float is None:
        raise InvalidArgumentError(argument, value, "a number (str, int, Fraction or float scalar)")
    if not math.isfinite(as_float):
        if allow_nonfinite:
            return as_float
        raise InvalidArgumentError(argument, value, "a finite number")
    return Fraction(as_float)


def _check_written_size(text: str, argument: str, value: Any) -> None:
    """Refuse a written number outside the documented range before any big-integer arithmetic."""
    if "/" in text:
        parts = [part.strip().lstrip("+-") for part in text.split("/")]
        if any(len(part) > MAX_WRITTEN_DIGITS for part in parts):
            raise InvalidArgumentError(argument, _shown(value), _RANGE)
        return
    mantissa, _, exponent = text.lower().partition("e")
    if len(exponent.lstrip("+-")) > 12 or abs(int(exponent or "0")) > MAX_DECIMAL_EXPONENT:
        raise InvalidArgumentError(argument, _shown(value), _RANGE)
    if len(mantissa.lstrip("+-").replace(".", "")) > MAX_WRITTEN_DIGITS:
        raise InvalidArgumentError(argument, _shown(value), _RANGE)


def _shown(value: Any) -> Any:
    """The value for an error message (a long string is cut, so the message stays one line)."""
    return value if not isinstance(value, str) or len(value) <= 60 else value[:30] + "..." + value[-20:]


def _binary_float(value: Any) -> float | None:
    """Widen a binary float scalar of any format to a Python float (always exact)."""
    if isinstance(value, float):
        return value
    # numpy scalars, 0-d arrays, torch 0-d tensors and ml_dtypes scalars all widen exactly to
    # float64 via float(): every float16/bfloat16/float32 value is a float64 value.
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) != ():
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def finite_exact(value: ExactOrNonFinite, argument: str = "value") -> Fraction:
    """``value`` as an exact rational; an error for inf/nan (for values known to be finite)."""
    if isinstance(value, Fraction):
        return value
    raise InvalidArgumentError(argument, value, "a finite value")


def is_finite_exact(value: ExactOrNonFinite) -> bool:
    """True when ``value`` is an exact rational (not inf/nan)."""
    return isinstance(value, Fraction)


# Exact values of mpmath numbers (one source for every layer that reads mpmath results).

def mpf_to_fraction(x: Any) -> Fraction | float:
    """Exact rational value of an mpmath ``mpf`` (inf/nan come back as floats)."""
    return raw_mpf_to_fraction(x._mpf_)


def interval_ends(x: Any) -> tuple[Fraction | float, Fraction | float]:
    """The exact rational ends of an mpmath interval (``ivmpf``)."""
    low, high = x._mpi_
    return raw_mpf_to_fraction(low), raw_mpf_to_fraction(high)


def raw_mpf_to_fraction(raw: tuple[int, Any, int, int]) -> Fraction | float:
    """Exact value of mpmath's internal (sign, mantissa, exponent, bitcount) tuple."""
    sign, man, exp, _bc = raw
    if not man:
        # mpmath encodes zero as (0, 0, 0, 0); inf and nan have a zero mantissa and a non-zero exponent
        if exp == 0:
            return Fraction(0)
        from mpmath.libmp import to_float  # mpmath is imported only when a non-finite value appears

        return to_float(raw)
    value = Fraction(int(man)) * (Fraction(2) ** exp if exp >= 0 else Fraction(1, 2 ** (-exp)))
    return -value if sign else value
