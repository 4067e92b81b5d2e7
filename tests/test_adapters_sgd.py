"""optax.sgd and Keras SGD through their adapters, for real (JAX on the CPU): the update each implements,
``check`` in every dtype on more seeds than tests/test_targets.py draws, and wrong variants caught.

* optax.sgd (+ ``add_decayed_weights``) is the contract's ``torch.SGD`` convention with dampening 0; its
  trace is the contract's momentum buffer (exposed as ``m``, and seeded).
* Keras SGD keeps the velocity m = mu*m - lr*g (= -lr * the contract's buffer at one learning rate per
  run) and decays p -= p*wd*lr before the step: ``sgdw`` with dampening 0.

Golden values come from the certified reference (``certify_run``); verdicts from the error model. The
declared float16 findings (lr rounded to a float16 subnormal) are re-run by tests/test_targets.py.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import pytest

if any(importlib.util.find_spec(m) is None for m in ("optax", "keras", "jax")):
    pytest.skip("optax, keras and jax are not all installed", allow_module_level=True)

from adamw_oracle import Dtype, Run, preset  # noqa: E402
from adamw_oracle.adapters import Case, resolve_target  # noqa: E402
from adamw_oracle.adapters.keras_adapter import import_keras_jax  # noqa: E402
from adamw_oracle.adapters.keras_sgd import KerasSGDImplementation  # noqa: E402
from adamw_oracle.adapters.optax_sgd import OptaxSGDImplementation  # noqa: E402
from adamw_oracle.adapters.registry import BUILTIN_TARGETS, builtin_preset, known_findings  # noqa: E402
from adamw_oracle.check import check_target  # noqa: E402
from adamw_oracle.check.cases import fit_to_target  # noqa: E402
from adamw_oracle.check.subnormal import subnormal_intermediates  # noqa: E402
from adamw_oracle.contract.capabilities import Capability, capabilities_of  # noqa: E402
from adamw_oracle.contract.state import exact_state  # noqa: E402
from adamw_oracle.errors import InvalidArgumentError  # noqa: E402
from adamw_oracle.reference import certify_run  # noqa: E402
from adamw_oracle.verify import judge  # noqa: E402

keras, _problem = import_keras_jax()
ops = keras.ops
TARGETS = {"optax.sgd": "torch.SGD", "keras.SGD": "sgdw"}
DTYPES = (Dtype.FLOAT64, Dtype.FLOAT32, Dtype.FLOAT16, Dtype.BFLOAT16)
# dyadic values: every operation of either form is exact in float64
GRADS = ((0.5, 0.25), (0.0, -1.0), (0.125, 0.0))


def test_registered_with_their_presets() -> None:
    for name, preset_name in TARGETS.items():
        assert name in BUILTIN_TARGETS and builtin_preset(name) == preset_name
    assert isinstance(resolve_target("optax.sgd"), OptaxSGDImplementation)
    assert isinstance(resolve_target("keras.SGD"), KerasSGDImplementation)


@pytest.mark.parametrize("nesterov", [False, True])
def test_optax_trace_is_the_contract_buffer(nesterov: bool) -> None:
    # chain(add_decayed_weights(1/8), sgd(1/2, momentum=1/2)): coupled L2, trace = g' + mu*trace
    run = Run(preset("torch.SGD", lr="0.5", momentum="0.5", weight_decay="0.125", nesterov=nesterov), (1.0, -2.0), GRADS)
    case = Case(run, Dtype.FLOAT64)
    obs = OptaxSGDImplementation().run(case)
    assert obs.error is None
    ref = certify_run(run)
    assert [p.float64 for p in ref.final()] == list(obs.params[-1])
    assert [m.float64 for m in ref.final("m")] == list(obs.state["m"])
    assert obs.step_states["m"].shape == (3, 2)
    assert judge(case, obs).passed
    for changed in ({"weight_decay": "0"}, {"nesterov": not nesterov}):
        other = Case(run.replace(config=preset("torch.SGD", **{"lr": "0.5", "momentum": "0.5", "weight_decay": "0.125",
                                                                "nesterov": nesterov, **changed})), Dtype.FLOAT64)
        assert not judge(other, obs).passed, changed


def test_optax_seeded_trace_continues_the_run() -> None:
    # three steps from zero == one step from the state after two (trace seeded with the reference buffer)
    config = preset("torch.SGD", lr="0.5", momentum="0.5")
    full = certify_run(Run(config, (1.0, -2.0), GRADS))
    after_two = certify_run(Run(config, (1.0, -2.0), GRADS[:2]))
    state = exact_state(2, [m.float64 for m in after_two.final("m")], [0, 0])
    seeded = Case(Run(config, tuple(p.float64 for p in after_two.final()), GRADS[2:], state), Dtype.FLOAT64)
    obs = OptaxSGDImplementation().run(seeded)
    assert obs.error is None and list(obs.params[-1]) == [p.float64 for p in full.final()]


@pytest.mark.parametrize("nesterov", [False, True])
def test_keras_velocity_is_minus_lr_times_the_buffer(nesterov: bool) -> None:
    run = Run(preset("sgdw", lr="0.5", momentum="0.5", weight_decay="0.25", nesterov=nesterov), (1.0, -2.0), GRADS)
    case = Case(run, Dtype.FLOAT64)
    obs = KerasSGDImplementation().run(case)
    assert obs.error is None and obs.state == {}  # the velocity is not the contract's m: not exposed
    ref = certify_run(run)
    assert [p.float64 for p in ref.final()] == list(obs.params[-1])
    assert judge(case, obs, precision=KerasSGDImplementation().precision_model(Dtype.FLOAT64)).passed
    # the same steps driven here: Keras's momentum variable holds -lr * b_t
    import jax

    with jax.enable_x64(True):
        var = keras.Variable(ops.cast([1.0, -2.0], "float64"), dtype="float64")
        opt = KerasSGDImplementation().make(keras, case.hyper_floats())
        for g in GRADS:
            opt.apply_gradients([(ops.cast(g, "float64"), var)])
        velocity = list(ops.convert_to_numpy(opt.momentums[0].value))
    assert velocity == [-0.5 * m.float64 for m in ref.final("m")]
    # judged as coupled L2 (torch.SGD) or without the decay, the observation fails
    for other_preset, wd in (("torch.SGD", "0.25"), ("sgdw", "0")):
        other = Case(run.replace(config=preset(other_preset, lr="0.5", momentum="0.5", weight_decay=wd,
                                               nesterov=nesterov)), Dtype.FLOAT64)
        assert not judge(other, obs).passed, other_preset


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.value)
@pytest.mark.parametrize("target", list(TARGETS))
def test_check_passes_in_every_dtype(target: str, dtype: Dtype, seed: int) -> None:
    report = check_target(target, dtype=dtype, examples=5, seed=seed, max_steps=4)
    assert report.passed and report.expected.label == TARGETS[target], report.describe()
    assert report.counts["within"] > 0 and report.counts["outside"] == 0


# -- wrong variants: each is a real optax chain or Keras subclass, and check fails it --------------------

class _NesterovOnOldVelocity(keras.optimizers.SGD):
    """Nesterov from the velocity before the step: p += mu*m_{t-1} - lr*g (right: mu*m_t - lr*g)."""

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if self.momentum == 0 or not self.nesterov:
            return super().update_step(gradient, variable, learning_rate)
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        m = self.momentums[self._get_variable_index(variable)]
        mu = ops.cast(self.momentum, variable.dtype)
        step = ops.subtract(ops.multiply(m, mu), ops.multiply(g, lr))
        self.assign(m, step)
        self.assign_add(variable, step)


class _DecayNotScaledByLr(keras.optimizers.SGD):
    """p -= p*wd before the step (TF-Addons' SGDW form), not p*wd*lr."""

    def _apply_weight_decay(self, variables: Any) -> None:
        if self.weight_decay is None:
            return
        for variable in variables:
            variable.assign(variable - variable * ops.cast(self.weight_decay, variable.dtype))


class _OptaxDecoupled(OptaxSGDImplementation):
    """The decay added after the trace (SGDW), checked as optax.sgd's coupled L2."""

    def transformation(self, hyper: dict[str, Any]) -> Any:
        import optax

        return optax.chain(optax.trace(hyper["momentum"], bool(hyper["nesterov"])),
                           optax.add_decayed_weights(hyper["weight_decay"]),
                           optax.scale_by_learning_rate(hyper["lr"]))


class _OptaxNesterovIgnored(OptaxSGDImplementation):
    def transformation(self, hyper: dict[str, Any]) -> Any:
        return super().transformation({**hyper, "nesterov": False})


@pytest.mark.parametrize("impl, expect, dtype", [
    (KerasSGDImplementation(_NesterovOnOldVelocity, name="keras nesterov on the old velocity"), "sgdw", "float32"),
    (KerasSGDImplementation(_DecayNotScaledByLr, name="keras decay not scaled by lr"), "sgdw", "float32"),
    (KerasSGDImplementation(_DecayNotScaledByLr, name="keras decay not scaled by lr"), "sgdw", "float16"),
    (_OptaxDecoupled(), "torch.SGD", "float32"),
    (_OptaxNesterovIgnored(), "torch.SGD", "float32"),
], ids=["keras-nesterov-old-velocity", "keras-decay-unscaled", "keras-decay-unscaled-float16", "optax-decay-after-trace",
        "optax-nesterov-ignored"])
def test_wrong_variant_is_caught(impl: Any, expect: str, dtype: str) -> None:
    report = check_target(impl, expect=expect, dtype=dtype, examples=30, seed=0, max_steps=4, shrink_runs=20,
                          shrink_seconds=10)
    # caught in the parameters or (optax, judged per step) in the stored trace
    assert not report.passed and report.finding_counts["outside_bound"] > 0, report.describe()
    assert report.counterexample is not None


def test_sgd_case_is_not_set_aside_for_adam_scalars_it_never_reads() -> None:
    # an SGD case carries eps = 1e-8 (subnormal in float16) and betas; only its own intermediates count
    case = Case(Run(preset("torch.SGD", lr="0.5", momentum="0.5"), (1.0,), ((0.5,),)), Dtype.FLOAT16)
    assert case.run.config.hyper.eps < Dtype.FLOAT16.format.smallest_normal
    assert subnormal_intermediates(case) == []
    adam = Case(Run(preset("torch.Adam", lr="0.5"), (1.0,), ((0.5,),)), Dtype.FLOAT16)
    assert any(name.startswith("eps") for name in subnormal_intermediates(adam))


def test_by_import_path_they_are_the_builtin_targets_with_their_declarations() -> None:
    optax_sgd = resolve_target("optax:sgd", options={"accumulator_dtype": None})
    assert isinstance(optax_sgd, OptaxSGDImplementation) and optax_sgd.name == "optax:sgd"
    keras_sgd = resolve_target("keras.optimizers:SGD", options={"clipnorm": 100.0})
    assert isinstance(keras_sgd, KerasSGDImplementation) and keras_sgd.options == {"clipnorm": 100.0}
    # (then the framework-wide findings of optax and Keras, which an SGD case never triggers)
    assert [k.id for k in known_findings("optax:sgd", Dtype.FLOAT16)][:1] == ["optax-sgd-float16-lr-weakly-typed"]
    assert [k.id for k in known_findings("keras.optimizers:SGD", Dtype.FLOAT16)][:1] == [
        "keras-sgd-float16-lr-in-variable-dtype"]
    for target, option in (("optax:sgd", "momentum"), ("optax:sgd", "foreach"), ("keras.optimizers:SGD", "weight_decay")):
        with pytest.raises(InvalidArgumentError, match=option):
            resolve_target(target, options={option: 0.5})
    report = check_target("keras.optimizers:SGD", expect="sgdw", dtype="float64", examples=3, seed=1, max_steps=3)
    assert report.passed and report.precision.endswith("float32 scalars"), report.describe()


def test_dampening_is_an_option_they_lack() -> None:
    # neither optax.sgd nor Keras SGD has a dampening: a case with one is refused by the adapter and
    # never drawn by check (fit_to_target resets it), while torch.SGD takes it
    case = Case(Run(preset("torch.SGD", lr="0.5", momentum="0.5", dampening="0.25"), (1.0,), ((0.5,), (0.5,))),
                Dtype.FLOAT32)
    for impl in (OptaxSGDImplementation(), KerasSGDImplementation()):
        obs = impl.run(case)
        assert obs.error is not None and "dampening" in obs.error
        assert Capability.DAMPENING not in capabilities_of(impl)
    assert fit_to_target(case, capabilities_of(OptaxSGDImplementation())).run.config.hyper.dampening == 0
    assert Capability.DAMPENING in BUILTIN_TARGETS["torch.SGD"].info.capabilities
