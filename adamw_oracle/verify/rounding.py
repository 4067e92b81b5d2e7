"""Rounding float64 values to a dtype exactly, fast: what :meth:`~adamw_oracle.contract.dtypes.FloatFormat.round`
computes on rationals, for inputs that are already float64 values.

For a finite float64 ``x`` with ``|x| = f * 2**e`` (``f`` in [1/2, 1)), the format's quantum at ``x`` is
``q = 2**(min(max(e - 1, emin), emax) - p + 1)`` and the correctly rounded value (nearest, ties to even,
gradual underflow) is ``rint(x / q) * q``. Both scalings are exact: dividing by a power of two loses no
bits while the result stays a normal float64 (``x / q`` lies in [2**(p-1), 2**p] for normal results and
below 2**(p-1) for subnormal ones, never below 2**-1074 unless it is 0), and ``rint(x / q) * q`` is a value
of the format, which float64 holds exactly for every format here (p <= 53, emin >= -1022). ``rint`` rounds
half-way cases to even, as the format does. So the result equals ``FloatFormat.round(Fraction(x))``
bit for bit; the test suite checks it against that exact rounding on ties, subnormals and binade edges.

Inputs the shortcut does not cover (nan, inf, or a magnitude at or above the format's overflow threshold)
go through ``FloatFormat.round`` itself, so every caller sees the exact rounding's behaviour there.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import cache

import numpy as np

from adamw_oracle.contract.dtypes import Dtype

_ZERO = Fraction(0)


@cache
def _limits(dtype: Dtype) -> tuple[int, int, int, float]:
    """(precision, emin, emax, overflow threshold as a float) of ``dtype``'s format."""
    fmt = dtype.format
    threshold = fmt.largest + Fraction(2) ** (fmt.emax - fmt.precision)
    # float64's own threshold lies above every finite float64 (and float() of it would overflow)
    return fmt.precision, fmt.emin, fmt.emax, math.inf if fmt.precision >= 53 else float(threshold)


def round_value(x: float, dtype: Dtype) -> Fraction | float:
    """``x`` (a float) rounded to ``dtype``: the exact rational, or ``±inf`` on overflow, like ``FloatFormat.round``."""
    p, emin, emax, threshold = _limits(dtype)
    magnitude = abs(x)
    if not magnitude < threshold:  # nan, inf, overflow: the exact rounding decides
        return dtype.format.round(Fraction(x))
    if x == 0:
        return _ZERO
    if p == 53:
        return Fraction(x)
    exponent = min(max(math.frexp(magnitude)[1] - 1, emin), emax) - p + 1
    return Fraction(math.ldexp(float(round(math.ldexp(x, -exponent))), exponent))


def round_array(values: np.ndarray, dtype: Dtype) -> np.ndarray:
    """Finite float64 ``values`` (below the overflow threshold) rounded to ``dtype``, as float64 values.

    Raises:
        ValueError: a value is not finite or would overflow ``dtype`` (use :func:`round_value`).
    """
    p, emin, emax, threshold = _limits(dtype)
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.abs(x) < threshold):
        raise ValueError(f"values outside the finite range of {dtype.value}")
    if p == 53:
        return x.copy()
    exponent = np.minimum(np.maximum(np.frexp(x)[1] - 1, emin), emax) - p + 1
    return np.ldexp(np.rint(np.ldexp(x, -exponent)), exponent) + 0.0  # + 0.0: -0.0 becomes 0.0


def round_values(values: Sequence[float], dtype: Dtype) -> tuple[Fraction | float, ...]:
    """Each of ``values`` (floats) rounded to ``dtype`` exactly: the same as ``round_value`` on each."""
    if not len(values):
        return ()
    x = np.asarray(values, dtype=np.float64)
    _, _, _, threshold = _limits(dtype)
    if not np.all(np.abs(x) < threshold):
        return tuple(round_value(float(v), dtype) for v in values)
    return tuple(Fraction(v) if v else _ZERO for v in round_array(x, dtype).tolist())
