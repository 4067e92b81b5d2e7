"""Certified digits: interval arithmetic, re-run at higher precision until every digit is proven.

For each requested quantity the run is evaluated in :class:`IntervalBackend`; the enclosure's two ends
are rounded to ``digits`` significant digits and to float64/float32. When every quantity gives the same
results at both ends, those results are certified (the exact value lies inside the enclosure and
rounding is monotone). Otherwise the precision is doubled and the run repeated, up to ``max_prec`` bits.

Soundness of the fast rounding: the ends of an mpmath interval are binary floating-point numbers
``man * 2**exp``, i.e. exact rationals. They are rounded with integer arithmetic on ``(man, exp)``
(:func:`~adamw_oracle.reference.digits.significant_raw`,
:func:`~adamw_oracle.reference.digits.round_raw_to_format`), which gives exactly the correctly rounded
result of the exact value (the tests compare them with the Fraction-based roundings). No float or
decimal intermediate is involved, so "both ends round to the same string" is decided exactly.

Ties: a quantity whose exact value is a terminating decimal lying exactly halfway between two
``digits``-digit strings (e.g. v = 0.05 * 0.95**k * g**2 ends in a 5) can never be certified to
``digits`` digits by an enclosure of non-zero width. Once the precision has been raised
``TIE_DOUBLINGS`` times, such a quantity is written with up to ``TIE_EXTRA_DIGITS`` more digits: the
halfway point is itself a (digits+1)-digit decimal, so every value of a narrow enclosure around it
rounds to the same longer string, which is then certified in the ordinary way.

Exact values: a quantity whose exact value is a rational lying exactly on a float64/float32 rounding
boundary (halfway between two floats, e.g. m = -22224021/2^29 from float32 inputs) or an exact zero
reached through cancellation is never certified by an enclosure of non-zero width. When a quantity
still fails after ``TIE_DOUBLINGS`` doublings, the run is evaluated once more in exact rational
arithmetic (:class:`~adamw_oracle.reference.backends.ExactBackend`; m, v and SGD's quantities are
always rational, square roots are exact when they are rational); a quantity with an exact rational
value is then certified from that value directly (correct roundings, ``lower == upper``), with the
decimal length chosen as the enclosures would (one more digit for a decimal tie). Only quantities
that are not known as rationals are left to further doublings.

Range: ``digits`` up to 10000. Decimal strings longer than Python's int-to-string limit (4300 digits)
are written through :mod:`decimal`, which has no such limit.

Only the requested quantities at the requested step indices are rounded (``quantities``, ``steps``);
the interval run itself always covers every step, since each step depends on the previous one.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import CertificationError, InvalidArgumentError
from adamw_oracle.reference.backends import MAX_PREC, ExactBackend, IntervalBackend
from adamw_oracle.reference.digits import floor_log10, round_raw_to_format, significant, significant_raw
from adamw_oracle.reference.trajectory import run_trajectory

GUARD_BITS = 32
TIE_DOUBLINGS = 2
TIE_EXTRA_DIGITS = 3
DEFAULT_MAX_PREC = 1 << 14


@dataclass(frozen=True)
class CertifiedValue:
    """A quantity with certified decimal digits and certified float64/float32 roundings.

    ``decimal`` has ``digits`` significant digits (a few more for a decimal tie, see the module
    docstring; ``"0"`` for an exact zero); ``lower <= exact value <= upper`` are the enclosure's ends.
    """

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
    """``steps[j][i][name]``: certified quantity ``name`` of element i at step index ``step_indices[j]``.

    With every step certified (the default) ``step_indices`` is ``0, 1, ..., steps-1`` and j = k.
    """

    run: Run
    digits: int
    prec: int
    steps: tuple[tuple[dict[str, CertifiedValue], ...], ...]
    step_indices: tuple[int, ...] = ()

    def final(self, quantity: str = "p_new") -> tuple[CertifiedValue, ...]:
        return tuple(e[quantity] for e in self.steps[-1])


def certify_run(
    run: Run,
    digits: int = 30,
    quantities: Iterable[str] | None = None,
    *,
    max_prec: int | None = None,
    steps: Iterable[int] | None = None,
) -> CertifiedTrajectory:
    """Certify ``digits`` significant digits of every requested quantity of every step.

    Args:
        run: the run (all inputs finite).
        digits: significant decimal digits to certify (>= 1).
        quantities: names of :class:`~adamw_oracle.reference.records.ElementStep` quantities
            (default: every quantity the family has).
        max_prec: give up above this many bits (default: the larger of 2^14 and four times the starting
            precision digits*log2(10)+32, at most ``MAX_PREC``; given explicitly, it must be at least the
            starting precision).
        steps: 0-based step indices to certify (default: every step). ``steps`` of the result then
            holds only these rows, in increasing order, and ``step_indices`` says which they are.

    Raises:
        CertificationError: a quantity could not be certified at ``max_prec`` (e.g. a value that is
            exactly zero but is not computed exactly), naming the step, element and quantity.
    """
    if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 10000:
        raise InvalidArgumentError("digits", digits, "an int in [1, 10000]")
    prec = int(digits * math.log2(10)) + GUARD_BITS
    if max_prec is None:
        max_prec = min(max(DEFAULT_MAX_PREC, 4 * prec), MAX_PREC)
    if not isinstance(max_prec, int) or isinstance(max_prec, bool) or not max(64, min(prec, MAX_PREC)) <= max_prec <= MAX_PREC:
        raise InvalidArgumentError("max_prec", max_prec, f"an int in [{max(64, min(prec, MAX_PREC))}, {MAX_PREC}] "
                                   f"(at least the {prec} bits that {digits} digits start from)")
    for grad_row in run.gradients:
        for g in grad_row:
            if not isinstance(g, Fraction):
                raise InvalidArgumentError("run.gradients", g, "finite values (non-finite runs cannot be certified)")
    wanted = tuple(quantities) if quantities is not None else None
    indices = _step_indices(steps, run.steps)
    doublings = 0
    exact_steps: list[tuple[dict[str, object], ...]] = []  # filled on the first need, see the module docstring
    while True:
        extra = TIE_EXTRA_DIGITS if doublings >= TIE_DOUBLINGS else 0
        trajectory = run_trajectory(run, IntervalBackend(min(prec, max_prec)))
        failure = None
        rows = []
        for k in indices:
            row = trajectory.steps[k]
            out_row = []
            for i, element in enumerate(row):
                values = element.quantities()
                names = wanted if wanted is not None else tuple(values)
                certified = {}
                for name in names:
                    if name not in values:
                        raise InvalidArgumentError("quantities", name, "names among " + ", ".join(values))
                    result = _certify_one(values[name], digits, extra)
                    if result is None and extra:
                        if not exact_steps:
                            exact_steps.extend(tuple(e.quantities() for e in r)
                                               for r in run_trajectory(run, ExactBackend()).steps)
                        result = _certify_exact(exact_steps[k][i][name], digits, extra)
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
            return CertifiedTrajectory(run, digits, min(prec, max_prec), tuple(rows), indices)
        if prec >= max_prec:
            k, i, name = failure
            raise CertificationError(
                f"could not certify {digits} digits of {name} at step index {k}, element {i} "
                f"with {max_prec} bits (is the exact value zero, or on a rounding boundary?)"
            )
        prec *= 2
        doublings += 1


def _step_indices(steps: Iterable[int] | None, count: int) -> tuple[int, ...]:
    if steps is None:
        return tuple(range(count))
    chosen = sorted(set(steps))
    for k in chosen:
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < count:
            raise InvalidArgumentError("steps", k, f"step indices in [0, {count - 1}]")
    return tuple(chosen)


def _raw_to_fraction(raw: tuple) -> Fraction:
    sign, man, exp, _bc = raw
    value = Fraction(int(man) << exp) if exp >= 0 else Fraction(int(man), 1 << -exp)
    return -value if sign else value


def _certify_exact(value: object, digits: int, extra_digits: int) -> CertifiedValue | None:
    """The certified value of an exactly known rational (None when ``value`` is not a rational)."""
    if not isinstance(value, Fraction):
        return None
    length = digits
    while length < digits + extra_digits and _decimal_tie(value, length):
        length += 1  # what a narrow enclosure around a decimal tie certifies (see the module docstring)
    roundings = [float(dtype.format.round(value)) for dtype in (Dtype.FLOAT64, Dtype.FLOAT32)]
    return CertifiedValue(significant(value, length), roundings[0], roundings[1], value, value)


def _decimal_tie(value: Fraction, digits: int) -> bool:
    """True when ``value`` lies exactly halfway between two ``digits``-digit decimals."""
    if value == 0:
        return False
    scaled = abs(value) / Fraction(10) ** (floor_log10(abs(value)) - digits + 1)
    return scaled.denominator == 2


def _certify_one(interval: object, digits: int, extra_digits: int = 0) -> CertifiedValue | None:
    low_raw, high_raw = interval._mpi_  # type: ignore[attr-defined]
    if not (low_raw[1] or low_raw[2] == 0) or not (high_raw[1] or high_raw[2] == 0):
        return None  # an infinite or NaN end certifies nothing
    for length in range(digits, digits + extra_digits + 1):
        text = significant_raw(low_raw, length)
        if significant_raw(high_raw, length) == text:
            break
    else:
        return None
    roundings = []
    for dtype in (Dtype.FLOAT64, Dtype.FLOAT32):
        fmt = dtype.format
        low = round_raw_to_format(low_raw, fmt.precision, fmt.emin, fmt.emax)
        if round_raw_to_format(high_raw, fmt.precision, fmt.emin, fmt.emax) != low:
            return None
        roundings.append(low)
    return CertifiedValue(text, roundings[0], roundings[1], _raw_to_fraction(low_raw), _raw_to_fraction(high_raw))
