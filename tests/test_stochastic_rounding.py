"""Stochastic rounding to bfloat16: a statistical model that tells it from round-to-nearest and from
biased roundings (verify/stochastic.py), and the precision model of its running bound."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from adamw_oracle import Dtype, Run, preset
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.precision import FormatCost, ParamRounding, PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify import NumpyImplementation, judge
from adamw_oracle.verify.numpy_impl import NumpyVariant
from adamw_oracle.verify.stochastic import judge_stochastic_rounding


def _values(x: np.ndarray) -> tuple[float, ...]:
    return tuple(float(y) for y in np.asarray(x).astype(ml_dtypes.bfloat16).astype(np.float64))


def _case(lr: str = "0.01", n: int = 64, steps: int = 8, seed: int = 1, name: str = "torch.AdamW") -> Case:
    rng = np.random.default_rng(seed)
    grads = tuple(_values(row) for row in rng.normal(size=(steps, n)))
    return Case(Run(preset(name, lr=lr, weight_decay="0.01"), _values(rng.normal(size=n)), grads), Dtype.BFLOAT16)


def _run(rounding: str, case: Case, seed: int = 0) -> Observation:
    return NumpyImplementation(NumpyVariant(param_rounding=rounding, seed=seed)).run(case)


def test_the_model_is_bfloat16_only_and_costs_a_full_spacing() -> None:
    model = PrecisionModel.stochastic()
    assert model.param_rounding is ParamRounding.STOCHASTIC and model.param_cost().unit_roundoff == 2.0**-7
    assert "rounded stochastically" in model.describe()
    assert PrecisionModel.stochastic("float16") == PrecisionModel.mixed("float16")
    assert FormatCost.stochastic(Dtype.BFLOAT16).name != FormatCost.of(Dtype.BFLOAT16).name
    for bad in (("float32", "float32", "float16"), ("bfloat16", "bfloat16", "bfloat16")):
        with pytest.raises(InvalidArgumentError) as err:
            PrecisionModel(*bad, param_rounding="stochastic")
        assert err.value.argument == "param_rounding"
    with pytest.raises(InvalidArgumentError):
        judge_stochastic_rounding(_case(), _run("stochastic", _case()), alpha=0.0)


@pytest.mark.parametrize("name", ["torch.AdamW", "torch.Adam", "torch.SGD"])
def test_stochastic_rounding_passes_for_every_seed_tried(name: str) -> None:
    """20 independent roundings of each case: none is a false alarm (each has probability <= 1e-6)."""
    case = _case(name=name)
    for seed in range(20):
        verdict = judge_stochastic_rounding(case, _run("stochastic", case, seed))
        assert verdict.passed, verdict.describe()
        assert judge(case, _run("stochastic", case, seed), precision=PrecisionModel.stochastic()).passed


@pytest.mark.parametrize("rounding", ["nearest", "toward_zero", "away_from_zero"])
@pytest.mark.parametrize("lr", ["0.01", "0.001"])
def test_round_to_nearest_and_biased_roundings_fail_the_frequency_test(rounding: str, lr: str) -> None:
    """1024 element-steps: enough that round-to-nearest's missing roundings away below 1/2 show even
    when small steps (lr = 0.001) leave most fractional positions near 0 or 1."""
    case = _case(lr, n=128)
    verdict = judge_stochastic_rounding(case, _run(rounding, case))
    assert verdict.hard_failures == 0  # every stored value is a neighbour: only the frequencies tell
    assert not verdict.passed and not all(g.passed for g in verdict.groups), verdict.describe()
    # the running bound alone (a full spacing per store) cannot tell them apart
    assert judge(case, _run(rounding, case), precision=PrecisionModel.stochastic()).passed


def test_a_value_that_is_no_neighbour_fails_the_hard_check() -> None:
    case = _case()
    observed = _run("stochastic", case)
    params = observed.params.copy()
    params[3, 5] = float(np.nextafter(np.float32(params[3, 5]), np.float32(np.inf)))  # not a bfloat16
    params[5, 7] = params[5, 7] * (1 + 2.0**-6)  # two spacings away
    verdict = judge_stochastic_rounding(case, Observation(params))
    assert not verdict.passed and verdict.hard_failures >= 2  # (the next step resyncs from the bad value)
    assert "step=4, element=5" in (verdict.first_hard_failure or "")
    broken = judge_stochastic_rounding(case, Observation(np.empty((0, 64)), error="boom"))
    assert not broken.passed and broken.error == "boom"
