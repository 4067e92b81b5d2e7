"""Judge an implementation's observed parameters against the exact trajectory and its error bound.

For element i after step k the verdict is:

* **ill-conditioned** when the bound's derivation does not hold (a divisor whose error bound exceeds
  1/16 of itself, an intermediate that may overflow, a non-finite input): counted, never passed;
* **set aside** (counted with the ill-conditioned, reason :data:`BOUND_OVERFLOW`) when the slackened
  bound ``SLACK * bound`` is not a number at most the parameter format's largest finite value (it
  overflowed float64 on a long run, or is NaN, without a flag): such a bound admits every finite value,
  so it proves nothing (:func:`bound_proves`);
* **set aside** (reason :data:`BOUND_VACUOUS`) when the observation is within a finite bound that is wider
  than the step's own values by more than the format's precision (``u * SLACK * bound > max(|p before| +
  |p after|, smallest normal)``, exact values; :func:`bound_vacuous`). Outside such a bound is outside;
* **within** when ``|observed - exact| <= SLACK * bound``;
* **outside** otherwise, including a NaN/inf observed where the case is well-conditioned.

The three counts add up to ``steps * size`` element-steps.

The error is reported in ULPs of the parameter format at the exact value and as a fraction of the
slackened bound (``fraction_of_bound`` <= 1 means within).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.precision import ParamSummation, PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.error_model import BoundedTrajectory, bounded_trajectory
from adamw_oracle.verify.kahan import judge_kahan_elements
from adamw_oracle.verify.tracked import (
    BOUND_OVERFLOW,
    BOUND_VACUOUS,
    ILL,
    NONFINITE,
    OVERFLOW,
    bound_proves,
    bound_vacuous,
    vacuity_constants,
)

SLACK = 2.0
"""Factor on the running bound that admits correct implementations ordering the same operations
differently. Measured (docs/error-model.md section 5): the largest error/bound ratio over correct
implementations was 1.125 (torch-like order, float32, in a 40,000-case campaign); torch, optax and
Keras within their models stayed at or below 1.0."""


@dataclass(frozen=True)
class Failure:
    """The first element/step outside its bound (or with a broken observation)."""

    step: int  # 1-based step within the run
    element: int
    observed: float
    exact: Fraction | float
    bound: float  # slackened bound
    ulps: float
    fraction_of_bound: float
    #: what was wrong: ``"param"`` (the parameter after the step), or, for the per-step judge
    #: (:mod:`adamw_oracle.verify.resync`), the stored state ``"m"``, ``"v"``, ``"vmax"`` or the step counter ``"step"``
    quantity: str = "param"

    def describe(self) -> str:
        name = "out" if self.quantity == "param" else f"state {self.quantity}"
        return (f"{name}[step={self.step}, element={self.element}]={self.observed!r}, but should be "
                f"{float(self.exact)!r} ± {self.bound:.3g} (error {self.ulps:.3g} ulp, "
                f"{self.fraction_of_bound:.3g}x the bound)")


@dataclass(frozen=True)
class Judgement:
    """The verdict on one case (see the module docstring)."""

    passed: bool
    counts: dict[str, int]
    first_failure: Failure | None
    max_fraction_of_bound: float
    precision: PrecisionModel
    slack: float
    error: str | None = None
    ill_reasons: dict[str, int] = field(default_factory=dict)
    #: ``"trajectory"``: each step's parameters against the exact run from the initial state (bounds
    #: accumulate over the run); ``"per-step"``: each step re-synced from the implementation's own
    #: state before it (:mod:`adamw_oracle.verify.resync`; one-step bounds)
    mode: str = "trajectory"
    #: per-step mode: verdicts on the stored state after each step (m, v, vmax elements and the step
    #: counter), counted apart from ``counts`` (which are the parameters' element-steps)
    state_counts: dict[str, int] = field(default_factory=dict)
    #: per-step mode: element-steps counted within bound whose correct value is exactly determined (a
    #: 0/0 the declared precision forces, a NaN parameter carried on), per reason (resync.DEGENERATE_*)
    degenerate: dict[str, int] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        """Parameter element-steps found within or outside a bound (the stored state's verdicts of the
        per-step mode are not counted: they say nothing of the update without a parameter judged)."""
        return self.counts["within"] + self.counts["outside"]

    @property
    def inconclusive(self) -> bool:
        """Nothing was judged (no element, or every element-step set aside) and nothing failed:
        ``passed`` is True (no failure was found) but the judgement is no PASS; ``check`` reports such a
        run ``INCONCLUSIVE`` by the same rule (``CheckReport.inconclusive``)."""
        return self.passed and self.judged == 0

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``INCONCLUSIVE`` (:attr:`inconclusive`: nothing judged)."""
        return "FAIL" if not self.passed else "INCONCLUSIVE" if self.inconclusive else "PASS"

    def describe(self) -> str:
        c = self.counts
        verdict = "INCONCLUSIVE (nothing judged)" if self.inconclusive else self.verdict
        head = (f"{verdict}: {c['within']} within bound, {c['outside']} outside, "
                f"{c['ill_conditioned']} ill-conditioned (set aside) under {self.precision.describe()}, "
                f"slack {self.slack:g}; max error {self.max_fraction_of_bound:.3g} of the bound")
        if self.mode != "trajectory":
            s = self.state_counts
            head += (f"; judged {self.mode} from the implementation's own state (state: {s.get('within', 0)} within, "
                     f"{s.get('outside', 0)} outside, {s.get('ill_conditioned', 0)} set aside)")
        if self.degenerate:
            head += " [degenerate, checked exactly: " + ", ".join(f"{k} {v}" for k, v in sorted(self.degenerate.items())) + "]"
        if self.ill_reasons:
            head += " [set aside: " + ", ".join(f"{k} {v}" for k, v in sorted(self.ill_reasons.items())) + "]"
        if self.error:
            head += f"\n  the implementation failed: {self.error}"
        if self.first_failure is not None:
            head += "\n  first failure: " + self.first_failure.describe()
        return head


def _reasons(flags: int) -> str:
    # the root cause first: an ill-conditioned divisor also makes the bound (and so the reach) infinite
    if flags & NONFINITE:
        return "non-finite input"
    if flags & ILL:
        return "ill-conditioned divisor"
    return "possible overflow"


def ulps_between(obs: float, exact: Fraction, fmt: Any) -> float:
    """|obs - exact| in ULPs of ``exact`` in ``fmt``; inf when that exceeds the float64 range (an
    observation far from an exact value near 0, whose ULP is the smallest subnormal)."""
    try:
        return float(abs(Fraction(obs) - exact) / fmt.ulp(exact))
    except OverflowError:
        return math.inf


def judge(case: Case, observation: Observation, *, precision: PrecisionModel | None = None,
          slack: float = SLACK, bounds: BoundedTrajectory | None = None) -> Judgement:
    """Judge ``observation`` for ``case``; see the module docstring for the verdicts.

    Args:
        precision: formats a correct implementation may use (default: the conservative model).
        slack: factor applied to the running bound (default :data:`SLACK`; never below 1).
        bounds: a precomputed :func:`bounded_trajectory` (to judge several implementations at once).
    """
    if not isinstance(slack, (int, float)) or isinstance(slack, bool) or not slack >= 1:
        raise InvalidArgumentError("slack", slack, "a number >= 1 (1: the running bound itself)")
    if precision is not None and bounds is not None and bounds.precision != precision:
        raise InvalidArgumentError("bounds", bounds.precision.describe(), f"bounds computed for {precision.describe()}")
    precision = precision or (bounds.precision if bounds else PrecisionModel.conservative(case.dtype))
    if precision.param_summation is ParamSummation.KAHAN:
        return judge_compensated(case, observation, precision, slack)
    bounds = bounds or bounded_trajectory(case, precision)
    steps, n = case.run.steps, case.run.size
    counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
    reasons: dict[str, int] = {}
    broken = unjudgeable(case, observation, precision, slack)
    if broken is not None:
        return broken
    observed = np.asarray(observation.params, dtype=np.float64)
    fmt = precision.param.format
    largest = float(fmt.largest)
    tiny = vacuity_constants(fmt)
    before = [_as_float(x) for x in case.run.initial_params]
    first: Failure | None = None
    worst = 0.0
    for k in range(steps):
        for i in range(n):
            bv = bounds.params[k][i]
            after = _as_float(bv.exact)
            previous, before[i] = before[i], after
            allowed = slack * bv.bound
            if bv.flags & (ILL | OVERFLOW | NONFINITE) or not bound_proves(allowed, largest):
                counts["ill_conditioned"] += 1
                reason = _reasons(bv.flags) if bv.flags else BOUND_OVERFLOW
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
            obs = float(observed[k, i])
            exact = bv.exact
            if not math.isfinite(obs) or not isinstance(exact, Fraction):
                diff, frac = math.inf, math.inf
            else:
                as_float = float(exact)
                diff = abs(obs - as_float)
                # float(exact) and the subtraction each err by < one float64 ulp: when that is below
                # 2**-20 of the allowance (a float32 or half case) the float difference decides
                # everything; otherwise (float64 cases) the difference is taken exactly.
                slop = math.ulp(as_float) + math.ulp(diff)
                if slop <= allowed * 2.0**-20 and diff <= allowed * (1 - 2.0**-19):
                    frac = diff / allowed
                else:
                    diff_exact = abs(Fraction(obs) - exact)
                    diff = float(diff_exact)
                    frac = diff / allowed if allowed > 0 else (0.0 if diff_exact == 0 else math.inf)
            if diff_exact_within(diff, allowed, obs, exact):
                if bound_vacuous(allowed, previous, after, tiny):
                    counts["ill_conditioned"] += 1
                    reasons[BOUND_VACUOUS] = reasons.get(BOUND_VACUOUS, 0) + 1
                    continue
                worst = max(worst, frac)
                counts["within"] += 1
                continue
            worst = max(worst, frac)
            counts["outside"] += 1
            if first is None:
                ulps = math.inf
                if math.isfinite(diff) and isinstance(exact, Fraction):
                    ulps = ulps_between(obs, exact, fmt)
                first = Failure(k + 1, i, obs, exact, allowed, ulps, frac)
    passed = counts["outside"] == 0
    return Judgement(passed, counts, first, worst, precision, slack, None, reasons)


def _as_float(x: Any) -> float:
    """An exact value as float64 (NaN for a non-finite or unknown one: never vacuous, see bound_vacuous)."""
    try:
        out = float(x)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def judge_compensated(case: Case, observation: Observation, precision: PrecisionModel, slack: float) -> Judgement:
    """The verdict under Kahan summation: ``params + compensation`` against the exact parameter
    (:mod:`adamw_oracle.verify.kahan`)."""
    out = judge_kahan_elements(case, observation, precision, slack)
    first = None if out.first is None else Failure(*out.first)
    return Judgement(out.error is None and out.counts["outside"] == 0, out.counts, first, out.worst, precision, slack,
                     out.error, out.reasons)


def diff_exact_within(diff: float, allowed: float, observed: float, exact: Any) -> bool:
    """``|observed - exact| <= allowed`` for a ``diff`` that is within 2**-19 relative of the true
    difference (see :func:`judge`); decided exactly when it is borderline."""
    if not math.isfinite(diff):
        return False
    if diff < allowed * (1 - 2.0**-18):
        return True
    return abs(Fraction(observed) - exact) <= Fraction(allowed)


def unjudgeable(case: Case, observation: Observation, precision: PrecisionModel, slack: float) -> Judgement | None:
    """The verdict on an observation that cannot be compared element by element (the implementation
    raised, or returned parameters of the wrong shape): every element-step outside; else None."""
    steps, n = case.run.steps, case.run.size
    params = np.asarray(observation.params, dtype=np.float64)
    if observation.error is None and params.shape == (steps, n):
        return None
    detail = observation.error or f"params has shape {params.shape}, expected {(steps, n)}"
    counts = {"within": 0, "outside": steps * n, "ill_conditioned": 0}
    return Judgement(False, counts, None, math.inf, precision, slack, detail)
