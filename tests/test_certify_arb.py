"""The arb fast path (reference/certify_arb.py) against mpmath's certify_run, the reference of record."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

pytest.importorskip("flint")

from adamw_oracle import (  # noqa: E402
    Conventions,
    EpsPlacement,
    Family,
    Hyperparameters,
    OptimizerConfig,
    Run,
    WeightDecay,
    all_conventions,
    constant_gradients,
    exact_state,
    preset,
)
from adamw_oracle.errors import CertificationError, InvalidArgumentError  # noqa: E402
from adamw_oracle.reference import certify_run  # noqa: E402
from adamw_oracle.reference.arb_backend import ArbBackend, ball_ends  # noqa: E402
from adamw_oracle.reference.certify_arb import certify_run_arb  # noqa: E402

GRADIENTS = (("0.5", "-0.25"), ("-1.5", "0.125"), ("0.0625", "-2"))


def _config(conv: Conventions) -> OptimizerConfig:
    wd = "0" if conv.weight_decay is WeightDecay.NONE else "0.1"
    eps_root = "0.001" if conv.family is Family.ADAM and conv.eps_placement is EpsPlacement.INSIDE_ROOT else "0"
    extra = {"momentum": "0.9"} if conv.family is Family.SGD else {}
    hyper = Hyperparameters(lr="0.01", weight_decay=wd, eps="1e-3", eps_root=eps_root, schedule_multiplier="0.5", **extra)
    return OptimizerConfig(conv, hyper)


def _run(conv: Conventions) -> Run:
    # a seeded state with a large vmax on element 0, so AMSGrad's maximum is exercised both ways
    state = exact_state(3, ["0.1", "-0.2"], ["0.3", "0.01"], ["2", "0"])
    if conv.family is Family.SGD:
        state = None
    return Run(_config(conv), ("0.75", "-1.25"), GRADIENTS, state)


@pytest.mark.parametrize("conv", all_conventions(), ids=lambda c: c.describe().replace(", ", "|"))
def test_agrees_with_the_reference_of_record_for_every_convention(conv: Conventions) -> None:
    run = _run(conv)
    record = certify_run(run, 30, quantities=["p_new"])
    fast = certify_run_arb(run, 30)
    for k in range(run.steps):
        for i in range(run.size):
            certified = record.steps[k][i]["p_new"]
            low, high = fast.ends(k, i)
            assert low <= certified.upper and certified.lower <= high  # both enclose the exact value
            assert fast.decimal(k, i) == certified.decimal
            assert high - low <= abs(certified.midpoint) * Fraction(1, 10**30)


def test_seed_001_anchor_matches_the_certified_value_quoted_in_the_project_brief() -> None:
    run = Run(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), ("0.8",), constant_gradients(["-0.3"], 5))
    assert certify_run_arb(run, 30).decimal(4, 0) == "8.04959900634328667228787680374e-01"


def test_fifty_digits_are_reached_and_flint_precision_is_restored() -> None:
    import flint

    before = flint.ctx.prec
    run = Run(preset("torch.Adam", lr="0.001", weight_decay="0.01"), ("0.8", "-3"), constant_gradients(["-0.3", "1e-3"], 20))
    result = certify_run_arb(run, 50)
    assert flint.ctx.prec == before
    for row in result.params:
        for ball in row:
            assert ball.rel_accuracy_bits() >= math.ceil(50 * math.log2(10))


def test_exact_zero_computed_inexactly_raises_certification_error() -> None:
    # p - lr*wd*p - update with p chosen so the result is exactly 0 is not certifiable by relative accuracy:
    # AdamW, t=1, g=1: update = lr*1/(1+eps); p*(1-lr*wd) = update when p = update/(1-lr*wd).
    lr, wd, eps = Fraction(1, 10), Fraction(1, 2), Fraction(1, 1000)
    p = lr / (1 + eps) / (1 - lr * wd)
    config = preset("torch.AdamW", lr=lr, weight_decay=wd, eps=eps)
    with pytest.raises(CertificationError, match="step index 0, element 0"):
        certify_run_arb(Run(config, (p,), (("1",),)), 20, max_prec=256)


@pytest.mark.parametrize("kwargs, argument", [({"digits": 0}, "digits"), ({"max_prec": 10}, "max_prec")])
def test_bad_arguments_name_the_argument(kwargs: dict, argument: str) -> None:
    run = Run(preset("torch.AdamW"), ("1",), (("1",),))
    with pytest.raises(InvalidArgumentError, match=argument):
        certify_run_arb(run, **kwargs)


def test_non_finite_gradient_is_refused() -> None:
    run = Run(preset("torch.AdamW"), ("1",), ((math.inf,),))
    with pytest.raises(InvalidArgumentError, match="run.gradients"):
        certify_run_arb(run)


def test_backend_const_is_exact_for_binary_floats_and_encloses_decimals() -> None:
    backend = ArbBackend(100)
    with backend.scope():
        low, high = ball_ends(backend.const(Fraction(0.1)))
        assert low == high == Fraction(0.1)
        low, high = ball_ends(backend.const(Fraction(1, 10)))
        assert low < Fraction(1, 10) < high and high - low < Fraction(1, 2**95)
