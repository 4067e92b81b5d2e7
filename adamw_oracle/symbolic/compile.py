"""Turn sympy expressions into a Python function evaluated in a chosen number system.

The generated code calls only the number system's own methods (``const``, ``ratio``, ``sqrt``,
``max``, ``abs``, ``power``) and the operators ``+ - * / **``, so the same expressions run in a private
round-to-nearest context or in interval arithmetic, and never in the global ``mpmath.mp``. Common
subexpressions are shared (``sympy.cse``). Only the nodes a step can contain are supported; anything
else raises ``TypeError`` naming the node, instead of being evaluated by guesswork.

Symbols listed as ``integer_args`` (the step number t) are passed through as Python ints, so
``beta**t`` is an integer power of a number, as in every implementation.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy as sp

from adamw_oracle.errors import InvalidArgumentError


class CompiledExpressions:
    """Named expressions compiled once; call with a number system and the argument values."""

    def __init__(self, exprs: Mapping[str, sp.Expr], args: Sequence[sp.Symbol], integer_args: Sequence[sp.Symbol] = ()) -> None:
        for a in list(args) + list(integer_args):
            if not isinstance(a, sp.Symbol):
                raise InvalidArgumentError("args", a, "sympy Symbols")
        for name, e in exprs.items():
            if not isinstance(e, sp.Expr):  # never sympify: a string would be evaluated as Python code
                raise InvalidArgumentError(f"exprs[{name!r}]", e, "a sympy expression (sympy.Expr), not a string or number")
        self.names = tuple(exprs)
        self.args = tuple(args)
        self.integer_args = tuple(integer_args)
        replacements, reduced = sp.cse(list(exprs.values()), order="none")
        names: dict[sp.Symbol, str] = {a: f"a{i}" for i, a in enumerate(self.args)}
        names.update({a: f"n{i}" for i, a in enumerate(self.integer_args)})
        self._integers = set(self.integer_args)
        lines = [f"def _compiled(N, {', '.join([names[a] for a in self.args] + [names[a] for a in self.integer_args])}):"]
        for k, (sym, sub) in enumerate(replacements):
            names[sym] = f"x{k}"
            lines.append(f"    x{k} = {self._code(sub, names)}")
        lines.append("    return (" + "".join(self._code(e, names) + ", " for e in reduced) + ")")
        self.source = "\n".join(lines)
        namespace: dict[str, Any] = {}
        exec(compile(self.source, "<adamw_oracle.symbolic>", "exec"), namespace)  # our own generated code
        self._function: Callable[..., tuple[Any, ...]] = namespace["_compiled"]

    def __call__(self, numbers: Any, values: Sequence[Any], integers: Sequence[int] = ()) -> dict[str, Any]:
        """Evaluate: ``values`` are already numbers of ``numbers``; ``integers`` are Python ints."""
        return dict(zip(self.names, self._function(numbers, *values, *integers)))

    def _is_integer_valued(self, expr: sp.Expr) -> bool:
        return expr.free_symbols <= self._integers and expr.is_integer is True

    def _code(self, expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
        def c(sub: sp.Expr) -> str:
            return self._code(sub, names)

        if isinstance(expr, sp.Symbol):
            if expr not in names:
                raise TypeError(f"free symbol {expr} is not an argument")
            return names[expr]
        if isinstance(expr, sp.Integer):
            return f"N.const({int(expr)})"
        if isinstance(expr, sp.Rational):
            return f"N.ratio({int(expr.p)}, {int(expr.q)})"
        if isinstance(expr, sp.Add):
            return "(" + " + ".join(c(a) for a in expr.args) + ")"
        if isinstance(expr, sp.Mul):
            return self._mul_code(expr, names)
        if isinstance(expr, sp.Pow):
            base, exponent = expr.args
            if self._is_integer_valued(exponent) and exponent.free_symbols:
                return f"N.power({c(base)}, {self._int_code(exponent, names)})"
            if isinstance(exponent, sp.Integer):
                n = int(exponent)
                return f"({c(base)})**{n}" if n > 0 else f"(N.const(1)/({c(base)})**{-n})"
            if isinstance(exponent, sp.Rational) and exponent.q == 2:
                root = f"N.sqrt({c(base)})"
                n = int(exponent.p)
                powered = root if abs(n) == 1 else f"({root})**{abs(n)}"
                return powered if n > 0 else f"(N.const(1)/{powered})"
            raise TypeError(f"unsupported power {expr}")
        if isinstance(expr, sp.Max):
            return "N.max(" + ", ".join(c(a) for a in expr.args) + ")"
        if isinstance(expr, sp.Abs):
            return f"N.abs({c(expr.args[0])})"
        raise TypeError(f"unsupported expression node {type(expr).__name__}: {expr}")

    def _mul_code(self, expr: sp.Mul, names: dict[sp.Symbol, str]) -> str:
        numerator: list[str] = []
        denominator: list[str] = []
        negate = False
        for factor in expr.args:
            if isinstance(factor, sp.Rational):
                if factor < 0:
                    negate = not negate
                    factor = -factor
                if factor.p != 1:
                    numerator.append(f"N.const({int(factor.p)})")
                if factor.q != 1:
                    denominator.append(f"N.const({int(factor.q)})")
            elif isinstance(factor, sp.Pow) and isinstance(factor.exp, sp.Rational) and factor.exp < 0:
                denominator.append(self._code(sp.Pow(factor.base, -factor.exp), names))
            else:
                numerator.append(self._code(factor, names))
        text = " * ".join(numerator) if numerator else "N.const(1)"
        if denominator:
            text = f"({text}) / ({' * '.join(denominator)})"
        return f"(-({text}))" if negate else f"({text})"

    def _int_code(self, expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
        """Integer-valued exponent (e.g. t or t + 1) as plain Python int arithmetic."""
        if isinstance(expr, sp.Symbol):
            return names[expr]
        if isinstance(expr, sp.Integer):
            return str(int(expr))
        if isinstance(expr, sp.Add):
            return "(" + " + ".join(self._int_code(a, names) for a in expr.args) + ")"
        if isinstance(expr, sp.Mul):
            return "(" + " * ".join(self._int_code(a, names) for a in expr.args) + ")"
        raise TypeError(f"unsupported integer exponent {expr}")
