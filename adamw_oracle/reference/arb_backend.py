"""A certified fast path: python-flint ``arb`` balls as a reference backend (the ``[bench]`` extra).

mpmath stays the reference of record (:class:`~adamw_oracle.reference.backends.IntervalBackend`);
this backend exists because one arb ball operation costs about 0.2 us against several us for an
mpmath interval, and every arb result is still a rigorous enclosure ``[mid +/- rad]`` of the exact
value. The tests cross-check its enclosures against the mpmath certification.

python-flint keeps its working precision in a process-wide context (``flint.ctx.prec``). Arithmetic
on arbs reads it at every operation, so every computation with this backend must run inside
:meth:`ArbBackend.scope`, which sets the precision for the block and restores the caller's on exit.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from adamw_oracle.errors import InvalidArgumentError, MissingExtraError
from adamw_oracle.reference.backends import _check_prec


def flint_module() -> Any:
    """The ``flint`` module, or :class:`MissingExtraError` naming the extra that installs it."""
    try:
        import flint  # optional dependency (python-flint), imported only when used
    except ImportError as exc:
        raise MissingExtraError("the arb backend needs python-flint: pip install 'adamw-oracle[bench]'") from exc
    return flint


class ArbBackend:
    """Ball arithmetic at ``prec`` bits with python-flint ``arb`` (rigorous, like IntervalBackend).

    ``const`` converts an exact rational through ``fmpq`` (one correctly enclosed rounding);
    ``sqrt`` keeps only the non-negative part of its argument (v's enclosure may dip below 0 by
    rounding while the exact value is >= 0); ``maximum`` is arb's enclosure of max(a, b).
    """

    rigorous = True

    def __init__(self, prec: int = 256) -> None:
        self.prec = _check_prec(prec)
        self.flint = flint_module()
        with self.scope():
            self.zero = self.flint.arb(0)
            self.one = self.flint.arb(1)

    @contextlib.contextmanager
    def scope(self) -> Iterator[ArbBackend]:
        """Run the block at this backend's precision (flint's precision is process-wide)."""
        with self.flint.ctx.workprec(self.prec):
            yield self

    def const(self, value: Fraction | float) -> Any:
        arb = self.flint.arb
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise InvalidArgumentError("value", value, "a finite number (ball arithmetic needs finite inputs)")
            value = Fraction(value)
        return arb(self.flint.fmpq(value.numerator, value.denominator))

    def sqrt(self, x: Any) -> Any:
        if x < 0:
            raise ArithmeticError("square root of a ball that is entirely negative")
        return x.nonnegative_part().sqrt() if x.lower() < 0 else x.sqrt()

    def maximum(self, a: Any, b: Any) -> Any:
        return a.max(b)

    def power(self, base: Any, exponent: int) -> Any:
        return base**exponent


def ball_ends(x: Any) -> tuple[Fraction, Fraction]:
    """The exact rational ends ``mid - rad`` and ``mid + rad`` of an arb ball (finite balls only)."""
    mid, rad = x.mid(), x.rad()
    mid_value = _arf_fraction(mid)
    rad_value = _arf_fraction(rad)
    return mid_value - rad_value, mid_value + rad_value


def _arf_fraction(exact_arb: Any) -> Fraction:
    man, exp = exact_arb.man_exp()
    man, exp = int(man), int(exp)
    return Fraction(man) * (Fraction(2) ** exp if exp >= 0 else Fraction(1, 2 ** (-exp)))
