"""The three-way fuzz: reference vs symbolic enclosures; GPU host build and numpy within the error model."""
from __future__ import annotations

from fractions import Fraction

import pytest

from adamw_oracle.cli import main
from adamw_oracle.contract import Conventions, Dtype, Hyperparameters, OptimizerConfig, Run, all_conventions
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import EpsPlacement, Family, WeightDecay
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.symbolic import interval_step
from adamw_oracle.verify import three_way_fuzz
from adamw_oracle.verify.fuzz import FuzzSummary, check_case, default_implementations
from adamw_oracle.verify.layers import symbolic_disagreements


def test_three_way_fuzz_ci_budget_passes_with_every_layer_present():
    summary = three_way_fuzz(40, 0)
    assert summary.skipped == {}, summary.describe()
    assert summary.passed, summary.describe()
    assert summary.failures == 0 and summary.cases == 40
    assert summary.symbolic_checks == 40 and summary.judged > 0
    assert set(summary.per_dtype) == {d.value for d in Dtype}
    assert "gpu-host-build" in summary.max_ratio


def _sweep_hyper(conv) -> Hyperparameters:
    values = {"lr": 0.01}
    if conv.weight_decay is not WeightDecay.NONE:
        values["weight_decay"] = 0.1
    if conv.weight_decay is WeightDecay.DECOUPLED_SCHEDULE:
        values["schedule_multiplier"] = 0.5
    if conv.family is Family.ADAM:
        values.update(beta1=0.9, beta2=0.999, eps=1e-3)
        if conv.eps_placement is EpsPlacement.INSIDE_ROOT:
            values["eps_root"] = 1e-8
    else:
        values.update(momentum=0.9, nesterov=True)
    return Hyperparameters(**values)


def test_every_convention_in_every_dtype_round_robin():
    """Each of the contract's conventions once (the dtype cycles through all four), all three layers."""
    summary = FuzzSummary()
    impls = default_implementations(summary)
    dtypes = list(Dtype)
    for index, conv in enumerate(all_conventions()):
        dtype = dtypes[index % len(dtypes)]
        fmt = dtype.format
        params = tuple(fmt.round(Fraction(x)) for x in (0.75, -1.5))
        grads = tuple(tuple(fmt.round(Fraction(g)) for g in row) for row in ((0.25, -0.5), (-0.25, 0.0), (0.125, 2.0)))
        case = Case(Run(OptimizerConfig(conv, _sweep_hyper(conv)), params, grads), dtype)
        check_case(case, impls, summary, interval_step)
    assert summary.skipped == {}
    assert summary.passed, summary.describe()
    assert summary.cases == len(all_conventions()) and summary.symbolic_checks == summary.cases


def test_reference_symbolic_comparison_detects_a_wrong_formulation():
    # The symbolic step of epsilon-hat compared with a reference run of the PyTorch form must disagree
    # (GUIDE probe: 0.990099 vs 0.999684), so the overlap test is not vacuous.
    torch_form = OptimizerConfig(Conventions(Family.ADAM), Hyperparameters(lr=1, eps=1))
    eps_hat = torch_form.replace(conventions=torch_form.conventions.replace(eps_placement=EpsPlacement.EPSILON_HAT))
    case = Case(Run(torch_form, (Fraction(1),), ((Fraction(1, 100),),)), Dtype.FLOAT64)
    assert symbolic_disagreements(case, interval_step(torch_form)) == []
    found = symbolic_disagreements(case, interval_step(eps_hat))
    assert {d.quantity for d in found} >= {"denom", "update", "p_new"}
    assert "reference" in found[0].describe()


def test_argument_errors_name_the_argument():
    with pytest.raises(InvalidArgumentError) as err:
        three_way_fuzz(0, 1)
    assert err.value.argument == "examples"
    with pytest.raises(InvalidArgumentError) as err:
        three_way_fuzz(3, "seven")  # type: ignore[arg-type]
    assert err.value.argument == "seed"


def test_cli_fuzz(capsys):
    assert main(["fuzz", "--examples", "5", "--seed", "3", "--no-symbolic"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("three-way fuzz: 5 cases") and "0 failures" in out
    assert main(["fuzz", "--examples", "0"]) == 2
    assert "--examples=0" in capsys.readouterr().err


def test_the_fuzz_reports_a_broken_implementation():
    from adamw_oracle.verify.mutations import mutation

    summary = three_way_fuzz(10, 0, implementations=[mutation("eps_dropped")], symbolic=False)
    assert not summary.passed and summary.failures >= 1
    assert "FAIL eps_dropped" in summary.describe()
