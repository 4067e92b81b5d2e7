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


def _eps_floor(params, grads, hyper):
    """AdamW with eps as a floor under the root: denom = max(sqrt(v-hat), eps) (``clamp_(min=eps)``)."""
    p, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    b1, b2, lr, eps, wd = hyper["beta1"], hyper["beta2"], hyper["lr"], hyper["eps"], hyper["weight_decay"]
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * wd * p
        p = p - lr * (m / (1 - b1**t)) / np.maximum(np.sqrt(v / (1 - b2**t)), eps)
        out.append(p)
    return np.array(out)


def test_eps_floor_probe_separates_the_floor_from_eps_after_the_root() -> None:
    """sqrt(v-hat) = 2^-7 > eps = 2^-8: the floor leaves the step at lr, eps after the root makes it 2/3 lr."""
    probe = Probe("floor", "eps_placement", "", _h(lr=2.0**-4, eps=2.0**-8), (1,), ((2.0**-7,),))
    assert _final(probe, ADAM.replace(eps_placement=EpsPlacement.FLOOR))[0] == 1 - 2.0**-4
    assert f"{_final(probe, ADAM)[0]:.6f}" == f"{1 - 2.0**-4 * 2 / 3:.6f}"


def test_eps_floor_callable_is_identified_and_passes_check() -> None:
    target = from_callable(_eps_floor, name="eps_floor", capabilities={"weight_decay"})
    r = identify(target)
    assert r.conventions == Conventions(weight_decay=WeightDecay.DECOUPLED_LR, eps_placement=EpsPlacement.FLOOR), r.describe()
    assert check_target(target, expect=r, dtype="float64", examples=6, max_steps=3).passed


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


# -- issue 13: presets up to the interface, ignored options, the precision fingerprint -----------------

def _adam_numpy(params, grads, hyper, *, amsgrad_ignored=False, dtype=np.float64):
    """torch.Adam's algebra (after-root eps, bias correction, no decay) in numpy, in ``dtype``; with
    ``amsgrad_ignored`` it accepts the flag and does nothing with it."""
    p, m, v = params.astype(dtype), np.zeros(params.shape, dtype), np.zeros(params.shape, dtype)
    b1, b2, lr, eps = (dtype(hyper[k]) for k in ("beta1", "beta2", "lr", "eps"))
    out = []
    for t, g in enumerate(grads.astype(dtype), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - (lr / (1 - b1 ** t)) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)
        out.append(p)
    return np.array(out, dtype=np.float64)


def test_adam_without_weight_decay_is_named_at_weight_decay_zero() -> None:
    r = identify(from_callable(_adam_numpy, name="plain_adam", capabilities=set()))
    assert r.conventions.weight_decay is WeightDecay.NONE
    assert {"torch.Adam", "torch.AdamW", "optax.adam", "optax.adamw"} <= set(r.presets), r.describe()
    assert r.preset_notes["torch.Adam"] == "at weight_decay=0" and r.expected in r.preset_exact
    assert "optax.adam (at eps_root=0)" in r.describe()


def test_amsgrad_flag_accepted_but_ignored_is_reported() -> None:
    def ams_ignored(params, grads, hyper):
        return _adam_numpy(params, grads, hyper, amsgrad_ignored=True)

    r = identify(from_callable(ams_ignored, name="ams_ignored", capabilities={"amsgrad"}))
    assert r.identified and r.amsgrad_form is None and r.ignored == ("amsgrad",), r.describe()
    assert "amsgrad: ignored" in r.describe()
    ams = next(e for e in r.evidence if e.probe == "amsgrad_form")
    assert ams.matching == ("ignored",)


def _hf_with_amsgrad(params, grads, hyper):
    """The HF-style step above, with AMSGrad over raw v when the flag is on."""
    p, m, v, vmax = params.copy(), np.zeros_like(params), np.zeros_like(params), np.zeros_like(params)
    b1, b2, lr, eps, wd = hyper["beta1"], hyper["beta2"], hyper["lr"], hyper["eps"], hyper["weight_decay"]
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v) if hyper["amsgrad"] else v
        p = p - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(vmax) + eps)
        p = p - lr * wd * p
        out.append(p)
    return np.array(out)


def test_amsgrad_capable_target_matches_a_preset_without_amsgrad() -> None:
    r = identify(from_callable(_hf_with_amsgrad, name="hf_ams", capabilities={"weight_decay", "amsgrad"}))
    assert r.presets == ("hf.AdamW",) and r.amsgrad_form is AmsGrad.MAX_RAW_V, r.describe()
    assert r.preset_notes["hf.AdamW"] == "amsgrad -> max_raw_v: hf.AdamW has no AMSGrad"
    assert r.expected == r.conventions.replace(amsgrad=AmsGrad.MAX_RAW_V)  # not the preset: it has no AMSGrad


def adamw_eps_root_zero(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4) -> optax.GradientTransformation:  # noqa: F821
    """optax.adamw with eps_root fixed at 0: a factory without the eps_root option."""
    import optax

    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=0.0, weight_decay=weight_decay)


@needs_optax
def test_optax_adamw_with_eps_root_zero_matches_optax_adamw() -> None:
    import optax  # noqa: F401 - the factory is recognised once optax is imported

    r = identify(adamw_eps_root_zero)
    assert r.conventions.eps_placement is EpsPlacement.AFTER_ROOT
    assert r.presets[0] == "torch.AdamW" and "optax.adamw" in r.presets, r.describe()
    assert r.preset_notes["optax.adamw"] == "at eps_root=0" and "optax.adamw" in r.preset_exact


@needs_torch
def test_torch_class_computing_in_float32_is_identified_in_float64() -> None:
    """Done-when of issue 13: a torch class that computes in float32 is identified with no code."""
    r = identify("import_path_optimizers:Float32AdamW")
    assert r.dtype.value == "float64" and r.presets[0] == "torch.AdamW", r.describe()
    fp = r.precision
    assert (fp.arithmetic.value, fp.state.value, fp.scalars.value) == ("float32", "float32", "float32")
    assert "computes in float32 for float64 parameters" in r.describe() and "state in float32" in r.describe()
    plain = identify("import_path_optimizers:PlainAdamW").precision
    assert (plain.arithmetic.value, plain.state.value) == ("float64", "float64") and plain.model() is not None


@needs_keras
def test_keras_scalars_are_fingerprinted() -> None:
    """Keras keeps learning_rate in a float32 variable (float64 weights) and casts the betas to the
    variable's dtype (bfloat16(0.999) == 1): both show in the fingerprint."""
    f64 = identify("keras.Adam").precision
    assert (f64.arithmetic.value, f64.scalars.value) == ("float64", "float32"), f64.describe()
    b16 = identify("keras.Adam", dtype="bfloat16").precision
    assert (b16.arithmetic.value, b16.scalars.value) == ("bfloat16", "bfloat16"), b16.describe()
    assert "hyperparameters (lr, betas) rounded to bfloat16" in b16.describe()


@needs_torch
def test_torch_half_precision_paths_are_told_apart() -> None:
    """torch on the CPU: the foreach path rounds every operation to bfloat16, the fused kernel computes in
    float32; both keep bfloat16 state and round the parameters to nearest."""
    foreach = identify("torch.AdamW", dtype="bfloat16").precision
    fused = identify("torch.AdamW[fused]", dtype="bfloat16").precision
    assert (foreach.arithmetic.value, foreach.state.value, foreach.rounding) == ("bfloat16", "bfloat16", "nearest")
    assert (fused.arithmetic.value, fused.state.value, fused.rounding) == ("float32", "bfloat16", "nearest")
    assert fused.model() is not None and fused.outside_contract is None
