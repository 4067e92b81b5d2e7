"""Real third-party optimizers (the ``thirdparty`` extra: torch-optimi, torchao), checked and identified
through their import paths, as a user would: what the target table (adamw_oracle/adapters/targets.py)
declares about them is what they really do on the CPU.

torchao's optimizers run ``torch.compile`` on every step (inductor, a C++ compiler on the CPU): each
new shape or dtype compiles once, so its tests are few and small.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from adamw_oracle import Run, preset
from adamw_oracle.adapters import resolve_target
from adamw_oracle.adapters.targets import IMPORT_PATH_TARGETS_BY_NAME
from adamw_oracle.adapters.torch import TorchImplementation
from adamw_oracle.check import check_target, identify
from adamw_oracle.check.known import reproduce
from adamw_oracle.cli import main
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify import judge

pytest.importorskip("torch")

F64, F32, BF16, F16 = Dtype.FLOAT64, Dtype.FLOAT32, Dtype.BFLOAT16, Dtype.FLOAT16


def _optimi() -> None:
    pytest.importorskip("optimi", reason="the thirdparty extra (torch-optimi) is not installed")


def _torchao() -> None:
    pytest.importorskip("torchao", reason="the thirdparty extra (torchao) is not installed")


def _known(target: str, kid: str):
    return next(k for k in IMPORT_PATH_TARGETS_BY_NAME[target].known if k.id == kid)


def _f32_for_f64_expressible() -> bool:
    try:
        PrecisionModel(F32, F32, F64)
    except InvalidArgumentError:
        return False
    return True


# -- torch-optimi --------------------------------------------------------------------------------------

def test_cli_check_optimi_adamw_as_torch_adamw(capsys: pytest.CaptureFixture[str]) -> None:
    _optimi()
    assert main(["check", "optimi:AdamW", "--expect", "torch.AdamW", "--examples", "8", "--max-steps", "3",
                 "--quiet"]) == 0
    assert "| result                      | PASS" in capsys.readouterr().out


@pytest.mark.parametrize("dtype", [F64, F32])
def test_optimi_adamw_is_torch_adamw(dtype: Dtype) -> None:
    """optimi folds bias correction into "debiased" betas (its exp_avg is m-hat); the algebra is torch.AdamW's."""
    _optimi()
    r = identify("optimi:AdamW", dtype=dtype)
    assert r.presets[0] == "torch.AdamW", r.describe()
    fp = r.precision
    assert (fp.arithmetic, fp.state, fp.rounding) == (dtype, dtype, "nearest") and fp.model() is not None
    assert check_target("optimi:AdamW", expect="torch.AdamW", dtype=dtype, examples=6, max_steps=3).verdict == "PASS"


@pytest.mark.parametrize("dtype", [BF16, F16])
def test_optimi_half_precision_is_kahan_summation(dtype: Dtype) -> None:
    _optimi()
    fp = identify("optimi:AdamW", dtype=dtype).precision
    assert (fp.arithmetic, fp.state, fp.rounding) == (dtype, dtype, "compensated"), fp.describe()
    if fp.model() is None:  # the contract has no compensated summation yet
        assert fp.outside_contract == "parameters kept with compensated (Kahan) summation"
    else:
        assert fp.outside_contract is None and fp.model().param_summation.value == "kahan"
    # its Kahan step uses p.grad as scratch space (declared); the values are within the format's bound
    scratch = _known("optimi:AdamW", "optimi-kahan-writes-grad")
    assert {f.kind for f in reproduce(resolve_target("optimi:AdamW"), scratch, dtype)} == {"mutated_input"}
    report = check_target("optimi:AdamW", expect="torch.AdamW", dtype=dtype, cases=[scratch.trigger(dtype)])
    assert report.verdict == "KNOWN" and report.counts["outside"] == 0, report.describe()
    # without Kahan summation it rounds to nearest, and the model its fingerprint names passes check
    plain = identify("optimi:AdamW", dtype=dtype, options={"kahan_sum": False}).precision
    assert (plain.arithmetic, plain.state, plain.rounding) == (dtype, dtype, "nearest"), plain.describe()
    assert check_target("optimi:AdamW", expect="torch.AdamW", dtype=dtype, options={"kahan_sum": False},
                        precision=plain.model(), examples=6, max_steps=3, known=()).verdict == "PASS"


def _kahan_cases(dtype: Dtype) -> list[Case]:
    """The stagnation case (a quarter-spacing lr: round to nearest never moves p, Kahan summation does)
    with and without decoupled decay, and a random case of 24 steps with weight decay 0.1."""
    stagnating = _known("optimi:AdamW", "optimi-kahan-writes-grad").trigger(dtype)
    decayed = Case(stagnating.run.replace(config=preset("torch.AdamW", lr=stagnating.run.config.hyper.lr,
                                                               eps=stagnating.run.config.hyper.eps, weight_decay="0.5")), dtype)
    rng = np.random.default_rng(13)
    fmt = dtype.format
    params = tuple(fmt.round(Fraction(float(x))) for x in rng.normal(size=8))
    grads = tuple(tuple(fmt.round(Fraction(float(x))) for x in row) for row in rng.normal(size=(24, 8)))
    noisy = Case(Run(preset("torch.AdamW", lr="0.001", weight_decay="0.1"), params, grads), dtype)
    return [stagnating, decayed, noisy]


def _mutated_optimi(change: str) -> type:
    """Real optimi.AdamW whose Kahan compensation is dropped (zeroed) or sign-flipped after every step."""
    import optimi

    class MutatedKahanAdamW(optimi.AdamW):
        def step(self, closure=None):
            loss = super().step(closure)
            for state in self.state.values():
                comp = state.get("kahan_comp")
                if comp is not None and comp.numel() > 1:
                    comp.zero_() if change == "dropped" else comp.neg_()
            return loss

    MutatedKahanAdamW.__qualname__ = f"KahanAdamW[{change} compensation]"
    return MutatedKahanAdamW


@pytest.mark.parametrize("dtype", [BF16, F16])
def test_optimi_is_judged_by_its_kahan_compensation_and_a_broken_compensation_is_caught(dtype: Dtype) -> None:
    """The torch adapter reports optimi's state[p]["kahan_comp"] after every step; under the declared
    Kahan model (p + kahan_comp against the exact parameter, decay applied to the stored parameter)
    real optimi passes, and the same optimizer with its compensation dropped or sign-flipped fails,
    where the plain half-precision model passes the dropped one (it is round-to-nearest storage)."""
    _optimi()
    import optimi

    model = IMPORT_PATH_TARGETS_BY_NAME["optimi:AdamW"].precision_for(dtype)
    assert model is not None and model.param_summation.value == "kahan" and not model.decay_compensated
    cases = _kahan_cases(dtype)
    real = TorchImplementation(optimizer_class=optimi.AdamW)
    for case in cases:
        observation = real.run(case)
        assert observation.compensation is not None and observation.compensation.shape == observation.params.shape
        assert np.any(observation.compensation != 0)
        verdict = judge(case, observation, precision=model)
        assert verdict.passed and verdict.counts["within"] > 0, verdict.describe()
    # the declared model is the right one: with the decay inside the compensation it fails optimi
    wrong = judge(cases[1], real.run(cases[1]), precision=dataclasses.replace(model, decay_compensated=True))
    assert not wrong.passed, wrong.describe()
    for change in ("dropped", "flipped"):
        mutated = TorchImplementation(optimizer_class=_mutated_optimi(change))
        observations = [mutated.run(case) for case in cases]
        assert not all(judge(c, o, precision=model).passed for c, o in zip(cases, observations)), change
        if change == "dropped":
            plain = PrecisionModel.conservative(dtype)
            assert all(judge(c, o, precision=plain).passed for c, o in zip(cases, observations))


def test_optimi_tiled_run_keeps_its_compensation() -> None:
    """A case run as a longer tiled tensor (TiledImplementation) reports each element's compensation too."""
    _optimi()
    import optimi

    from adamw_oracle.adapters.tiled import TiledImplementation

    case = _kahan_cases(BF16)[2]
    model = IMPORT_PATH_TARGETS_BY_NAME["optimi:AdamW"].precision_for(BF16)
    tiled = TiledImplementation(TorchImplementation(optimizer_class=optimi.AdamW), 40, precision=model)
    observation = tiled.run(case)
    assert observation.compensation is not None and observation.compensation.shape == observation.params.shape
    assert judge(case, observation, precision=model).passed


def test_optimi_full_precision_reports_no_compensation() -> None:
    """For float32/float64 parameters optimi keeps a 1-element placeholder in kahan_comp: not reported."""
    _optimi()
    case = Case(Run(preset("torch.AdamW", lr="0.01"), (Fraction(1, 2),), ((Fraction(1, 4),),) * 2), F32)
    assert resolve_target("optimi:AdamW").run(case).compensation is None


def test_optimi_adam_is_coupled_l2_and_writes_the_gradient() -> None:
    _optimi()
    r = identify("optimi:Adam", dtype=F32)
    assert r.presets == ("torch.Adam",), r.describe()
    report = check_target("optimi:Adam", expect="torch.Adam", dtype=F32, examples=10, max_steps=3)
    assert report.verdict == "KNOWN" and "optimi-l2-writes-grad" in report.known_counts, report.describe()
    strict = check_target("optimi:Adam", expect="torch.Adam", dtype=F32, examples=10, max_steps=3, known=())
    assert strict.verdict == "FAIL" and strict.findings[0].kind == "mutated_input"


def test_optimi_stableadamw_update_clipping_is_outside_the_contract() -> None:
    """identify's probes never make the RMS exceed 1 (it reads as torch.AdamW); a case that does is
    reported as outside the contract, with what it observed."""
    _optimi()
    assert identify("optimi:StableAdamW", dtype=F32).presets[0] == "torch.AdamW"
    clipping = _known("optimi:StableAdamW", "optimi-stableadamw-update-clipping")
    report = check_target("optimi:StableAdamW", expect="torch.AdamW", dtype=F32, cases=[clipping.trigger(F32)])
    assert report.verdict == "OUTSIDE_CONTRACT", report.describe()
    assert "1 elements x 2 steps: FAIL" in report.outside_evidence[clipping.id]


# -- torchao -------------------------------------------------------------------------------------------

def test_torchao_adamw8bit_computes_in_float32_for_float64_parameters() -> None:
    """Done-when of issue 13: identify names torch.AdamW and float32 arithmetic, probing in float64."""
    _torchao()
    r = identify("torchao.optim:AdamW8bit")
    assert r.dtype is F64 and r.presets[0] == "torch.AdamW", r.describe()
    assert r.amsgrad_form.value == "max_raw_v"
    fp = r.precision
    assert (fp.arithmetic, fp.state, fp.scalars) == (F32, F32, F32), fp.describe()
    assert "computes in float32 for float64 parameters" in r.describe()
    assert (fp.model() is None) == (not _f32_for_f64_expressible())


def test_torchao_adamw8bit_bfloat16_is_float32_arithmetic_with_bfloat16_state() -> None:
    _torchao()
    fp = identify("torchao.optim:AdamW8bit", dtype=BF16).precision
    assert (fp.arithmetic, fp.state, fp.rounding) == (F32, BF16, "nearest"), fp.describe()
    assert fp.model() == IMPORT_PATH_TARGETS_BY_NAME["torchao.optim:AdamW8bit"].precision_for(BF16)


def test_torchao_stochastic_rounding_is_fingerprinted() -> None:
    """bf16_stochastic_round=True: the stagnation probe's parameters spread around the exact value."""
    _torchao()
    fp = identify("torchao.optim:AdamW8bit", dtype=BF16, options={"bf16_stochastic_round": True}).precision
    assert (fp.arithmetic, fp.state, fp.rounding) == (F32, BF16, "stochastic"), fp.describe()
    model = fp.model()
    if model is None:  # the contract has no stochastic rounding yet
        assert fp.outside_contract == "stochastic rounding of the parameters"
    else:
        assert model.param_rounding.value == "stochastic"


def test_torchao_quantized_state_is_outside_the_contract() -> None:
    """Tensors of >= 4096 elements get 8-bit state: far outside the float32 bound, reported as such."""
    _torchao()
    quantized = _known("torchao.optim:AdamW8bit", "torchao-8bit-quantized-state")
    report = check_target("torchao.optim:AdamW8bit", expect="torch.AdamW", dtype=F32, cases=[quantized.trigger(F32)])
    # judged per step from its own (dequantized) state: each step follows from that state, the state does not
    assert report.verdict == "OUTSIDE_CONTRACT", report.describe()
    assert report.counts["outside"] + report.state_counts["outside"] > 0, report.describe()
    strict = check_target("torchao.optim:AdamW8bit", expect="torch.AdamW", dtype=F32, cases=[quantized.trigger(F32)],
                          known=())
    assert strict.verdict == "FAIL" and strict.findings[0].kind == "outside_bound"


# -- every declared third-party optimizer in every dtype (long: torchao compiles each shape) ------------

def _expected_fingerprint(framework: str, dtype: Dtype) -> tuple[Dtype, Dtype, str]:
    """(arithmetic, state, rounding) of the table's third-party optimizers, from their source: optimi
    computes in the parameter format (every operation rounded to it) and keeps half-precision
    parameters with Kahan summation; torchao computes in float32 and stores the results in the
    parameter's format (so float64 parameters carry float32 state values)."""
    if framework == "optimi":
        return dtype, dtype, "compensated" if dtype in (BF16, F16) else "nearest"
    return F32, F32 if dtype is F64 else dtype, "nearest"


@pytest.mark.thorough
@pytest.mark.parametrize("dtype", [F64, F32, BF16, F16])
@pytest.mark.parametrize("target", sorted(IMPORT_PATH_TARGETS_BY_NAME))
def test_identify_names_every_declared_optimizer_in_every_dtype(target: str, dtype: Dtype) -> None:
    info = IMPORT_PATH_TARGETS_BY_NAME[target]
    pytest.importorskip(info.framework, reason="the thirdparty extra is not installed")
    r = identify(target, dtype=dtype)
    assert r.presets[0] == info.preset, r.describe()
    fp = r.precision
    assert (fp.arithmetic, fp.state, fp.rounding) == _expected_fingerprint(info.framework, dtype), fp.describe()
    declared = info.precision_for(dtype)
    if declared is not None:
        # the stagnation probe runs without weight decay: it cannot see where optimi's decay goes
        assert fp.model() == dataclasses.replace(declared, decay_compensated=True), fp.describe()
