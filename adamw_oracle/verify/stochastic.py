"""Stochastic rounding of the stored parameter, judged by a statistical model.

An implementation that rounds its float32 result x' to bfloat16 stochastically (torchao's
``bf16_stochastic_round``, optimi) stores, for each element, one of the two bfloat16 neighbours of x':
the one away from zero with probability ``f = |x' - near| / (far - near)`` (x''s fractional position
between the neighbour ``near`` nearer zero and ``far``), else ``near``. :func:`judge_stochastic_rounding`
checks both halves of that statement, step by step, from the implementation's own previous parameters:

* **hard check**, every element-step: the reference step is run (on the running-error backend, under
  the precision model's arithmetic and state formats) from the *observed* parameters of the previous
  step, which gives the exact result x of the step and a bound e on |x' - x|. The stored value must
  be a value of the parameter format in ``[RD(x - e), RU(x + e)]`` (RD/RU: rounded down / up into the
  format): a neighbour of some value x' the arithmetic may have produced. A NaN, a value that is not a
  bfloat16, or a value two spacings away fails.
* **frequency test**: where ``[x - e, x + e]`` lies between two adjacent values (so ``near`` and ``far``
  are known) and ``delta = e / (far - near) <= 1/4``, the element-step counts towards the test with
  ``f = |x - near| / (far - near)`` (x' has fractional position within ``delta`` of it). The counted
  element-steps are split by ``f < 1/2`` and ``f >= 1/2``; in each group with A roundings away from
  zero, ``|A - sum(f)| <= sum(delta) + t`` must hold, where, with ``L = ln(4/alpha)`` and V the sum over
  the group of the largest p(1 - p) for p within ``delta`` of f,
  ``t = L/3 + sqrt(L^2/9 + 2 V L)`` (Bernstein's inequality).

Under stochastic rounding with independent random bits each group's A is a sum of independent
Bernoulli variables with means p within ``delta`` of the f and variances p(1 - p) <= their share of V,
so by Bernstein's inequality, ``P(|A - E A| >= t) <= 2 exp(-t^2 / (2 (V + t/3))) = alpha/2`` per group:
the test fails with probability at most ``alpha``. Round-to-nearest never rounds away from zero below
1/2, so it fails the low group once that group's ``sum(f)`` exceeds about 45 at alpha = 1e-6 (about
180 element-steps with f spread evenly); rounding always toward zero (truncation) fails the high
group and always away from zero the low one; a rounding biased by a fixed fraction b of a spacing
fails once ``N b^2`` is about 2 L (N element-steps in a group).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.dtypes import FloatFormat
from adamw_oracle.contract.precision import FormatCost, PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.backends import raw_mpf_to_fraction
from adamw_oracle.verify.error_model import loaded, tracked_constants
from adamw_oracle.verify.tracked import RunningErrorBackend, Tracked, bound_proves, bound_vacuous, vacuity_constants
from adamw_oracle.verify.tracked_steps import step_elements

ALPHA = 1e-6
"""Default false-alarm probability of the frequency test (a correct stochastic rounding fails it at
most this often)."""

MAX_DELTA = 0.25
"""Element-steps whose fractional position is known less precisely than this are not counted."""


@dataclass(frozen=True)
class FrequencyGroup:
    """One group of the frequency test: element-steps with fractional position in ``[low, high)``."""

    low: float
    high: float
    count: int = 0
    away: int = 0          # observed roundings away from zero
    expected: float = 0.0  # sum of the fractional positions f
    uncertainty: float = 0.0  # sum of the delta: how far sum(f) may be from the true expectation
    alpha: float = ALPHA

    variance: float = 0.0  # V: bound on the variance of the number of roundings away from zero

    @property
    def margin(self) -> float:
        """Bernstein's deviation at probability alpha/2 (two-sided), plus the uncertainty of sum(f)."""
        log = math.log(4 / self.alpha)
        return self.uncertainty + log / 3 + math.sqrt(log * log / 9 + 2 * self.variance * log)

    @property
    def passed(self) -> bool:
        return abs(self.away - self.expected) <= self.margin

    def describe(self) -> str:
        return (f"f in [{self.low:g}, {self.high:g}): {self.away} of {self.count} rounded away from zero, "
                f"expected {self.expected:.1f} +- {self.margin:.1f} ({'ok' if self.passed else 'BIASED'})")


@dataclass(frozen=True)
class RoundingVerdict:
    """The verdict of :func:`judge_stochastic_rounding`."""

    passed: bool
    checked: int                 # element-steps given the hard check
    hard_failures: int
    first_hard_failure: str | None
    groups: tuple[FrequencyGroup, ...]
    set_aside: int               # element-steps with a flagged bound (ill-conditioned, overflow, non-finite)
    precision: PrecisionModel
    alpha: float
    error: str | None = None

    @property
    def counted(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def inconclusive(self) -> bool:
        """Nothing was checked (no element, no step, or every element-step set aside) and nothing failed:
        no PASS (as :attr:`adamw_oracle.verify.judge.Judgement.inconclusive`)."""
        return self.passed and self.checked == 0

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``INCONCLUSIVE`` (nothing checked)."""
        return "FAIL" if not self.passed else "INCONCLUSIVE" if self.inconclusive else "PASS"

    def describe(self) -> str:
        verdict = "INCONCLUSIVE (nothing judged)" if self.inconclusive else self.verdict
        head = (f"{verdict}: stochastic rounding under {self.precision.describe()}: "
                f"{self.checked - self.hard_failures} of {self.checked} element-steps are neighbours of the "
                f"step's result, {self.set_aside} set aside; frequency test (false alarm <= {self.alpha:g}) "
                f"on {self.counted}:")
        lines = [head] + ["  " + g.describe() for g in self.groups]
        if self.error:
            lines.append(f"  the implementation failed: {self.error}")
        if self.first_hard_failure:
            lines.append("  first failure: " + self.first_hard_failure)
        return "\n".join(lines)


def round_down(value: Fraction, fmt: FloatFormat) -> Fraction:
    """The largest value of ``fmt`` <= ``value`` (no overflow handling: finite in-range values)."""
    quantum = fmt.ulp(value)
    scaled = value / quantum
    return (scaled.numerator // scaled.denominator) * quantum


def round_up(value: Fraction, fmt: FloatFormat) -> Fraction:
    """The smallest value of ``fmt`` >= ``value``."""
    return -round_down(-value, fmt)


def judge_stochastic_rounding(case: Case, observation: Observation, precision: PrecisionModel | None = None, *,
                              alpha: float = ALPHA, prec: int = 200) -> RoundingVerdict:
    """Judge an implementation that rounds its parameters stochastically (see the module docstring).

    Args:
        precision: arithmetic and state formats of the implementation (default
            :meth:`PrecisionModel.stochastic` for the case's dtype; its parameter format is the one
            rounded into).
        alpha: false-alarm probability of the frequency test, in (0, 1).
    """
    if not isinstance(alpha, float) or not 0 < alpha < 1:
        raise InvalidArgumentError("alpha", alpha, "a float in (0, 1): the false-alarm probability")
    precision = precision or PrecisionModel.stochastic(case.dtype)
    run = case.run
    steps, n = run.steps, run.size
    groups = [FrequencyGroup(0.0, 0.5, alpha=alpha), FrequencyGroup(0.5, 1.0, alpha=alpha)]
    observed = np.asarray(observation.params, dtype=np.float64)
    if observation.error is not None or observed.shape != (steps, n):
        detail = observation.error or f"params has shape {observed.shape}, expected {(steps, n)}"
        return RoundingVerdict(False, steps * n, steps * n, None, tuple(groups), 0, precision, alpha, detail)
    arith, state_fmt = FormatCost.of(precision.arithmetic), FormatCost.of(precision.state)
    fmt = precision.param.format
    largest, tiny = float(fmt.largest), vacuity_constants(fmt)
    backend = RunningErrorBackend(arith, prec)
    assert precision.scalars is not None
    scalar_backend = backend.sibling(FormatCost.of(precision.scalars))
    one = backend.exact(1)
    param_load, state_load = precision.rounds_on_load(precision.param), precision.rounds_on_load(precision.state)
    conv, hyper = run.config.conventions, run.config.hyper
    st = run.initial_state
    assert st is not None
    m, v, vmax = ([backend.exact(x) for x in values] for values in (st.m, st.v, st.vmax))
    previous: list[Any] = list(run.initial_params)
    sums = [[0, 0, 0.0, 0.0, 0.0], [0, 0, 0.0, 0.0, 0.0]]  # count, away, sum f, sum delta, variance bound
    checked = failures = set_aside = 0
    first: str | None = None
    for k, grads in enumerate(run.gradients):
        t = run.t_at(k)
        consts = tracked_constants(scalar_backend, run.config_at(k), t)  # the run's schedule, if any
        # resync: the step starts from the parameters the implementation stored (exact values)
        p_in = [loaded(backend.exact(x), one, param_load) for x in previous]
        g = [loaded(backend.exact(x), one, param_load) for x in grads]
        m_in = [loaded(x, one, state_load) for x in m]
        results, m, v, vmax = step_elements(backend, consts, conv, hyper, t, p_in, g, m_in, v, vmax, one, state_load,
                                   state_fmt)
        row = observed[k]
        for i, r in enumerate(results):
            pre: Tracked = r.p_new
            if pre.flags or not bound_proves(pre.e, largest):  # inf, NaN or beyond the format: proves nothing
                set_aside += 1
                continue
            x = raw_mpf_to_fraction(pre.x._mpf_)
            if not isinstance(x, Fraction):
                set_aside += 1
                continue
            e = Fraction(pre.e)
            low, high = round_down(x - e, fmt), round_up(x + e, fmt)
            obs = float(row[i])
            exact_obs = Fraction(obs) if math.isfinite(obs) else None
            if exact_obs is None or fmt.round(exact_obs) != exact_obs or not low <= exact_obs <= high:
                checked += 1
                failures += 1
                if first is None:
                    first = (f"out[step={k + 1}, element={i}]={obs!r}, but should be a {fmt.name} neighbour of "
                             f"{float(x)!r} +- {float(e):.3g} (in [{float(low)!r}, {float(high)!r}])")
                continue
            if bound_vacuous(pre.e, float(previous[i]), float(x), tiny):  # a neighbour of a vacuous bound: set aside
                set_aside += 1
                continue
            checked += 1
            _count(sums, x, e, low, high, exact_obs, fmt)
        previous = [Fraction(float(y)) if math.isfinite(float(y)) else float(y) for y in row]
    groups = [FrequencyGroup(gr.low, gr.high, int(s[0]), int(s[1]), s[2], s[3], alpha, s[4]) for gr, s in zip(groups, sums)]
    passed = failures == 0 and all(gr.passed for gr in groups)
    return RoundingVerdict(passed, checked, failures, first, tuple(groups), set_aside, precision, alpha)


def _count(sums: list[list[Any]], x: Fraction, e: Fraction, low: Fraction, high: Fraction, obs: Fraction,
           fmt: FloatFormat) -> None:
    """Add one element-step to the frequency test when its two neighbours are determined."""
    if low == high:
        return  # x' is the format value itself: nothing to round
    middle = (low + high) / 2
    if round_down(middle, fmt) != low or round_up(middle, fmt) != high:
        return  # [x - e, x + e] spans a format value: the neighbours of x' are not known
    spacing = high - low
    delta = float(e / spacing)
    if delta > MAX_DELTA:
        return
    near, far = (low, high) if abs(low) <= abs(high) else (high, low)
    f = min(max(float(abs(x - near) / spacing), 0.0), 1.0)
    group = sums[0] if f < 0.5 else sums[1]
    group[0] += 1
    group[1] += int(obs == far)
    group[2] += f
    group[3] += delta
    # the largest p(1 - p) for p in [f - delta, f + delta]: 1/4 if that holds 1/2, else at its end nearer 1/2
    nearest_half = min(max(0.5, f - delta), f + delta)
    group[4] += nearest_half * (1 - nearest_half) * (1 + 2.0**-40)

