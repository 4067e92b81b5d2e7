"""identify: the black-box fingerprint gives the documented answers, and what it finds then passes check."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from adamw_oracle.adapters import from_callable
from adamw_oracle.check import check_target, identify
from adamw_oracle.check.probes import B1, B2, Probe
from adamw_oracle.cli import main
from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    WeightDecay,
)
from adamw_oracle.reference import mpf_to_fraction, run_trajectory

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
needs_optax = pytest.mark.skipif(importlib.util.find_spec("optax") is None, reason="optax not installed")
needs_keras = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")


def _final(probe: Probe, conv: Conventions, ams: AmsGrad | None = None) -> list[float]:
    run = probe.candidate_run(conv, ams)
    return [float(mpf_to_fraction(e.p_new)) for e in run_trajectory(run).steps[-1]]


def _h(**kw):
    return {"beta1": B1, "beta2": B2, "eps_root": 0, "weight_decay": 0, **kw}


ADAM = Conventions()


def test_probe_predictions_reproduce_the_guide_numbers() -> None:
    """GUIDE section 1 (shared/GUIDE.md) prints these probe outcomes to about 6 digits."""
    eps = Probe("eps", "eps_placement", "", _h(lr=1, eps=1), (1,), ((0.01,),))
    assert f"{_final(eps, ADAM)[0]:.6f}" == "0.990099"
    assert f"{_final(eps, ADAM.replace(eps_placement=EpsPlacement.EPSILON_HAT))[0]:.6f}" == "0.999684"
    assert f"{_final(eps, ADAM.replace(bias_correction=BiasCorrection.OFF))[0]:.7f}" == "0.9990003"
    inside = Probe("root", "eps_placement", "", _h(lr=1, eps=0, eps_root=1), (1,), ((0.01,),))
    assert f"{_final(inside, ADAM.replace(eps_placement=EpsPlacement.INSIDE_ROOT))[0]:.7f}" == "0.9900005"
    ams = Probe("ams", "amsgrad_form", "", _h(lr=1, eps=0), (0,), ((1,), (0,)), amsgrad=True)
    for form, size in ((AmsGrad.MAX_RAW_V, "0.669723"), (AmsGrad.MAX_V_HAT, "0.473684")):
        traj = run_trajectory(ams.candidate_run(ADAM, form))
        second = float(mpf_to_fraction(traj.steps[0][0].p_new - traj.steps[1][0].p_new))
        assert f"{second:.6f}" == size
    decay = Probe("dec", "weight_decay", "", _h(lr=0.1, eps=1e-8, weight_decay=0.01), (2,), ((0,),))
    assert f"{_final(decay, ADAM.replace(weight_decay=WeightDecay.DECOUPLED_LR))[0]:.3f}" == "1.998"
    assert f"{_final(decay, ADAM.replace(weight_decay=WeightDecay.DECOUPLED_UNSCALED))[0]:.2f}" == "1.98"
    assert f"{_final(decay, ADAM.replace(weight_decay=WeightDecay.COUPLED_L2))[0]:.1f}" == "1.9"
    order = Probe("ord", "decay_target", "", _h(lr=1, eps=2.0**-60, weight_decay=0.5), (2,), ((1,),))
    lr_decay = ADAM.replace(weight_decay=WeightDecay.DECOUPLED_LR)
    assert f"{_final(order, lr_decay)[0]:.6f}" == "0.000000"
    assert f"{_final(order, lr_decay.replace(decay_target=DecayTarget.UPDATED_PARAM))[0]:.6f}" == "0.500000"


@needs_torch
def test_torch_adam_is_coupled_l2() -> None:
    r = identify("torch.Adam")
    assert r.conventions.weight_decay is WeightDecay.COUPLED_L2 and r.presets == ("torch.Adam",)
    assert r.amsgrad_form is AmsGrad.MAX_RAW_V and r.maximize_honoured is True


@needs_torch
def test_torch_adamw_is_decoupled_lr_scaled_and_passes_check() -> None:
    r = identify("torch.AdamW[fused]")
    assert r.conventions == Conventions(weight_decay=WeightDecay.DECOUPLED_LR)
    assert r.presets[0] == "torch.AdamW"
    assert check_target("torch.AdamW[fused]", expect=r, examples=4, max_steps=3).passed


@needs_optax
def test_optax_adamw_has_torch_algebra_with_its_own_amsgrad() -> None:
    r = identify("optax.adamw")
    c = r.conventions
    assert (c.weight_decay, c.decay_target, c.bias_correction) == (
        WeightDecay.DECOUPLED_LR, DecayTarget.PREVIOUS_PARAM, BiasCorrection.ON)
    assert c.eps_placement is EpsPlacement.INSIDE_ROOT and r.amsgrad_form is AmsGrad.MAX_V_HAT
    assert r.presets == ("optax.adamw",)
    assert check_target("optax.adamw", expect=r, examples=4, max_steps=3).passed


@needs_keras
def test_keras_adam_with_weight_decay_is_decoupled_epsilon_hat() -> None:
    r = identify("keras.Adam")
    c = r.conventions
    assert c.weight_decay is WeightDecay.DECOUPLED_LR and c.eps_placement is EpsPlacement.EPSILON_HAT
    assert r.presets[0] == "keras.Adam" and "keras.AdamW" in r.presets
    assert check_target("keras.Adam", expect=r, dtype="float32", examples=3, max_steps=3).passed


def _hf_style(params, grads, hyper):
    """HF transformers' removed AdamW: epsilon-hat step, then decay of the *updated* parameter."""
    p, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    b1, b2, lr, eps, wd = hyper["beta1"], hyper["beta2"], hyper["lr"], hyper["eps"], hyper["weight_decay"]
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        p = p - lr * wd * p
        out.append(p)
    return np.array(out)


def test_hf_style_callable_is_identified_as_hf_adamw() -> None:
    r = identify(from_callable(_hf_style, name="hf_style", capabilities={"weight_decay"}))
    assert r.presets == ("hf.AdamW",), r.describe()
    assert check_target(from_callable(_hf_style, capabilities={"weight_decay"}), expect=r, dtype="float64",
                        examples=6, max_steps=3).passed


def _no_sqrt(params, grads, hyper):
    """Not an Adam convention at all: divides by v-hat instead of its square root."""
    p, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    out = []
    for t, g in enumerate(grads, start=1):
        m = hyper["beta1"] * m + (1 - hyper["beta1"]) * g
        v = hyper["beta2"] * v + (1 - hyper["beta2"]) * g * g
        p = p - hyper["lr"] * (m / (1 - hyper["beta1"] ** t)) / (v / (1 - hyper["beta2"] ** t) + hyper["eps"])
        out.append(p)
    return np.array(out)


def test_unknown_optimizer_reports_closest_conventions() -> None:
    r = identify(from_callable(_no_sqrt, name="no_sqrt", capabilities=set()))
    assert not r.identified and r.presets == ()
    assert 1 <= len(r.closest) <= 3 and all(d > 1 for _, d in r.closest)
    assert "no convention fits" in r.describe()


def test_exceptions_become_evidence() -> None:
    def broken(params, grads, hyper):
        raise ValueError("nope")

    r = identify(from_callable(broken, capabilities=set()))
    assert not r.identified
    assert all(e.error and "ValueError: nope" in e.error for e in r.evidence)


@needs_torch
def test_cli_identify(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["identify", "torch.Adam"]) == 0
    out = capsys.readouterr().out
    assert "preset:     torch.Adam" in out and "coupled_l2" in out and "zero_gradient_mechanism" in out
