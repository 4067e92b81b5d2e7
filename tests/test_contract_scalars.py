"""The per-step scalars have one source (adamw_oracle/contract/scalars.py) and every layer follows it.

Golden values are written out by hand below from the contract's equations (see
adamw_oracle/contract/conventions.py) for dyadic hyperparameters, where every layer's arithmetic is
exact: lr = 1/2, s = 1/2 (lr_t = 1/4), wd = 1/4, p = 1. A layer whose decay coefficient, L2 term or
decoupled-code table drifted from the contract gets one of these numbers wrong.
"""
from __future__ import annotations

import dataclasses
import enum
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp

import adamw_oracle
from adamw_oracle.contract import (
    Conventions,
    DecayTarget,
    Dtype,
    Family,
    Hyperparameters,
    OptimizerConfig,
    Run,
    WeightDecay,
)
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import BiasCorrection
from adamw_oracle.contract.precision import FormatCost
from adamw_oracle.contract.scalars import (
    STEP_SCALAR_NAMES,
    WEIGHT_DECAY_RULES,
    DecayScale,
    bias_corrected,
    decay_coefficient,
    decay_rule,
)
from adamw_oracle.gpu import HostBuildImplementation, codes
from adamw_oracle.gpu.sources import HEADER, KERNEL_DIR
from adamw_oracle.reference import PointBackend, StepConstants, mpf_to_fraction, run_trajectory
from adamw_oracle.reference.certify_arb import certify_run_arb
from adamw_oracle.symbolic.step import adam_step, sgd_step
from adamw_oracle.symbolic.symbols import HYPER
from adamw_oracle.verify.error_model import bounded_trajectory, tracked_constants
from adamw_oracle.verify.numpy_impl import NumpyImplementation
from adamw_oracle.verify.tracked import RunningErrorBackend

F = Fraction
LR, S, WD = F(1, 2), F(1, 2), F(1, 4)

# c for lr_t = 1/4, s = 1/2, wd = 1/4, written from the contract's table (not from the code)
DECAY_COEFFICIENT: dict[WeightDecay, Fraction] = {
    WeightDecay.NONE: F(0),
    WeightDecay.COUPLED_L2: F(0),
    WeightDecay.DECOUPLED_LR: F(1, 16),
    WeightDecay.DECOUPLED_SCHEDULE: F(1, 8),
    WeightDecay.DECOUPLED_UNSCALED: F(1, 4),
}

# One SGD step without momentum from p = 1 with g = 1/2 (update = lr_t*g' = 1/8 unless L2):
#   NONE (wd = 0): 1 - 1/8;  COUPLED_L2: g' = 1/2 + 1/4, p = 1 - 3/16
#   decoupled, previous param: 1 - c - 1/8;  updated param: (1 - 1/8)(1 - c)
SGD_P_NEW: dict[tuple[WeightDecay, DecayTarget], Fraction] = {
    (WeightDecay.NONE, DecayTarget.PREVIOUS_PARAM): F(7, 8),
    (WeightDecay.COUPLED_L2, DecayTarget.PREVIOUS_PARAM): F(13, 16),
    (WeightDecay.DECOUPLED_LR, DecayTarget.PREVIOUS_PARAM): F(13, 16),
    (WeightDecay.DECOUPLED_LR, DecayTarget.UPDATED_PARAM): F(105, 128),
    (WeightDecay.DECOUPLED_SCHEDULE, DecayTarget.PREVIOUS_PARAM): F(3, 4),
    (WeightDecay.DECOUPLED_SCHEDULE, DecayTarget.UPDATED_PARAM): F(49, 64),
    (WeightDecay.DECOUPLED_UNSCALED, DecayTarget.PREVIOUS_PARAM): F(5, 8),
    (WeightDecay.DECOUPLED_UNSCALED, DecayTarget.UPDATED_PARAM): F(21, 32),
}

# One Adam step from p = 1 with g = 0 and m = v = 0: the update is 0/(0 + eps) = 0, so p_new = 1 - c
# for either decay target (the Adam-only fast path of certify_arb evaluates c separately).
ADAM_P_NEW: dict[WeightDecay, Fraction] = {
    WeightDecay.NONE: F(1),
    WeightDecay.DECOUPLED_LR: F(15, 16),
    WeightDecay.DECOUPLED_SCHEDULE: F(7, 8),
    WeightDecay.DECOUPLED_UNSCALED: F(3, 4),
}


def _valid(wd: WeightDecay, target: DecayTarget) -> bool:
    return wd.is_decoupled or target is DecayTarget.PREVIOUS_PARAM


def test_the_hand_written_tables_cover_every_convention() -> None:
    # a new WeightDecay member must get its expected values here before this module passes
    assert set(DECAY_COEFFICIENT) == set(WeightDecay)
    assert set(SGD_P_NEW) == {(wd, t) for wd in WeightDecay for t in DecayTarget if _valid(wd, t)}
    assert set(ADAM_P_NEW) == {wd for wd in WeightDecay if wd is not WeightDecay.COUPLED_L2}


def test_every_weight_decay_member_has_a_rule_consistent_with_the_enum() -> None:
    assert set(WEIGHT_DECAY_RULES) == set(WeightDecay)
    for member, rule in WEIGHT_DECAY_RULES.items():
        assert rule.decoupled is member.is_decoupled
        assert not (rule.decoupled and rule.gradient_term), member
    assert [m for m in WeightDecay if decay_rule(m).gradient_term] == [WeightDecay.COUPLED_L2]
    assert {m: decay_rule(m).formula for m in WeightDecay} == {
        WeightDecay.NONE: "0", WeightDecay.COUPLED_L2: "0", WeightDecay.DECOUPLED_LR: "lr_t * wd",
        WeightDecay.DECOUPLED_SCHEDULE: "s * wd", WeightDecay.DECOUPLED_UNSCALED: "wd",
    }
    assert {decay_rule(m).decay_scale for m in WeightDecay if decay_rule(m).decoupled} == set(DecayScale)


@pytest.mark.parametrize("member", list(WeightDecay), ids=lambda m: m.value)
def test_decay_coefficient_is_the_contract_formula(member: WeightDecay) -> None:
    c = decay_coefficient(member, lr_t=LR * S, schedule=S, weight_decay=WD, zero=F(0))
    assert c == DECAY_COEFFICIENT[member]


def test_bias_correction_applies_to_adam_with_bias_correction_on_only() -> None:
    assert bias_corrected(Conventions(Family.ADAM))
    assert not bias_corrected(Conventions(Family.ADAM, bias_correction=BiasCorrection.OFF))
    assert not bias_corrected(Conventions(Family.SGD))


def _config(family: Family, wd: WeightDecay, target: DecayTarget) -> OptimizerConfig:
    hyper = Hyperparameters(lr=LR, schedule_multiplier=S, weight_decay=F(0) if wd is WeightDecay.NONE else WD,
                            eps=F(1, 2), beta1=F(1, 2), beta2=F(3, 4))
    return OptimizerConfig(Conventions(family, wd, target), hyper)


def _run(family: Family, wd: WeightDecay, target: DecayTarget, g: Fraction) -> Run:
    config = _config(family, wd, target)
    return Run(config, (F(1),), ((g,),))


def _layer_values(run: Run) -> dict[str, Fraction | float]:
    """p_new after the one step of ``run`` in every layer that runs without a GPU."""
    conv, h = run.config.conventions, run.config.hyper
    p, g = run.initial_params[0], run.gradients[0][0]
    assert isinstance(g, Fraction)
    if conv.family is Family.SGD:
        expr = sgd_step(conv, p, g, 0, has_momentum=False, first_step=True)["p_new"]
    else:
        expr = adam_step(conv, p, g, 0, 0, 0, 1)["p_new"]
    symbolic = expr.subs({HYPER.lr: sp.Rational(h.lr), HYPER.schedule: sp.Rational(h.schedule_multiplier),
                          HYPER.weight_decay: sp.Rational(h.weight_decay), HYPER.eps: sp.Rational(h.eps),
                          HYPER.beta1: sp.Rational(h.beta1), HYPER.beta2: sp.Rational(h.beta2)})
    assert symbolic.is_Rational
    low, high = certify_run_arb(run, 20).ends(0, 0)
    assert low == high  # every operation is exact for these dyadic inputs
    case = Case(run, Dtype.FLOAT64)
    return {
        "reference": mpf_to_fraction(run_trajectory(run, PointBackend(128)).steps[0][0].p_new),
        "reference-arb": low,
        "symbolic": F(int(symbolic.p), int(symbolic.q)),
        "error-model": bounded_trajectory(case).params[0][0].exact,
        "numpy": float(NumpyImplementation().run(case).params[0, 0]),
        "gpu-host-build": float(HostBuildImplementation().run(case).params[0, 0]),
    }


@pytest.mark.parametrize("key", list(SGD_P_NEW), ids=lambda k: f"{k[0].value}-{k[1].value}")
def test_every_layer_decays_sgd_by_the_contract(key: tuple[WeightDecay, DecayTarget]) -> None:
    wd, target = key
    values = _layer_values(_run(Family.SGD, wd, target, F(1, 2)))
    assert values == dict.fromkeys(values, SGD_P_NEW[key])


@pytest.mark.parametrize("wd", list(ADAM_P_NEW), ids=lambda m: m.value)
def test_every_layer_decays_adam_by_the_contract(wd: WeightDecay) -> None:
    targets = list(DecayTarget) if wd.is_decoupled else [DecayTarget.PREVIOUS_PARAM]
    for target in targets:
        values = _layer_values(_run(Family.ADAM, wd, target, F(0)))
        assert values == dict.fromkeys(values, ADAM_P_NEW[wd]), target


def test_step_constants_and_gpu_slots_are_the_contract_scalars() -> None:
    assert sorted(f.name for f in dataclasses.fields(StepConstants)) == sorted(["t", *STEP_SCALAR_NAMES])
    assert codes.SCALAR_SLOTS[: len(STEP_SCALAR_NAMES)] == tuple(n.upper() for n in STEP_SCALAR_NAMES)
    # the error model builds the same record (its scalars carry error bounds)
    config = _config(Family.ADAM, WeightDecay.DECOUPLED_SCHEDULE, DecayTarget.PREVIOUS_PARAM)
    tracked = tracked_constants(RunningErrorBackend(FormatCost.of(Dtype.FLOAT64), 128), config, 2)
    assert isinstance(tracked, StepConstants)
    assert mpf_to_fraction(tracked.decay_coef.x) == S * WD
    # every slot is read by the kernels' header, under the name the contract gives it
    header = (KERNEL_DIR / HEADER).read_text(encoding="utf-8")
    loaded = set(re.findall(r"s\[AO_S_([A-Z0-9_]+)\]", header))
    assert loaded == set(codes.SCALAR_SLOTS)


def test_gpu_code_tables_are_generated_from_the_contract_enums() -> None:
    for field, table in codes.ENUM_FIELDS.items():
        enum_type: type[enum.Enum] = type(next(iter(table)))
        assert list(table) == list(enum_type) and list(table.values()) == list(range(len(enum_type))), field
    definitions = codes.compile_definitions()
    decoupled = {definitions[f"AO_WD_{m.name}"] for m in WeightDecay if m.is_decoupled}
    coupled = {definitions[f"AO_WD_{m.name}"] for m in WeightDecay if decay_rule(m).gradient_term}
    bits = range(1 << codes.FLAG_FIELDS["WD"][1])
    assert {b for b in bits if definitions["AO_WD_DECOUPLED_MASK"] >> b & 1} == decoupled
    assert {b for b in bits if definitions["AO_WD_COUPLED_MASK"] >> b & 1} == coupled
    # the header branches on the masks, never on a list of weight-decay codes of its own
    header = (KERNEL_DIR / HEADER).read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    assert not re.findall(r"\bAO_WD_(?!COUPLED_MASK|DECOUPLED_MASK)[A-Z0-9_]+", code)
    assert "AO_WD_DECOUPLED_MASK" in code and "AO_WD_COUPLED_MASK" in code


def test_the_codes_docstring_shows_the_generated_codes() -> None:
    doc = codes.__doc__ or ""
    for field, table in codes.ENUM_FIELDS.items():
        shift, width = codes.FLAG_FIELDS[field]
        line = next(line for line in doc.splitlines() if line.split()[:1] == [field])
        listed = dict(item.split("=") for item in re.findall(r"[A-Z][A-Z0-9_]*=\d+", line))
        assert line.split()[1:3] == [str(shift), str(width)], field
        assert listed == {m.name: str(code) for m, code in table.items()}, field


def _patched_package(tmp_path: Path, file: str, old: str, new: str) -> Path:
    root = tmp_path / "pkg"
    shutil.copytree(Path(adamw_oracle.__file__).parent, root / "adamw_oracle",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = root / "adamw_oracle" / file
    text = target.read_text(encoding="utf-8")
    assert text.count(old) == 1
    target.write_text(text.replace(old, new), encoding="utf-8")
    return root


def _import_error(root: Path, module: str) -> str:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": ""}, timeout=120)
    assert done.returncode != 0, f"importing {module} with the patched contract succeeded"
    return done.stderr


def test_a_new_weight_decay_member_without_a_rule_fails_at_import(tmp_path: Path) -> None:
    root = _patched_package(tmp_path, "contract/conventions.py", '    DECOUPLED_UNSCALED = "decoupled_unscaled"\n',
                            '    DECOUPLED_UNSCALED = "decoupled_unscaled"\n    DECOUPLED_NEW = "decoupled_new"\n')
    assert "WeightDecay members without a rule: DECOUPLED_NEW" in _import_error(root, "adamw_oracle.contract")


def test_an_enum_outgrowing_its_flag_field_fails_at_import(tmp_path: Path) -> None:
    root = _patched_package(tmp_path, "contract/conventions.py", '    MAX_V_HAT = "max_v_hat"\n',
                            '    MAX_V_HAT = "max_v_hat"\n    MAX_A = "max_a"\n    MAX_B = "max_b"\n')
    assert "flag field AMSGRAD is too narrow" in _import_error(root, "adamw_oracle.gpu.codes")


def test_numpy_layer_names_its_quantities_like_the_other_layers() -> None:
    source = Path(sys.modules[NumpyImplementation.__module__].__file__ or "").read_text(encoding="utf-8")
    for name in ("g_used", "m_hat", "v_hat", "v_tilde", "denom", "update", "decay", "p_new"):
        assert re.search(rf"\b{name} = ", source), name
    assert not re.search(r"\bgu\b", source)
