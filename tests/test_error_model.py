"""The error model and the judge: hand-derived bounds, GUIDE probes, verdicts, ULPs, conditioning."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given

from adamw_oracle import Conventions, Dtype, Hyperparameters, OptimizerConfig, Run
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import AmsGrad, EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.precision import hyperparameter_error
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.strategies import cases
from adamw_oracle.verify import SLACK, NumpyImplementation, PrecisionModel, bounded_trajectory, judge
from adamw_oracle.verify.mutations import mutation
from adamw_oracle.verify.numpy_impl import NumpyVariant

U64 = 2.0**-53


def _case(conv: Conventions, hyper: Hyperparameters, params, grads, dtype: Dtype) -> Case:
    return Case(Run(OptimizerConfig(conv, hyper), tuple(params), tuple(tuple(r) for r in grads)), dtype)


def _obs(rows) -> Observation:
    return Observation(np.array(rows, dtype=np.float64))


def test_hyperparameter_error_is_the_exact_rounding_error():
    # fl64(0.1) = 3602879701896397 / 2**55, so |fl64(0.1) - 0.1| = 0.2 / 2**55 = 1 / (5 * 2**55).
    assert hyperparameter_error(Fraction(1, 10), Dtype.FLOAT64) == pytest.approx(1 / (5 * 2**55), rel=1e-12)
    # fl32(0.1) = 13421773 / 2**27: the error 2 / (10 * 2**27) = 1/671088640 dominates the double's.
    assert hyperparameter_error(Fraction(1, 10), Dtype.FLOAT32) == pytest.approx(1 / 671088640, rel=1e-12)
    assert hyperparameter_error(Fraction(1, 2), Dtype.FLOAT16) == 0.0


def test_bound_of_one_sgd_step_matches_the_hand_derivation():
    # float64, p=1, g=1, lr=1/2: update = lr*g is exact but is charged u*0.5 + eta, then
    # p - update = 0.5 is charged u*(0.5 + e1) + eta: bound = u*0.5 + u*0.5 = u (to 1e-9 relative).
    case = _case(Conventions(Family.SGD), Hyperparameters(lr="0.5"), [1], [[1]], Dtype.FLOAT64)
    bound = bounded_trajectory(case).params[0][0]
    assert bound.exact == Fraction(1, 2)
    assert bound.bound == pytest.approx(U64, rel=1e-9)
    # three ulps of 0.5 (ulp = u) is outside u * SLACK; the report says so in ulps and bound fractions
    verdict = judge(case, _obs([[0.5 + 3 * U64]]))
    assert not verdict.passed
    failure = verdict.first_failure
    assert (failure.step, failure.element) == (1, 0)
    assert failure.ulps == pytest.approx(3.0)
    assert failure.bound == pytest.approx(SLACK * U64, rel=1e-9)
    assert failure.fraction_of_bound == pytest.approx(3.0 / SLACK, rel=1e-9)
    assert judge(case, _obs([[0.5]])).passed


def test_guide_eps_placement_probe_in_float32():
    # GUIDE: t=1, p=1, g=0.01, lr=1, eps=1, betas .9/.999: m-hat = g, v-hat = g^2, so the PyTorch form gives
    # p = 1 - g/(g + 1) (= 0.990099 for g = 0.01) and epsilon-hat gives 0.999684.
    g = float(np.float32(0.01))
    hyper = Hyperparameters(lr=1, eps=1)
    case = _case(Conventions(Family.ADAM), hyper, [1], [[g]], Dtype.FLOAT32)
    torch_form = float(np.float32(1 - g / (g + 1)))
    assert torch_form == pytest.approx(0.990099, abs=1e-6)
    assert judge(case, _obs([[torch_form]])).passed
    verdict = judge(case, _obs([[float(np.float32(0.999684))]]))
    assert not verdict.passed and verdict.first_failure.ulps > 1e4


def test_guide_amsgrad_probe_separates_raw_v_from_v_hat():
    # GUIDE: lr=1, eps=0, g=1 then 0: the second update is 0.669723 with the max of raw v, 0.473684 with v-hat.
    # Hand: m2/bc1 = 0.09/0.19; raw: vmax = 0.001, v~ = 0.001/0.001999; v-hat: max(1, 0.000999/0.001999) = 1.
    conv = Conventions(Family.ADAM, amsgrad=AmsGrad.MAX_RAW_V)
    case = _case(conv, Hyperparameters(lr=1, eps=0), [0], [[1], [0]], Dtype.FLOAT32)
    second = (0.09 / 0.19) / math.sqrt(0.001 / 0.001999)
    assert second == pytest.approx(0.669723, abs=1e-6)
    expected = [[-1.0], [float(np.float32(-1.0 - second))]]
    assert judge(case, _obs(expected)).passed
    broken = mutation("amsgrad_max_of_v_hat").run(case)
    assert broken.params[1, 0] == pytest.approx(-1.473684, abs=1e-5)
    assert not judge(case, broken).passed


def test_nan_and_broken_observations_fail_with_a_reason():
    case = _case(Conventions(Family.SGD), Hyperparameters(lr="0.5"), [1, 2], [[1, 1]], Dtype.FLOAT32)
    assert not judge(case, _obs([[0.5, math.nan]])).passed
    shape = judge(case, _obs([[0.5]]))
    assert not shape.passed and "shape" in shape.describe()
    raised = judge(case, Observation(np.empty((0, 2)), error="RuntimeError: boom"))
    assert not raised.passed and "boom" in raised.describe()


def test_overflow_is_set_aside_not_passed_silently():
    # float16: 60000 + 1*10000 = 70000 exceeds 65504, so the element is ill-conditioned (possible overflow).
    case = _case(Conventions(Family.SGD), Hyperparameters(lr=1), [60000], [[-10000]], Dtype.FLOAT16)
    verdict = judge(case, _obs([[math.inf]]))
    assert verdict.counts == {"within": 0, "outside": 0, "ill_conditioned": 1}
    assert verdict.ill_reasons == {"possible overflow": 1}
    assert "set aside" in verdict.describe()


def test_underflowing_second_moment_makes_the_divisor_ill_conditioned():
    # float32: g = 1e-30 gives g*g = 1e-60, far below the smallest subnormal (1.4e-45): v is lost to
    # underflow, sqrt(v) is not known to any relative accuracy and eps = 1e-30 cannot mask it.
    g = float(np.float32(1e-30))
    case = _case(Conventions(Family.ADAM), Hyperparameters(lr="0.001", eps=1e-30), [1], [[g]], Dtype.FLOAT32)
    verdict = judge(case, NumpyImplementation().run(case))
    assert verdict.counts["ill_conditioned"] == 1
    assert verdict.ill_reasons == {"ill-conditioned divisor": 1}


def test_half_precision_models():
    mixed = PrecisionModel.mixed("bfloat16")
    assert (mixed.arithmetic, mixed.state, mixed.param, mixed.scalars) == (Dtype.FLOAT32, Dtype.FLOAT32, Dtype.BFLOAT16, Dtype.FLOAT32)
    wide = PrecisionModel.conservative("float16")
    assert (wide.arithmetic, wide.scalars) == (Dtype.FLOAT16, Dtype.FLOAT32)
    with pytest.raises(InvalidArgumentError) as err:
        PrecisionModel("float12", "float32", "float32")
    assert err.value.argument == "arithmetic"


def test_float32_arithmetic_for_float64_parameters_is_a_model_and_bounds_such_an_implementation():
    """A float64-parameter implementation computing in float32 fails the float64 model and passes
    the model of its arithmetic, whose bound counts the rounding of p and g to float32 on every read."""
    model = PrecisionModel.float32_arithmetic("float64")
    assert (model.arithmetic, model.state, model.param, model.scalars) == (Dtype.FLOAT32, Dtype.FLOAT32, Dtype.FLOAT64, Dtype.FLOAT32)
    assert model.describe() == "float32 arithmetic and float32 state for float64 parameters"
    assert PrecisionModel.float32_arithmetic("bfloat16") == PrecisionModel.mixed("bfloat16")
    conv = Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR)
    g = 0.1  # not a float32 value: its rounding on read is part of the bound
    case = _case(conv, Hyperparameters(lr="0.01", weight_decay="0.1"), [1 / 3], [[g], [-g], [g]], Dtype.FLOAT64)
    observed = NumpyImplementation(NumpyVariant(arithmetic="float32")).run(case)
    assert not judge(case, observed).passed
    assert judge(case, observed, precision=model).passed
    read_only = bounded_trajectory(case, model).params[0][0].bound
    exact_inputs = bounded_trajectory(case, PrecisionModel("float32", "float32", "float32")).params[0][0].bound
    assert read_only > exact_inputs  # p = 1/3 and g = 0.1 are rounded to float32 first


def test_state_rounding_to_half_storage_widens_the_bound():
    conv = Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR, eps_placement=EpsPlacement.AFTER_ROOT)
    case = _case(conv, Hyperparameters(lr="0.01", weight_decay="0.1"), [1.5], [[0.25]] * 3, Dtype.BFLOAT16)
    mixed = bounded_trajectory(case, PrecisionModel.mixed(Dtype.BFLOAT16)).params[-1][0].bound
    wide = bounded_trajectory(case, PrecisionModel.conservative(Dtype.BFLOAT16)).params[-1][0].bound
    ulp = float(Dtype.BFLOAT16.format.ulp(Fraction(1.5)))
    assert ulp / 2 <= mixed < wide  # at least the final rounding to bfloat16; more with bfloat16 arithmetic


@given(cases(dtypes_=["float64", "float32"]))
def test_the_running_bound_is_rigorous_without_slack_for_the_reference_order(case):
    # The plain numpy variant performs the reference's operations (scalars in float64 at most more
    # accurate), so its error must be inside the unslackened bound.
    verdict = judge(case, NumpyImplementation().run(case), slack=1.0)
    assert verdict.passed, verdict.describe() + "\n" + repr(case)


def test_readme_verification_example_runs_as_printed(capsys):
    import contextlib
    import io
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("<!-- section: verification -->", 1)[1].split("<!-- section:", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    expected = [line.split("# ", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().strip().splitlines() == expected
