"""A convention that exists in one layer exists in all: every member of the contract's enums that the
layers branch on is computed by the reference, the symbolic step, the numpy implementation and the
GPU host build, and each layer's answer is the member's own (not a neighbouring member's default)."""
from __future__ import annotations

from fractions import Fraction

import pytest

from adamw_oracle.contract import Conventions, Dtype, Hyperparameters, OptimizerConfig, Run, WeightDecay
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import EpsPlacement
from adamw_oracle.contract.precision import ParamRounding, ParamSummation, PrecisionModel
from adamw_oracle.gpu import HostBuildImplementation
from adamw_oracle.gpu.codes import ROUNDING_CODES, SUMMATION_CODES, decode_flags, flags_for
from adamw_oracle.reference import mpf_to_fraction, run_trajectory
from adamw_oracle.symbolic import lambdified_step
from adamw_oracle.verify import NumpyImplementation, judge
from adamw_oracle.verify.numpy_impl import NumpyVariant


def _case(eps: EpsPlacement) -> Case:
    """Two steps where every eps placement gives a different parameter (sqrt(v-hat) = 2^-7 > eps = 2^-8)."""
    hyper = Hyperparameters(lr=Fraction(1, 16), eps=Fraction(1, 256),
                            eps_root=Fraction(1, 1024) if eps is EpsPlacement.INSIDE_ROOT else 0, weight_decay="0.01")
    config = OptimizerConfig(Conventions(weight_decay=WeightDecay.DECOUPLED_LR, eps_placement=eps), hyper)
    return Case(Run(config, (1.0, -0.5), ((2.0**-7, 2.0**-3), (2.0**-7, -(2.0**-5)))), Dtype.FLOAT64)


def _reference(case: Case) -> list[Fraction]:
    return [mpf_to_fraction(e.p_new) for e in run_trajectory(case.run).steps[-1]]


@pytest.mark.parametrize("eps", list(EpsPlacement), ids=lambda e: e.value)
def test_every_eps_placement_is_the_same_in_every_layer(eps: EpsPlacement) -> None:
    cases = {member: _case(member) for member in EpsPlacement}
    reference = {member: _reference(case) for member, case in cases.items()}
    assert len({tuple(r) for r in reference.values()}) == len(EpsPlacement)  # the case tells every member apart
    case = cases[eps]
    # symbolic: the lambdified one-step formula of the member, from the reference's state after step 1
    first = run_trajectory(case.run).steps[0]
    step = lambdified_step(case.run.config)
    for i, e in enumerate(first):
        out = step(mpf_to_fraction(e.p_new), case.run.gradients[1][i], mpf_to_fraction(e.m), mpf_to_fraction(e.v), 0, 2,
                   prec=256)
        assert abs(mpf_to_fraction(out["p_new"]) - reference[eps][i]) < Fraction(1, 10**60)
    # numpy and the GPU host build: within the member's bound, outside every other member's
    for impl in (NumpyImplementation(), HostBuildImplementation()):
        observed = impl.run(case)
        assert judge(case, observed).passed, (impl.name, eps)
        for other in EpsPlacement:
            if other is not eps:
                assert not judge(cases[other], observed).passed, (impl.name, eps, other)


def test_every_rounding_and_summation_member_has_a_model_a_code_and_implementations() -> None:
    run = _case(EpsPlacement.AFTER_ROOT).run  # its values are bfloat16 values too
    config = run.config
    for rounding in ParamRounding:
        word = flags_for(config, rounding)
        assert decode_flags(word)["ROUNDING"] == ROUNDING_CODES[rounding]
        host = HostBuildImplementation(rounding=rounding)
        numpy = NumpyImplementation(NumpyVariant(param_rounding=rounding.value))
        for impl in (host, numpy):
            assert impl.precision_model(Dtype.BFLOAT16).param_rounding is rounding
    for summation in ParamSummation:
        word = flags_for(config, summation=summation)
        assert decode_flags(word)["SUMMATION"] == SUMMATION_CODES[summation]
        kahan = summation is ParamSummation.KAHAN
        for impl in (HostBuildImplementation(summation=summation), NumpyImplementation(NumpyVariant(kahan=kahan))):
            model = impl.precision_model(Dtype.BFLOAT16)
            assert model.param_summation is summation
            assert (impl.run(Case(run, Dtype.BFLOAT16)).compensation is not None) == kahan
    assert PrecisionModel.kahan("float64").param_summation is ParamSummation.KAHAN
