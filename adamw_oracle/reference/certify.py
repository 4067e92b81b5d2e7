"""Certified digits: interval arithmetic, re-run at higher precision until every digit is proven.

For each requested quantity the run is evaluated in :class:`IntervalBackend`; the enclosure's two ends
are rounded to ``digits`` significant digits and to float64/float32. When every quantity gives the same
results at both ends, those results are certified (the exact value lies inside the enclosure and
rounding is monotone). Otherwise the precision is doubled and the run repeated, up to ``max_prec`` bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import CertificationError, InvalidArgumentError
from adamw_oracle.reference.backends import MAX_PREC, IntervalBackend, interval_ends
from adamw_oracle.reference.digits import significant
from adamw_oracle.reference.trajectory import run_trajectory

GUARD_BITS = 32


@dataclass(frozen=True)
class CertifiedValue:
    """A quantity with certified decimal digits and certified float64/float32 roundings."""

    decimal: str
    float64: float
    float32: float
    lower: Fraction
    upper: Fraction

    @property
    def midpoint(self) -> Fraction:
        return (self.lower + self.upper) / 2


@dataclass(frozen=True)
class CertifiedTrajectory:
    """``steps[k][i][name]`` is the certified value of quantity ``name`` for element i at step index k."""

    run: Run
    digits: int
    prec: int
    steps: tuple[tuple[dict[str, CertifiedValue], ...], ...]

    def final(self, quantity: str = "p_new") -> tuple[CertifiedValue, ...]:
        return tuple(e[quantity] for e in self.steps[-1])


def certify_run(
    run: Run,
    digits: int = 30,
    quantities: Iterable[str] | None = None,
    *,
    max_prec: int = 1 << 14,
) -> CertifiedTrajectory:
    """Certify ``digits`` significant digits of every requested quantity of every step.

    Args:
        run: the run (all inputs finite).
        digits: significant decimal digits to certify (>= 1).
        quantities: names of :class:`~adamw_oracle.reference.records.ElementStep` quantities
            (default: every quantity the family has).
        max_prec: give up above this many bits.

    Raises:
        CertificationError: a quantity could not be certified at ``max_prec`` (e.g. a value that is
            exactly zero but is not computed exactly), naming the step, element and quantity.
    """
    if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 10000:
        raise InvalidArgumentError("digits", digits, "an int in [1, 10000]")
    if not isinstance(max_prec, int) or not 64 <= max_prec <= MAX_PREC:
        raise InvalidArgumentError("max_prec", max_prec, f"an int in [64, {MAX_PREC}]")
    for row in run.gradients:
        for g in row:
            if not isinstance(g, Fraction):
                raise InvalidArgumentError("run.gradients", g, "finite values (non-finite runs cannot be certified)")
    wanted = tuple(quantities) if quantities is not None else None
    prec = int(digits * math.log2(10)) + GUARD_BITS
    while True:
        trajectory = run_trajectory(run, IntervalBackend(min(prec, max_prec)))
        failure = None
        rows = []
        for k, row in enumerate(trajectory.steps):
            out_row = []
            for i, element in enumerate(row):
                values = element.quantities()
                names = wanted if wanted is not None else tuple(values)
                certified = {}
                for name in names:
                    if name not in values:
                        raise InvalidArgumentError("quantities", name, "names among " + ", ".join(values))
                    result = _certify_one(values[name], digits)
                    if result is None:
                        failure = (k, i, name)
                        break
                    certified[name] = result
                if failure:
                    break
                out_row.append(certified)
            if failure:
                break
            rows.append(tuple(out_row))
        if failure is None:
            return CertifiedTrajectory(run, digits, min(prec, max_prec), tuple(rows))
        if prec >= max_prec:
            k, i, name = failure
            raise CertificationError(
                f"could not certify {digits} digits of {name} at step index {k}, element {i} "
                f"with {max_prec} bits (is the exact value zero, or on a rounding boundary?)"
            )
        prec *= 2


def _certify_one(interval: object, digits: int) -> CertifiedValue | None:
    lower, upper = interval_ends(interval)
    if not isinstance(lower, Fraction) or not isinstance(upper, Fraction):
        return None
    text = significant(lower, digits)
    if significant(upper, digits) != text:
        return None
    roundings = []
    for dtype in (Dtype.FLOAT64, Dtype.FLOAT32):
        low, high = dtype.format.round(lower), dtype.format.round(upper)
        if low != high:
            return None
        roundings.append(float(low))
    return CertifiedValue(text, roundings[0], roundings[1], lower, upper)
