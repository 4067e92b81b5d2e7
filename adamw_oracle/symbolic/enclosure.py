"""Rigorous numeric checks of symbolic results: interval enclosures and their comparison.

Two enclosures of the same exact number must intersect; when two formulations of a quantity give
disjoint enclosures, at least one formulation is wrong. This replaces any chosen tolerance: the
width of an enclosure is the rounding error the interval arithmetic itself accounts for.
"""
from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import sympy as sp

from adamw_oracle.contract.exact import interval_ends, mpf_to_fraction
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.symbolic.compile import CompiledExpressions
from adamw_oracle.symbolic.exact_input import as_expr
from adamw_oracle.symbolic.numbers import IntervalNumbers


def enclose(expr: sp.Expr, values: Mapping[sp.Symbol, Fraction | int], *, prec: int = 256,
            integers: Mapping[sp.Symbol, int] | None = None) -> Any:
    """An interval (``ivmpf``) enclosing ``expr`` at the exact ``values`` (``integers``: e.g. t)."""
    expr = as_expr(expr, "expr")
    integers = dict(integers or {})
    for symbol, value in values.items():
        if not isinstance(value, (int, Fraction)) or isinstance(value, bool):
            raise InvalidArgumentError(f"values[{symbol}]", value, "an exact int or Fraction")
    args = list(values)
    compiled = CompiledExpressions({"value": expr}, args, list(integers))
    numbers = IntervalNumbers(prec)
    converted = [numbers.convert(Fraction(values[a])) for a in args]
    return compiled(numbers, converted, [integers[s] for s in integers])["value"]


def ends(x: Any) -> tuple[Fraction, Fraction]:
    """Exact rational ends of an ``ivmpf``, of an ``mpf`` (degenerate) or of a (low, high) pair."""
    if isinstance(x, tuple) and len(x) == 2:
        low, high = x
    elif hasattr(x, "_mpi_"):
        low, high = interval_ends(x)
    else:
        low = high = mpf_to_fraction(x)
    if not isinstance(low, Fraction) or not isinstance(high, Fraction):
        raise InvalidArgumentError("x", x, "a finite number or interval")
    return low, high


def intersects(a: Any, b: Any) -> bool:
    """True when the two enclosures (or points) share a value."""
    a_low, a_high = ends(a)
    b_low, b_high = ends(b)
    return a_low <= b_high and b_low <= a_high


def contains(enclosure: Any, value: Any) -> bool:
    """True when ``value`` (exact, mpf or interval) lies inside ``enclosure``."""
    low, high = ends(enclosure)
    if isinstance(value, (int, Fraction)):
        v_low = v_high = Fraction(value)
    else:
        v_low, v_high = ends(value)
    return low <= v_low and v_high <= high


def width(x: Any) -> Fraction:
    """high - low of an enclosure."""
    low, high = ends(x)
    return high - low


def difference(a: Any, b: Any) -> tuple[Fraction, Fraction]:
    """An exact enclosure (low, high) of a - b from enclosures of a and b (any contexts)."""
    a_low, a_high = ends(a)
    b_low, b_high = ends(b)
    return a_low - b_high, a_high - b_low


def scaled(a: Any, factor: Fraction) -> tuple[Fraction, Fraction]:
    """An exact enclosure of factor * a."""
    low, high = ends(a)
    return (factor * low, factor * high) if factor >= 0 else (factor * high, factor * low)
