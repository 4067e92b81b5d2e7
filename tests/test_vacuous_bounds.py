"""A finite bound wider than the step's own values proves nothing: within it is "set aside", not "within".

The SGD run of tests/test_soundness.py (c = lr * wd = 0.95) grows its running bound by about 1.95 a
step while the exact parameter settles at -0.25: at step 1030 of the float64 run the slackened bound is
1.8e283, far inside float64's range (so "bound overflow" does not apply), and an implementation that
wrote 1e280 there was counted within. The rule (tracked.bound_vacuous): an observation within a bound
``allowed > max(|p before| + |p after|, smallest normal)`` is set aside with reason "bound vacuous"; an
observation outside it is still outside (the bound is sound). So a judge's outside count and first
failure never change, and within only moves to set aside.
"""
from __future__ import annotations

import copy
import importlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adamw_oracle.check.runner import check_target
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import FormatCost, PrecisionModel
from adamw_oracle.verify.array_backend import ArrayBackend
from adamw_oracle.verify.error_model import bounded_trajectory
from adamw_oracle.verify.judge import SLACK, Judgement, judge
from adamw_oracle.verify.layers import natural_precision
from adamw_oracle.verify.mutations import MUTATIONS
from adamw_oracle.verify.numpy_impl import NumpyImplementation, NumpyVariant
from adamw_oracle.verify.resync import _compare, _Tally, judge_resynced
from adamw_oracle.verify.strategies import cases
from adamw_oracle.verify.tracked import BOUND_OVERFLOW, BOUND_VACUOUS, bound_vacuous, vacuity_constants
from adamw_oracle.verify.vectorized import judge_kahan_arrays, judge_vectorized
from tests.test_soundness import growing_case

STEPS = 1030  # the slackened bound of element 0 at the last step: 1.8e283 on an exact -0.25


class WritesAt(NumpyImplementation):
    """A broken implementation: correct except that it writes ``value`` as every parameter at the last step."""

    def __init__(self, value: float, variant: NumpyVariant | None = None) -> None:
        super().__init__(variant, name=f"writes-{value}")
        self.value = value

    def run(self, case: Case) -> Observation:
        out = super().run(case)
        params = np.array(out.params)
        params[-1] = self.value
        return Observation(params, dict(out.state), compensation=out.compensation)


def trajectory_judges(case: Case, observation: Observation, precision: PrecisionModel) -> dict[str, Judgement]:
    return {"mpmath": judge(case, observation, precision=precision),
            "array": judge_vectorized(case, observation, precision, fused=False),
            "fused": judge_vectorized(case, observation, precision, fused=True)}


def test_the_loose_bound_of_the_example_is_finite_and_in_range_but_vacuous() -> None:
    case = growing_case("float64", STEPS)
    last = bounded_trajectory(case, PrecisionModel.conservative("float64")).params[-1][0]
    allowed = SLACK * last.bound
    assert float(last.exact) == -0.25 and 1e283 < allowed < 1e284 and last.flags == 0
    f64, f32 = vacuity_constants(Dtype.FLOAT64.format), vacuity_constants(Dtype.FLOAT32.format)
    assert f64 == (2.0**-53, 2.0**-1022) and f32 == (2.0**-24, 2.0**-126)
    assert bound_vacuous(allowed, -0.25, -0.25, f64)
    # vacuous once the bound exceeds the step's values by more than 1/u
    assert not bound_vacuous(2.0**52, -0.25, -0.25, f64) and bound_vacuous(2.0**53, -0.25, -0.25, f64)
    # a bound many times a tiny step's values from operands larger than them (torch's lerp charges u*|m| to
    # a new m near 0: a float32 step from 0 to 1.3e-10 with bound 3e-9, drawn by check) is judged
    assert not bound_vacuous(6e-9, 0.0, 1.3e-10, f32)
    # at the format's absolute resolution an exact 0 stays judged; a NaN operand is never vacuous
    assert not bound_vacuous(2.0**-1000, 0.0, 0.0, f64) and not bound_vacuous(1.0, math.nan, 0.0, f64)


def test_a_value_inside_a_vacuous_bound_is_set_aside_by_every_trajectory_judge() -> None:
    case = growing_case("float64", STEPS)
    precision = PrecisionModel.conservative("float64")
    n = case.run.size
    correct = trajectory_judges(case, NumpyImplementation().run(case), precision)
    broken = trajectory_judges(case, WritesAt(1e280).run(case), precision)
    reference = correct["mpmath"]
    assert 0 < reference.counts["within"] < STEPS * n and reference.ill_reasons[BOUND_VACUOUS] > 0
    for name in correct:
        for j in (correct[name], broken[name]):
            assert j.passed and j.counts == reference.counts and j.ill_reasons == reference.ill_reasons, (name, j.describe())
            assert BOUND_OVERFLOW not in j.ill_reasons  # the bound is finite and in range: only the new rule applies
            assert "bound vacuous" in j.describe()


@pytest.mark.parametrize("value", [math.inf, math.nan, 1e300])
def test_a_value_outside_a_vacuous_bound_is_still_outside(value: float) -> None:
    case = growing_case("float64", STEPS)
    precision = PrecisionModel.conservative("float64")
    for name, j in trajectory_judges(case, WritesAt(value).run(case), precision).items():
        assert not j.passed and j.counts["outside"] == case.run.size, (name, j.describe())
        assert j.first_failure is not None and j.first_failure.step == STEPS


def test_both_kahan_judges_set_aside_a_value_inside_a_vacuous_bound() -> None:
    case = growing_case("float64", 200)
    precision = PrecisionModel.kahan("float64")
    for value, outside in ((None, 0), (1e10, 0), (math.inf, 2)):
        impl = NumpyImplementation(NumpyVariant(kahan=True)) if value is None else WritesAt(value, NumpyVariant(kahan=True))
        observation = impl.run(case)
        exact = judge(case, observation, precision=precision)
        arrays = judge_kahan_arrays(case, observation, precision, SLACK)
        assert (arrays.counts, arrays.ill_reasons) == (exact.counts, exact.ill_reasons)
        assert exact.counts["outside"] == outside and exact.ill_reasons.get(BOUND_VACUOUS, 0) > 0, exact.describe()


@pytest.mark.parametrize(("observed", "verdict"), [(1e280, "vacuous"), (0.3, "vacuous"), (1e290, "outside")])
def test_the_per_step_comparison_sets_aside_within_a_vacuous_bound(observed: float, verdict: str) -> None:
    fmt = FormatCost.of(Dtype.FLOAT64)
    bounded = ArrayBackend(fmt, double_double=False).array(np.array([-0.25]))
    bounded.e = np.array([1e283])
    tally = _Tally()
    reasons: dict[str, int] = {}
    _compare(np, tally, "param", bounded, np.zeros(1, dtype=np.uint8), np.array([observed]), np.arange(1), 1,
             SLACK, fmt, reasons, np.zeros(1, dtype=bool), before=np.array([-0.25]))
    expected = ((0, 0, 1, {BOUND_VACUOUS: 1}) if verdict == "vacuous" else (0, 1, 0, {}))
    assert (tally.within, tally.outside, tally.ill, reasons) == expected


def _never_vacuous(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("judge", "vectorized", "resync", "kahan", "kahan_vectorized"):  # the package shadows some names
        monkeypatch.setattr(importlib.import_module(f"adamw_oracle.verify.{name}"), "bound_vacuous", lambda *args: False)


def _compare_with_the_rule_off(case: Case, impl: NumpyImplementation) -> int:
    """Judge ``impl``'s run of ``case`` with and without the rule (mpmath, array, per-step judges):
    outside counts, first failures, verdicts and every other set-aside reason are unchanged, and within
    = within without the rule - the vacuous ones. Returns the vacuous count of the mpmath judge."""
    impl = copy.copy(impl)
    impl.exposes_state = True  # its state after every step, for the per-step judge
    observation = impl.run(case)
    precision = natural_precision(impl, case)

    def verdicts() -> list[Judgement]:
        out = [judge(case, observation, precision=precision), judge_vectorized(case, observation, precision, fused=False)]
        if observation.step_states:
            out.append(judge_resynced(case, observation, precision, fused=False))
        return out

    with_rule = verdicts()
    with pytest.MonkeyPatch.context() as mp:
        _never_vacuous(mp)
        without = verdicts()
    for new, old in zip(with_rule, without):
        vacuous = new.ill_reasons.get(BOUND_VACUOUS, 0)
        assert new.counts["outside"] == old.counts["outside"]
        assert repr(new.first_failure) == repr(old.first_failure)  # (repr: an observed NaN is not equal to itself)
        assert new.counts["within"] == old.counts["within"] - vacuous
        assert {k: v for k, v in new.ill_reasons.items() if k != BOUND_VACUOUS} == old.ill_reasons
        assert new.passed == old.passed
    return with_rule[0].ill_reasons.get(BOUND_VACUOUS, 0)


@settings(max_examples=20, deadline=None)
@given(cases(max_size=5, max_steps=6), st.data())
def test_the_rule_only_moves_within_to_set_aside(case: Case, data: st.DataObject) -> None:
    impl = data.draw(st.sampled_from([NumpyImplementation(), *[m for m in MUTATIONS if m.applies(case.run.config.conventions)][:4]]))
    _compare_with_the_rule_off(case, impl)


@pytest.mark.parametrize("impl", [NumpyImplementation(), WritesAt(1e280), WritesAt(math.inf), WritesAt(0.3)],
                         ids=["correct", "1e280", "inf", "0.3"])
@pytest.mark.parametrize(("dtype", "steps"), [("float16", 30), ("float64", 200)])
def test_the_rule_only_moves_within_to_set_aside_on_a_compounding_bound(impl: NumpyImplementation, dtype: str,
                                                                        steps: int) -> None:
    assert _compare_with_the_rule_off(growing_case(dtype, steps), impl) > 0


def test_check_reports_the_vacuous_bounds_among_the_set_aside_reasons() -> None:
    case = growing_case("float64", 200)
    report = check_target(NumpyImplementation(), expect="torch.SGD", dtype="float64", cases=[case])
    assert "bound vacuous" in report.describe(), report.describe()


def test_the_stochastic_judge_sets_aside_a_neighbour_of_a_vacuous_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # its one-step bounds are never 1/u times the step's values in a drawn case, so the rule is forced here:
    # every element-step within its (vacuous) neighbour set is set aside, one outside it still fails
    from adamw_oracle.contract.presets import preset
    from adamw_oracle.contract.run import Run
    from adamw_oracle.verify.stochastic import judge_stochastic_rounding

    case = Case(Run(preset("torch.Adam", lr="0.001"), ("0.5", "-1"), [("0.25", "0.5")] * 3), "bfloat16")
    impl = NumpyImplementation(NumpyVariant(param_rounding="stochastic"))
    observation = impl.run(case)
    precision = PrecisionModel.stochastic("bfloat16")
    judged = judge_stochastic_rounding(case, observation, precision)
    assert judged.checked == 6 and judged.set_aside == 0
    monkeypatch.setattr(importlib.import_module("adamw_oracle.verify.stochastic"), "bound_vacuous", lambda *args: True)
    aside = judge_stochastic_rounding(case, observation, precision)
    assert (aside.checked, aside.set_aside, aside.verdict) == (0, 6, "INCONCLUSIVE")
    params = np.array(observation.params)
    params[1, 0] = 7.0
    broken = judge_stochastic_rounding(case, Observation(params), precision)
    assert not broken.passed and broken.first_hard_failure is not None  # (step 3 resyncs from 7.0: fails too)
    assert broken.first_hard_failure.startswith("out[step=2, element=0]=7.0")
