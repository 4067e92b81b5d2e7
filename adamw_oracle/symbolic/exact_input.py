"""Admission of inputs to symbolic entry points: sympy expressions or exact numbers, never strings.

Strings are refused rather than parsed, so nothing user-supplied ever reaches ``sympify`` or ``eval``.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import sympy as sp

from adamw_oracle.errors import InvalidArgumentError

SymbolicInput = sp.Expr | int | Fraction


def as_expr(value: Any, argument: str) -> sp.Expr:
    """``value`` as a sympy expression: Expr as is, int -> Integer, Fraction -> Rational.

    Raises:
        InvalidArgumentError: for strings, floats (inexact), booleans and anything else.
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(argument, value, "a sympy expression, int or Fraction (not a boolean)")
    if isinstance(value, sp.Expr):
        return value
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    raise InvalidArgumentError(
        argument, value, "a sympy expression, int or Fraction (strings and floats are refused: pass "
        "Fraction('0.001') or sympy.Rational(1, 1000) for an exact decimal)",
    )
