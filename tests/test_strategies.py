"""The public strategies: every draw is valid and exact in its dtype, and every edge value is reachable."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

import adamw_oracle.strategies as public
from adamw_oracle.contract import all_conventions
from adamw_oracle.contract.conventions import EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.verify import strategies as impl
from adamw_oracle.verify.distributed import draws_independent_of_imports

FIND = settings(max_examples=600, database=None, deadline=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck))


def _reachable(condition, strategy=None):
    """The first drawn case satisfying ``condition`` (fails the test when none is drawn). The draws
    depend only on the seed, not on which modules happen to be imported (their constants would
    otherwise feed Hypothesis's choices, so any new module could change what is reached)."""
    with draws_independent_of_imports():
        return find(strategy if strategy is not None else public.cases(), condition, settings=FIND,
                    random=random.Random(0))


def _exact_in(value: Fraction, dtype: Dtype) -> bool:
    return dtype.format.round(value) == value


def test_public_module_only_reexports():
    for name in public.__all__:
        assert getattr(public, name) is getattr(impl, name)


@given(public.cases())
def test_every_case_is_exact_in_its_dtype_and_valid(case):
    run, fmt = case.run, case.dtype.format
    assert run.config.conventions in all_conventions()
    for x in run.initial_params:
        assert _exact_in(x, case.dtype)
    largest = fmt.largest
    for row in run.gradients:
        for g in row:
            assert _exact_in(g, case.dtype)
            assert g * g <= largest  # g*g cannot overflow
    state = run.initial_state
    for x in (*state.m, *state.v, *state.vmax):
        assert _exact_in(x, case.dtype)
    for name, _value in run.config.hyper.as_dict().items():
        if name != "nesterov":
            exact = getattr(run.config.hyper, name)
            assert Fraction(float(exact)) == exact, f"{name} is not a float64 value"


def test_a_drawn_case_prints_readably():
    case = _reachable(lambda c: c.run.size >= 2 and c.run.steps > 5)
    text = repr(case)
    assert text.startswith(f"Case({case.dtype.value}, {case.run.size} elements x {case.run.steps} steps")
    assert "conventions: family=" in text and "hyper: lr=" in text and "more steps" in text


EDGES = {
    "lr = 0": lambda c: c.run.config.hyper.lr == 0,
    "tiny lr": lambda c: 0 < c.run.config.hyper.lr < Fraction(1, 10**8),
    "wd = 0 with a decay convention": lambda c: c.run.config.conventions.weight_decay is not WeightDecay.NONE
    and c.run.config.hyper.weight_decay == 0,
    "large lr*wd": lambda c: c.run.config.conventions.weight_decay is WeightDecay.DECOUPLED_LR
    and c.run.config.hyper.lr * c.run.config.hyper.weight_decay >= Fraction(1, 4),
    "beta2 = 0.999": lambda c: c.run.config.hyper.beta2 == Fraction(0.999),
    "beta2 = 0.9999": lambda c: c.run.config.hyper.beta2 == Fraction(0.9999),
    "beta2 = 0.95": lambda c: c.run.config.hyper.beta2 == Fraction(0.95),
    # every |g| below eps (>= 1) keeps sqrt(v-hat) below eps at every step: eps dominates the denominator
    "eps large relative to sqrt(v-hat)": lambda c: c.run.config.conventions.family is Family.ADAM
    and c.run.config.hyper.eps >= 1
    and 0 < max((abs(g) for r in c.run.gradients for g in r), default=0) < c.run.config.hyper.eps,
    "eps tiny": lambda c: c.run.config.conventions.family is Family.ADAM and c.run.config.hyper.eps <= Fraction(1, 10**12),
    "eps inside the root with eps_root > 0": lambda c: c.run.config.conventions.eps_placement is EpsPlacement.INSIDE_ROOT
    and c.run.config.hyper.eps_root > 0,
    "maximize with decay": lambda c: c.run.config.conventions.maximize and c.run.config.conventions.weight_decay.is_decoupled
    and c.run.config.hyper.weight_decay > 0,
    "exact zero gradients": lambda c: c.run.size > 0 and any(g == 0 for r in c.run.gradients for g in r),
    "gradients near eps": lambda c: c.run.config.conventions.family is Family.ADAM and any(
        g != 0 and Fraction(1, 2) <= abs(g) / c.run.config.hyper.eps <= 2 for r in c.run.gradients for g in r),
    "huge gradients": lambda c: any(abs(g) >= 2**10 for r in c.run.gradients for g in r),
    "sign flips": lambda c: c.run.steps >= 3 and any(
        c.run.gradients[0][i] != 0 and c.run.gradients[1][i] == -c.run.gradients[0][i] for i in range(c.run.size)),
    "one large gradient then small ones": lambda c: c.run.steps >= 3 and any(
        c.run.gradients[0][i] != 0 and abs(c.run.gradients[1][i]) * 100 <= abs(c.run.gradients[0][i])
        and c.run.gradients[1][i] == c.run.gradients[2][i] for i in range(c.run.size)),
    "past step 256": lambda c: c.run.initial_state.step < 256 < c.run.initial_state.step + c.run.steps,
    "past step 2048": lambda c: c.run.initial_state.step < 2048 < c.run.initial_state.step + c.run.steps,
    "a real run of more than 256 steps": lambda c: c.run.steps > 256,
    "zero-size": lambda c: c.run.size == 0,
    "size a multiple of 8 (not 16)": lambda c: c.run.size == 8,
    "size a multiple of 16": lambda c: c.run.size == 16,
    "sizes just off multiples of 8/16": lambda c: c.run.size in (7, 9, 15, 17),
    "SGD with Nesterov": lambda c: c.run.config.hyper.nesterov,
    "SGD with dampening": lambda c: c.run.config.hyper.dampening > 0,
    "scheduled decay": lambda c: c.run.config.conventions.weight_decay is WeightDecay.DECOUPLED_SCHEDULE
    and c.run.config.hyper.schedule_multiplier != 1,
    **{f"dtype {d.value}": (lambda c, d=d: c.dtype is d) for d in Dtype},
}


@pytest.mark.parametrize("edge", list(EDGES))
def test_edge_values_are_reachable(edge):
    _reachable(EDGES[edge])


def test_schedules_can_be_switched_off_for_single_learning_rate_frameworks():
    conventions = [c for c in all_conventions() if c.weight_decay is not WeightDecay.DECOUPLED_SCHEDULE]

    @given(public.cases(conventions, schedules=False))
    def check(case):
        assert case.run.config.hyper.schedule_multiplier == 1

    check()


def test_restrictions_are_respected():
    only = [c for c in all_conventions() if c.family is Family.SGD]

    @given(public.cases(only, ["bfloat16"], max_size=4, max_steps=3, long_runs=False, seeded=False))
    def check(case):
        assert case.run.config.conventions.family is Family.SGD and case.dtype is Dtype.BFLOAT16
        assert case.run.size <= 4 and case.run.steps <= 3 and case.run.initial_state.step == 0

    check()


def _amsgrad_conventions():
    from adamw_oracle.contract.conventions import AmsGrad

    return [c for c in all_conventions() if c.family is Family.ADAM and c.amsgrad is not AmsGrad.OFF]


@settings(max_examples=40, deadline=None)
@given(impl.cases(_amsgrad_conventions(), ["float32", "bfloat16"], max_steps=6, long_runs=False, seeded=False,
                  amsgrad_fall_percent=100))
def test_the_amsgrad_fall_family_makes_v_rise_then_fall_within_the_run(case):
    """Every element's v (computed in float64 from the drawn gradients) ends at least 5% below its running
    maximum, with beta2 and lr from the family's pools: AMSGrad's maximum changes the update."""
    import numpy as np

    h = case.run.config.hyper
    assert float(h.beta2) in impl.AMSGRAD_FALL_BETA2S and float(h.lr) in impl.AMSGRAD_FALL_LRS
    if case.run.size == 0:
        return
    assert case.run.steps >= 3
    b2, v, top = float(h.beta2), np.zeros(case.run.size), np.zeros(case.run.size)
    for row in case.gradients():
        v = b2 * v + (1 - b2) * row * row
        top = np.maximum(top, v)
    assert np.all(v <= top / 1.05), (v, top)


def test_the_amsgrad_fall_family_keeps_a_restricted_range():
    case = _reachable(lambda c: c.run.steps >= 3, impl.cases(
        _amsgrad_conventions(), ["float32"], long_runs=False, seeded=False, amsgrad_fall_percent=100,
        bounds={"beta2": (0.95, 0.99), "lr": (0.05, 0.2)}))
    assert 0.95 <= float(case.run.config.hyper.beta2) <= 0.99 and float(case.run.config.hyper.lr) == 0.1
