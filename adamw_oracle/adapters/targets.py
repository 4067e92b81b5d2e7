"""The built-in targets, declared once: what each one is, offers, assumes, and is known to do wrong.

One :class:`TargetInfo` per built-in optimizer (in the spirit of PyTorch's ``OptimizerInfo``) states

* ``preset``: the convention it claims to implement (``check``'s default expectation);
* ``paths``: its code paths (torch: ``foreach`` -- the default --, ``forloop``, ``fused``); the target
  names are ``name`` for the default path and ``name[path]`` for the others;
* ``dtypes``: the dtypes its adapter runs;
* ``capabilities``: its optional switches (:class:`~adamw_oracle.contract.capabilities.Capability`);
* ``precision``: the :class:`~adamw_oracle.contract.precision.PrecisionModel` it declares per dtype
  (absent: the judge's default); a declaration states a legitimate design choice of the framework
  (Keras keeps ``learning_rate`` and the betas in float32 variables, so float64 weights see float32
  scalars);
* ``known``: :class:`KnownFinding` s -- real, reproduced misbehaviour of the framework that ``check``
  reports as *known* instead of failing on it, so that its verdict does not depend on whether a seed
  happens to draw the trigger. Each has a minimal triggering case, which the test suite runs directly:
  a fix upstream makes that test fail, and the entry is then removed.

:mod:`adamw_oracle.adapters.registry` derives the target names from this table and builds each adapter;
the adapters read their capabilities, dtypes and precision declarations from it (the table is data: it
imports no adapter); ``tests/test_targets.py`` runs over it.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import ParamSummation, PrecisionModel
from adamw_oracle.contract.presets import preset
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import OptimizerState
from adamw_oracle.errors import InvalidArgumentError

ALL_DTYPES = (Dtype.FLOAT64, Dtype.FLOAT32, Dtype.BFLOAT16, Dtype.FLOAT16)
HALF_DTYPES = (Dtype.BFLOAT16, Dtype.FLOAT16)
TORCH_PATHS = ("foreach", "forloop", "fused")
TORCH_READ_BACK_PATHS = ("foreach", "forloop")
"""torch.optim.Adam/AdamW paths whose update reads the stored moments back (torch/optim/adam.py, torch 2.13:
``_single_tensor_adam`` forms ``denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`` (or from
``max_exp_avg_sqs[i]``) and ``param.addcdiv_(exp_avg, denom, ...)`` from the stored tensors;
``_multi_tensor_adam`` likewise ``torch._foreach_sqrt(device_exp_avg_sqs)`` then ``_foreach_addcdiv_`` with
``device_exp_avgs``). The fused CPU kernel (``torch._fused_adamw_``) divides by its float working v, not the
stored one: declared read-back it fails (tests/test_resync.py)."""
VALUE_FINDINGS = frozenset({"outside_bound", "nonfinite"})
_0, _1 = Fraction(0), Fraction(1)


@dataclass(frozen=True)
class KnownFinding:
    """A reproduced misbehaviour of a built-in target, declared so that ``check`` reports it as known.

    A case's finding is *this* known finding when the target runs one of ``paths`` in one of
    ``dtypes``, the finding's kind is in ``kinds``, ``occurs(case)`` holds (the triggering condition,
    read from the case's hyperparameters and conventions), and -- for value findings, when
    ``explained_by`` is set -- the observation passes when judged under ``explained_by(dtype)`` (the
    precision model of what the framework really does). ``trigger(dtype)`` is a minimal case that
    shows it. ``computed_as(case)``, when set, is the case the framework really computes (torch's
    stalled float32 step counter as ``Run.counter``): a value finding of a trajectory verdict that
    ``matches`` rejects is this known finding only when the observation passes on that case.
    """

    id: str
    summary: str
    kinds: frozenset[str]
    paths: tuple[str, ...]
    dtypes: tuple[Dtype, ...]
    occurs: Callable[[Case], bool]
    trigger: Callable[[Dtype], Case]
    explained_by: Callable[[Dtype], PrecisionModel] | None = None
    evidence: str = ""
    #: the behaviour is outside the contract (no convention or precision model expresses it: per-tensor
    #: update clipping, quantized state, compensated summation, ...): ``check`` reports such cases as
    #: OUTSIDE_CONTRACT with this entry's evidence, neither a pass nor an ordinary failure
    outside_contract: bool = False
    #: which findings of a triggering case it explains, by their text (None: every one of its kinds)
    matches: Callable[[str], bool] | None = None
    #: the case as the framework really computes it (a value finding whose text ``matches`` does not
    #: accept is explained when the observation, judged in trajectory mode under the target's declared
    #: precision, passes on that case): torch's float32 step counter, :func:`torch_float32_counter`
    computed_as: Callable[[Case], Case] | None = None

    def applies(self, path: str, dtype: Dtype) -> bool:
        return path in self.paths and dtype in self.dtypes


@dataclass(frozen=True)
class TargetInfo:
    """One built-in optimizer and everything the toolkit declares about it (see the module docstring)."""

    name: str
    framework: str  # the module that must be importable (``importlib.util.find_spec``)
    preset: str
    family: Family
    paths: tuple[str, ...]
    dtypes: tuple[Dtype, ...]
    capabilities: frozenset[Capability]
    precision: Mapping[Dtype, PrecisionModel] = field(default_factory=dict, hash=False)
    known: tuple[KnownFinding, ...] = ()
    flushes_subnormals: bool = False
    #: whether its state tensors (exp_avg, exp_avg_sq) are the contract's m and v; False (torch-optimi
    #: keeps the bias-corrected m-hat and v-hat there) makes check judge its trajectory, not each step
    state_is_mv: bool = True
    #: the code paths whose parameter update reads m, v (vmax) back from their stored tensors
    #: (``PrecisionModel.reads_back_state``; torch's for-loop and foreach paths, not its fused kernel)
    reads_state_back: tuple[str, ...] = ()

    @property
    def default_path(self) -> str:
        return self.paths[0]

    def target_name(self, path: str) -> str:
        return self.name if path == self.default_path else f"{self.name}[{path}]"

    def target_names(self) -> list[str]:
        return [self.target_name(p) for p in self.paths]

    def precision_for(self, dtype: Dtype, path: str | None = None) -> PrecisionModel | None:
        """The declared precision model for ``dtype`` (None: the judge's default); on a ``path`` of
        :attr:`reads_state_back`, that model (default: the conservative one) reading its state back."""
        declared = self.precision.get(dtype)
        if path is not None and path in self.reads_state_back:
            return (declared or PrecisionModel.conservative(dtype)).reading_back()
        return declared

    def known_for(self, path: str, dtype: Dtype) -> tuple[KnownFinding, ...]:
        return tuple(k for k in self.known if k.applies(path, dtype))


# -- known findings ----------------------------------------------------------------------------------

def _nesterov_grad_write_occurs(case: Case) -> bool:
    h, conv = case.run.config.hyper, case.run.config.conventions
    return bool(h.nesterov) and h.momentum != 0 and h.weight_decay == 0 and not conv.maximize


SGD_FOREACH_NESTEROV_WRITES_GRAD = KnownFinding(
    id="torch-sgd-foreach-nesterov-writes-grad",
    summary="torch.SGD foreach with nesterov, weight_decay=0 and maximize=False adds momentum*buf into "
            "p.grad in place (_foreach_add_(device_grads, bufs, alpha=momentum)); the parameters are right",
    kinds=frozenset({"mutated_input"}),
    paths=("foreach",),
    dtypes=ALL_DTYPES,
    occurs=_nesterov_grad_write_occurs,
    trigger=lambda dtype: Case(Run(preset("torch.SGD", lr="0.5", momentum="0.5", nesterov=True), (_0,), ((_1,),)), dtype),
    evidence="torch/optim/sgd.py _multi_tensor_sgd; tests/test_adapters_torch_sgd.py",
)

SGD_HALF_LR_ROUNDED = KnownFinding(
    id="torch-sgd-float16-lr-rounded-to-half",
    summary="torch.SGD for-loop and foreach in float16: param.add_(grad, alpha=-lr) rounds lr to float16 "
            "(a subnormal for lr < 2**-14), outside the model's float32 scalars; the fused kernel keeps lr in float32",
    kinds=VALUE_FINDINGS,
    paths=("forloop", "foreach"),
    dtypes=(Dtype.FLOAT16,),
    occurs=lambda case: True,
    # p = 0, g = 16, lr = 1e-6: exact -1.6e-5; torch computes 16 * float16(1e-6) = -1.6212e-5 (3.6 ulp)
    trigger=lambda dtype: Case(Run(preset("torch.SGD", lr=1e-6), (_0,), ((Fraction(16),),)), dtype),
    explained_by=lambda dtype: PrecisionModel(dtype, dtype, dtype, scalars=dtype),
    evidence="tests/test_adapters_torch_sgd.py test_float16_lr_rounded_to_half_is_reported",
)

def _keras_half_trigger(dtype: Dtype) -> Case:
    if dtype is Dtype.BFLOAT16:  # bfloat16(0.999) == 1: 1 - beta_2**t = 0
        return Case(Run(preset("keras.Adam", lr=0.125), (_1,), ((Fraction(1, 2),),)), dtype)
    # float16: lr = 3e-4 and the betas rounded to float16 put p1 at -3.0518e-4 instead of -2.9866e-4 (27 ulp)
    return Case(Run(preset("keras.Adam", lr=3e-4, beta1=0.99, beta2=0.95, eps=1e-3), (_0,), ((_1,),)), dtype)


SGD_FUSED_HALF_SKIPS_VECTOR_BLOCKS = KnownFinding(
    id="torch-sgd-fused-half-skips-vector-blocks",
    summary="torch.SGD(fused=True) on the CPU in float16/bfloat16 leaves every full 16-element vector block of "
            "a tensor unchanged and updates only the scalar tail (tensors of 16 elements or more)",
    kinds=VALUE_FINDINGS,
    paths=("fused",),
    dtypes=(Dtype.FLOAT16, Dtype.BFLOAT16),
    occurs=lambda case: case.run.size >= 16,
    # p = 1, g = 1, lr = 1/8: exactly 7/8 in every element; torch leaves elements 0-15 at 1
    trigger=lambda dtype: Case(Run(preset("torch.SGD", lr="0.125"), (_1,) * 20, ((_1,) * 20,)), dtype),
    evidence="tests/test_adapters_torch_sgd.py test_fused_half_sgd_skips_its_vector_blocks (torch 2.13 CPU)",
)

def torch_float32_counter(case: Case) -> Case:
    """``case`` with the step numbers torch computes with: ``state['step']`` is a float32 tensor loaded
    as float32(s) and advanced by ``step += 1`` in float32, so t_k = float32(t_{k-1} + 1) with
    t_0 = float32(s) -- consecutive up to 2**24, then stuck (2**24 + 1 rounds to even, back to 2**24;
    from 2**24 + 2 it moves once by 2, to 2**24 + 4, and stays). torch/optim/adam.py (torch 2.13):
    ``step_t += 1`` (for-loop), ``torch._foreach_add_(device_state_steps, 1)`` (foreach, fused), then
    ``bias_correction = 1 - beta ** step`` with that value. The case itself when the counter is exact."""
    run = case.run
    assert run.initial_state is not None
    t, counter = np.float32(run.initial_state.step), []
    for _ in range(run.steps):
        t = np.float32(t + np.float32(1))
        counter.append(int(t))
    if counter == [run.t_at(k) for k in range(run.steps)]:
        return case
    return Case(run.replace(counter=tuple(counter)), case.dtype)


TORCH_FLOAT32_STEP_COUNTER = KnownFinding(
    id="torch-adam-step-counter-float32",
    summary="torch.Adam/AdamW keep state['step'] as a float32 tensor: exact only up to 2**24, where step += 1 "
            "no longer moves it (and a loaded step of 2**31 - 2 becomes 2**31); the stored counter is off, and "
            "the step is computed with the stalled t: the parameters stay within their bound where beta2**t has "
            "underflowed, but not where it still counts (float64, beta2 = 0.999999: beta2**(2**24) = 5.6e-8, "
            "so 1 - beta2**t moves by 5.6e-14 per step of t, far above float64's rounding)",
    kinds=frozenset({"outside_bound"}),
    paths=TORCH_PATHS,
    dtypes=ALL_DTYPES,
    occurs=lambda case: case.run.initial_state is not None and case.run.initial_state.step + case.run.steps > 2**24,
    trigger=lambda dtype: Case(Run(preset("torch.Adam"), (_1,), ((_1,),), OptimizerState(2**24, (_0,), (_0,), (_0,))), dtype),
    evidence="torch/optim/adam.py: state['step'] = torch.tensor(0.0, dtype=_get_scalar_dtype()); check's seeded "
             "states across 2**24 (adamw_oracle.check.cases); the parameters judged with the stalled t: "
             "tests/test_targets.py test_torch_step_counter_stall_moves_the_parameters_too; judged as a "
             "trajectory (no counter observed): the parameters are those of the float32 counter's t, "
             "tests/test_targets.py test_torch_step_counter_stall_in_trajectory_mode",
    matches=lambda message: "stored state step" in message,
    computed_as=torch_float32_counter,
)

def _optax_count_trigger(dtype: Dtype) -> Case:
    """Two steps from a state after 2**31 - 2 steps: the count stops at 2**31 - 1 after the first (eps and
    1 - beta2 normal numbers of float16, so no case is set aside as subnormal on XLA)."""
    config = preset("optax.adam", lr="0.001", beta2="0.999", eps="0.001")
    return Case(Run(config, (_1,), ((_1,), (_1,)), OptimizerState(2**31 - 2, (_0,), (_0,), (_0,))), dtype)


OPTAX_COUNT_SATURATES = KnownFinding(
    id="optax-count-int32-saturates",
    summary="optax keeps the step count as an int32 and advances it with safe_increment, which stops at "
            "2**31 - 1 (by design: no wrap to -2**31); the parameters stay within their bound (beta**t has "
            "long underflowed), only the stored counter is off",
    kinds=frozenset({"outside_bound"}),
    paths=("eager",),
    dtypes=ALL_DTYPES,
    occurs=lambda case: case.run.initial_state is not None and case.run.initial_state.step + case.run.steps > 2**31 - 1,
    trigger=_optax_count_trigger,
    evidence="optax/_src/numerics.py safe_increment ('when max_val is reached the counter stays at max_val'); "
             "optax/_src/transform.py scale_by_adam: count=jnp.zeros([], jnp.int32); "
             "tests/test_optax_state.py",
    matches=lambda message: "stored state step" in message,
)

KERAS_HALF_SCALARS = KnownFinding(
    id="keras-half-scalars-in-variable-dtype",
    summary="Keras in bfloat16/float16 casts learning_rate and the betas to the variable's dtype and forms "
            "beta**t there (bfloat16(0.999) == 1, so 1 - beta_2**t = 0); outside the model's float32 scalars",
    kinds=VALUE_FINDINGS,
    paths=("eager",),
    dtypes=HALF_DTYPES,
    occurs=lambda case: True,
    trigger=_keras_half_trigger,
    explained_by=lambda dtype: PrecisionModel(dtype, dtype, dtype, scalars=dtype),
    evidence="keras/src/optimizers/adam.py update_step; tests/test_adapters_keras.py",
)

def _keras_iterations_are_int32() -> bool:
    """Whether Keras keeps ``iterations`` as an int32: on every backend but TensorFlow (int64 there), read
    from Keras only when something already imported it (this table imports no framework)."""
    keras = sys.modules.get("keras")
    return keras is None or getattr(getattr(keras, "backend", None), "backend", lambda: "")() != "tensorflow"


def _keras_wrap_occurs(case: Case) -> bool:
    st = case.run.initial_state
    return st is not None and st.step + case.run.steps >= 2**31 and _keras_iterations_are_int32()


def _keras_wrap_trigger(dtype: Dtype) -> Case:
    """Two steps from a state after 2**31 - 2 steps: t = 2**31 - 1 is right, t = 2**31 wraps (beta2 = 0.99
    and eps = 1e-3 are normal numbers of float16 and bfloat16, and bfloat16(0.99) != 1)."""
    config = preset("keras.Adam", lr="0.001", beta2="0.99", eps="0.001")
    return Case(Run(config, (_1,), ((_1,), (_1,)), OptimizerState(2**31 - 2, (_0,), (_0,), (_0,))), dtype)


KERAS_ITERATIONS_INT32_WRAPS = KnownFinding(
    id="keras-iterations-int32-wraps",
    summary="Keras keeps optimizer.iterations as an int32 on the JAX and torch backends (int64 only on "
            "TensorFlow) and forms local_step = cast(iterations + 1, dtype): the step t = 2**31 computes with "
            "t = -2**31 (beta**t = inf, alpha = lr*sqrt(1 - inf)/(1 - inf) = NaN), so the parameters go NaN "
            "there and stay NaN, and iterations wraps to -2**31; m and v stay right",
    kinds=frozenset({"outside_bound", "nonfinite"}),
    paths=("eager",),
    dtypes=ALL_DTYPES,
    occurs=_keras_wrap_occurs,
    trigger=_keras_wrap_trigger,
    evidence="keras/src/backend/common/dtypes.py PYTHON_DTYPES_MAP: 'int' is int64 only for tensorflow; "
             "keras/src/optimizers/base_optimizer.py: iterations = backend.Variable(0, dtype='int'), "
             "self._iterations.assign_add(1); keras/src/optimizers/adam.py update_step: local_step = "
             "ops.cast(self.iterations + 1, variable.dtype); tests/test_keras_state.py (Keras 3.15.1, JAX and torch)",
    # the stored counter, and the parameters NaN from t = 2**31 (a finite parameter outside its bound is not this)
    matches=lambda message: "stored state step" in message or "implementation nan" in message,
)

OPTAX_BFLOAT16_WEAK_SCALARS = KnownFinding(
    id="optax-bfloat16-scalars-weakly-typed",
    summary="optax in bfloat16 multiplies the parameters by its Python-float hyperparameters (weight_decay * p in "
            "add_decayed_weights, the betas in the moment updates, -lr), which JAX's weak typing rounds to bfloat16 "
            "first (bfloat16(0.98943) = 0.98828); outside the model's float32 scalars, visible where p - lr*wd*p "
            "cancels",
    kinds=VALUE_FINDINGS,
    paths=("eager",),
    dtypes=(Dtype.BFLOAT16,),
    occurs=lambda case: True,
    # p = -1.0390625, g = -0.0027161, lr = 1, wd = 0.98943: exact -0.00711; optax gives -0.015625 (1.01x the
    # bound); with wd = 0.98828125 (a bfloat16 number) it is within
    trigger=lambda dtype: Case(Run(preset("optax.adamw", lr="1", beta1="0.9", beta2="0.9454190129613754",
                                          eps="0.6981887255004768", weight_decay="0.9894287672981719"),
                                   (Fraction(-1.0390625),), ((Fraction(-0.002716064453125),),)), dtype),
    explained_by=lambda dtype: PrecisionModel(dtype, dtype, dtype, scalars=dtype),
    evidence="optax/transforms/_adding.py add_decayed_weights: g + s * p with s a Python float; "
             "jnp.bfloat16 array * 0.9894287672981719 is bfloat16 0.98828 * p; found by benchmarks/false_alarms.py "
             "(bfloat16/optax.adamw/check/1, a 65,536-element case); tests/test_targets.py",
)

def _float16_lr_trigger(preset_name: str) -> Callable[[Dtype], Case]:
    # p = 0, g = 1024, lr = 1e-6: exact -1.024e-3; float16(1e-6) = 1.0133e-6 (a subnormal) gives -1.0376e-3
    # (29 ulp); the update and p are normal numbers, so a flush-to-zero target does not set the case aside
    return lambda dtype: Case(Run(preset(preset_name, lr=1e-6), (_0,), ((Fraction(1024),),)), dtype)


OPTAX_SGD_HALF_LR_WEAKLY_TYPED = KnownFinding(
    id="optax-sgd-float16-lr-weakly-typed",
    summary="optax.sgd in float16 multiplies the updates by its Python-float -lr (scale_by_learning_rate), which "
            "JAX's weak typing rounds to float16 first (a subnormal, kept by XLA, for lr < 2**-14); outside the "
            "model's float32 scalars. In bfloat16 (float32's range) the same rounding stays within the bound",
    kinds=VALUE_FINDINGS,
    paths=("eager",),
    dtypes=(Dtype.FLOAT16,),
    occurs=lambda case: True,
    trigger=_float16_lr_trigger("torch.SGD"),
    explained_by=lambda dtype: PrecisionModel(dtype, dtype, dtype, scalars=dtype),
    evidence="optax/_src/transform.py scale: updates * step_size with step_size = -lr a Python float; "
             "tests/test_adapters_sgd.py",
)

KERAS_SGD_HALF_LR = KnownFinding(
    id="keras-sgd-float16-lr-in-variable-dtype",
    summary="Keras SGD in float16 casts learning_rate (and momentum, weight_decay) to the variable's dtype "
            "(ops.cast(learning_rate, variable.dtype)): a subnormal float16 lr for lr < 2**-14; outside the "
            "model's float32 scalars. In bfloat16 (float32's range) the same rounding stays within the bound",
    kinds=VALUE_FINDINGS,
    paths=("eager",),
    dtypes=(Dtype.FLOAT16,),
    occurs=lambda case: True,
    trigger=_float16_lr_trigger("sgdw"),
    explained_by=lambda dtype: PrecisionModel(dtype, dtype, dtype, scalars=dtype),
    evidence="keras/src/optimizers/sgd.py update_step; tests/test_adapters_sgd.py",
)

#: Keras holds learning_rate and the betas in float32 variables whatever the weights' dtype.
_KERAS_PRECISION = {Dtype.FLOAT64: PrecisionModel(Dtype.FLOAT64, Dtype.FLOAT64, Dtype.FLOAT64, scalars=Dtype.FLOAT32)}

_ADAM_CAPS = frozenset({Capability.WEIGHT_DECAY, Capability.AMSGRAD})

TARGETS: tuple[TargetInfo, ...] = (
    TargetInfo("torch.Adam", "torch", "torch.Adam", Family.ADAM, TORCH_PATHS, ALL_DTYPES,
               _ADAM_CAPS | {Capability.MAXIMIZE, Capability.SEEDED_STATE}, known=(TORCH_FLOAT32_STEP_COUNTER,),
               reads_state_back=TORCH_READ_BACK_PATHS),
    TargetInfo("torch.AdamW", "torch", "torch.AdamW", Family.ADAM, TORCH_PATHS, ALL_DTYPES,
               _ADAM_CAPS | {Capability.MAXIMIZE, Capability.SEEDED_STATE}, known=(TORCH_FLOAT32_STEP_COUNTER,),
               reads_state_back=TORCH_READ_BACK_PATHS),
    TargetInfo("torch.SGD", "torch", "torch.SGD", Family.SGD, TORCH_PATHS, ALL_DTYPES,
               frozenset({Capability.WEIGHT_DECAY, Capability.MAXIMIZE, Capability.DAMPENING, Capability.SEEDED_STATE}),
               known=(SGD_FOREACH_NESTEROV_WRITES_GRAD, SGD_HALF_LR_ROUNDED, SGD_FUSED_HALF_SKIPS_VECTOR_BLOCKS)),
    TargetInfo("optax.adam", "optax", "optax.adam", Family.ADAM, ("eager",), ALL_DTYPES,
               frozenset({Capability.AMSGRAD, Capability.EPS_ROOT, Capability.SEEDED_STATE}),
               known=(OPTAX_COUNT_SATURATES,), flushes_subnormals=True),
    TargetInfo("optax.adamw", "optax", "optax.adamw", Family.ADAM, ("eager",), ALL_DTYPES,
               frozenset({Capability.AMSGRAD, Capability.EPS_ROOT, Capability.WEIGHT_DECAY, Capability.SEEDED_STATE}),
               known=(OPTAX_BFLOAT16_WEAK_SCALARS, OPTAX_COUNT_SATURATES), flushes_subnormals=True),
    TargetInfo("keras.Adam", "keras", "keras.Adam", Family.ADAM, ("eager",), ALL_DTYPES,
               _ADAM_CAPS | {Capability.SEEDED_STATE}, precision=_KERAS_PRECISION,
               known=(KERAS_HALF_SCALARS, KERAS_ITERATIONS_INT32_WRAPS), flushes_subnormals=True),
    TargetInfo("keras.AdamW", "keras", "keras.AdamW", Family.ADAM, ("eager",), ALL_DTYPES,
               _ADAM_CAPS | {Capability.SEEDED_STATE}, precision=_KERAS_PRECISION,
               known=(KERAS_HALF_SCALARS, KERAS_ITERATIONS_INT32_WRAPS), flushes_subnormals=True),
    # optax.sgd (+ add_decayed_weights) is torch.SGD's convention with dampening 0; Keras SGD's velocity form
    # is sgdw's with dampening 0 at one lr per run (adapters/optax_sgd.py, adapters/keras_sgd.py)
    TargetInfo("optax.sgd", "optax", "torch.SGD", Family.SGD, ("eager",), ALL_DTYPES,
               frozenset({Capability.WEIGHT_DECAY, Capability.SEEDED_STATE}),
               known=(OPTAX_SGD_HALF_LR_WEAKLY_TYPED,), flushes_subnormals=True),
    TargetInfo("keras.SGD", "keras", "sgdw", Family.SGD, ("eager",), ALL_DTYPES, frozenset({Capability.WEIGHT_DECAY}),
               precision=_KERAS_PRECISION, known=(KERAS_SGD_HALF_LR,), flushes_subnormals=True),
)

TARGETS_BY_NAME: dict[str, TargetInfo] = {t.name: t for t in TARGETS}

FRAMEWORK_KNOWN: dict[str, tuple[KnownFinding, ...]] = {"optax": (OPTAX_COUNT_SATURATES,),
                                                     "keras": (KERAS_ITERATIONS_INT32_WRAPS,)}
"""Findings of a framework's shared machinery (optax's int32 count, Keras's int32 iterations), declared for every target of it by
import path (``optax:adamw``, a factory object with ``known_framework = "optax"``), not only the built-ins."""



# -- third-party optimizers named by import path -------------------------------------------------------
# What torch-optimi and torchao really do (read from their source and shown by ``identify`` on the CPU,
# torch 2.13; tests/test_thirdparty.py checks each statement through the import-path targets). Their
# ``name`` is the import path; ``check`` and ``identify`` given that path use these declarations, with or
# without constructor options (declared_target).

def _stagnation_case(dtype: Dtype) -> Case:
    """Four parameters at 1 and eight updates of a quarter of the spacing below 1 (lr = spacing/4):
    rounding to nearest keeps p = 1; compensated summation moves p to 1 - 8 lr.

    torch-optimi keeps float16/bfloat16 parameters with Kahan summation by default (``kahan_sum=None``):
    ``check`` judges ``p + kahan_comp`` under its declared Kahan model (:func:`_optimi_kahan`), and
    ``identify`` names the compensated summation (its ``stagnation`` probe)."""
    lr = Fraction(1, 2 ** dtype.format.precision) / 4
    return Case(Run(preset("torch.AdamW", lr=lr, eps=Fraction(1, 2**60), weight_decay=0), (_1,) * 4, ((_1,) * 4,) * 8),
                dtype)


OPTIMI_KAHAN_WRITES_GRAD = KnownFinding(
    id="optimi-kahan-writes-grad",
    summary="torch-optimi's Kahan step in float16/bfloat16 uses p.grad as its scratch buffer (grad.copy_(param))",
    kinds=frozenset({"mutated_input"}),
    paths=("default",),
    dtypes=HALF_DTYPES,
    occurs=lambda case: True,
    trigger=_stagnation_case,
    evidence="optimi/adam.py _single_param_adam: grad.copy_(param.detach()); kahan_comp.add_(grad.sub_(param))",
)

OPTIMI_L2_WRITES_GRAD = KnownFinding(
    id="optimi-l2-writes-grad",
    summary="torch-optimi's Adam with weight_decay != 0 (coupled L2) adds weight_decay*p into p.grad in place",
    kinds=frozenset({"mutated_input"}),
    paths=("default",),
    dtypes=ALL_DTYPES,
    occurs=lambda case: case.run.config.hyper.weight_decay != 0,
    trigger=lambda dtype: Case(Run(preset("torch.Adam", lr="0.5", weight_decay="0.5"), (_1,), ((_1,),)), dtype),
    evidence="optimi/adam.py _single_param_adam: grad.add_(param, alpha=weight_decay)",
)


def _stable_clips(case: Case) -> bool:
    """Whether StableAdamW's per-tensor RMS of g^2 / max(v-hat, eps^2) exceeds 1 at some step (its lr is
    then divided by that RMS), v-hat formed with optimi's debiased beta2 as it does."""
    beta2, eps_sq = float(case.run.config.hyper.beta2), float(case.run.config.hyper.eps) ** 2
    grads = np.asarray(case.gradients(), dtype=np.float64)
    v = np.zeros(grads.shape[1])
    for t, g in enumerate(grads, start=1):
        hat = (beta2**t - beta2) / (beta2**t - 1)
        v = hat * v + (1 - hat) * g * g
        if g.size and float(np.mean(g * g / np.maximum(v, eps_sq))) > 1:
            return True
    return False


OPTIMI_STABLE_CLIPPING = KnownFinding(
    id="optimi-stableadamw-update-clipping",
    summary="torch-optimi's StableAdamW divides lr by max(1, RMS(g^2 / max(v-hat, eps^2))) over each tensor "
            "(per-tensor update clipping, AdamW-Adafactor style); otherwise it is torch.AdamW",
    kinds=VALUE_FINDINGS,
    paths=("default",),
    dtypes=ALL_DTYPES,
    occurs=_stable_clips,
    # g = 1 then 10: RMS = sqrt(100 / 50.5) = 1.41 at step 2, the second update is 1.41 times too small
    trigger=lambda dtype: Case(Run(preset("torch.AdamW", lr="0.01", weight_decay="0"), (_1,), ((_1,), (Fraction(10),))),
                               dtype),
    evidence="optimi/stableadamw.py _single_param_stableadamw: rms = grad.pow(2).div_(exp_avg_sq.maximum(eps_sq))"
             ".mean().sqrt(); lr = lr / max(1, rms.item())",
    outside_contract=True,
)


def _torchao_quantized_occurs(block: int) -> Callable[[Case], bool]:
    return lambda case: case.run.size >= 4096 and case.run.size % block == 0


def _torchao_quantized(bits: str, block: int) -> KnownFinding:
    return KnownFinding(
        id=f"torchao-{bits}-quantized-state",
        summary=f"torchao keeps m and v {bits}-quantized (blocks of {block}) for tensors of at least 4096 "
                f"elements divisible by {block}; smaller tensors keep plain state",
        kinds=VALUE_FINDINGS,
        paths=("default",),
        dtypes=ALL_DTYPES,
        occurs=_torchao_quantized_occurs(block),
        trigger=lambda dtype: Case(Run(preset("torch.AdamW", lr="0.001"), tuple(Fraction(i % 61, 64) for i in range(4096)),
                                       (tuple(Fraction((i * 37) % 101 - 50, 128) for i in range(4096)),) * 2), dtype),
        evidence="torchao/optim/adam.py _AdamBase._new_buffer (numel >= 4096 and numel % block_size == 0)",
        outside_contract=True,
    )


def _f32_arithmetic(dtype: Dtype) -> PrecisionModel | None:
    """Float32 arithmetic for ``dtype`` parameters, state in the parameter format (torchao's plain
    buffers are ``zeros_like(p)``), when the contract has a precision model for it."""
    try:
        return PrecisionModel(Dtype.FLOAT32, dtype if dtype is not Dtype.FLOAT64 else Dtype.FLOAT32, dtype,
                              scalars=Dtype.FLOAT32)
    except InvalidArgumentError:  # float32 arithmetic for float64 parameters: not expressible yet
        return None


_TORCHAO_PRECISION = {d: m for d in ALL_DTYPES if (m := _f32_arithmetic(d)) is not None}

TORCHAO_F32_FOR_F64 = KnownFinding(
    id="torchao-float32-arithmetic-float64",
    summary="torchao computes the step in float32 for float64 parameters (p.float(), lr a float32 tensor) and "
            "stores the float32 results back",
    kinds=VALUE_FINDINGS,
    paths=("default",),
    dtypes=(Dtype.FLOAT64,),
    occurs=lambda case: True,
    trigger=lambda dtype: Case(Run(preset("torch.AdamW", lr="0.1"), (Fraction(1, 3),), ((Fraction(1, 7),),)), dtype),
    evidence="torchao/optim/adam.py single_param_adam: p_f32 = p.float(); identify: every parameter value on the float32 grid",
    outside_contract=True,
)


def _torchao(name: str, preset_name: str, bits: str, block: int) -> TargetInfo:
    known: tuple[KnownFinding, ...] = (_torchao_quantized(bits, block),) if bits else ()
    if Dtype.FLOAT64 not in _TORCHAO_PRECISION:
        known += (TORCHAO_F32_FOR_F64,)
    return TargetInfo(f"torchao.optim:{name}", "torchao", preset_name, Family.ADAM, ("default",), ALL_DTYPES,
                      frozenset({Capability.WEIGHT_DECAY, Capability.AMSGRAD}), precision=_TORCHAO_PRECISION, known=known)


def _optimi_kahan(dtype: Dtype) -> PrecisionModel:
    """torch-optimi in float16/bfloat16 (``kahan_sum=None``, its default): every operation rounded to
    the parameter format, state in it, and the parameter kept with Kahan summation, its
    ``state[p]["kahan_comp"]`` the compensation (the torch adapter reports it after every step). Its
    decoupled decay multiplies the stored parameter before the compensated update
    (``param.mul_(1 - lr*wd)``), so the decay is not compensated."""
    return PrecisionModel(dtype, dtype, dtype, param_summation=ParamSummation.KAHAN, decay_compensated=False)


_OPTIMI_PRECISION = {d: _optimi_kahan(d) for d in HALF_DTYPES}

IMPORT_PATH_TARGETS: tuple[TargetInfo, ...] = (
    TargetInfo("optimi:Adam", "optimi", "torch.Adam", Family.ADAM, ("default",), ALL_DTYPES,
               frozenset({Capability.WEIGHT_DECAY}), precision=_OPTIMI_PRECISION,
               known=(OPTIMI_KAHAN_WRITES_GRAD, OPTIMI_L2_WRITES_GRAD), state_is_mv=False),
    TargetInfo("optimi:AdamW", "optimi", "torch.AdamW", Family.ADAM, ("default",), ALL_DTYPES,
               frozenset({Capability.WEIGHT_DECAY}), precision=_OPTIMI_PRECISION, known=(OPTIMI_KAHAN_WRITES_GRAD,),
               state_is_mv=False),
    TargetInfo("optimi:StableAdamW", "optimi", "torch.AdamW", Family.ADAM, ("default",), ALL_DTYPES,
               frozenset({Capability.WEIGHT_DECAY}), precision=_OPTIMI_PRECISION,
               known=(OPTIMI_STABLE_CLIPPING, OPTIMI_KAHAN_WRITES_GRAD), state_is_mv=False),
    _torchao("AdamW8bit", "torch.AdamW", "8bit", 256),
    _torchao("Adam8bit", "torch.Adam", "8bit", 256),
    _torchao("AdamW4bit", "torch.AdamW", "4bit", 128),
    _torchao("AdamWFp8", "torch.AdamW", "fp8", 256),
    _torchao("_AdamW", "torch.AdamW", "", 0),
)
"""Third-party optimizers by import path: what they implement, their precision, their known findings."""

IMPORT_PATH_TARGETS_BY_NAME: dict[str, TargetInfo] = {t.name: t for t in IMPORT_PATH_TARGETS}


# -- targets given by import path with constructor options ---------------------------------------------

FRAMEWORK_IMPORT_PATHS: dict[str, str] = {
    "torch.optim:Adam": "torch.Adam", "torch.optim.adam:Adam": "torch.Adam",
    "torch.optim:AdamW": "torch.AdamW", "torch.optim.adamw:AdamW": "torch.AdamW",
    "torch.optim:SGD": "torch.SGD", "torch.optim.sgd:SGD": "torch.SGD",
    "optax:adam": "optax.adam", "optax:adamw": "optax.adamw", "optax:sgd": "optax.sgd",
    "keras.optimizers:Adam": "keras.Adam", "keras.optimizers:AdamW": "keras.AdamW",
    "keras.optimizers:SGD": "keras.SGD",
}
"""The import paths of the built-in targets' own optimizers: ``check torch.optim:AdamW --option
foreach=True`` runs torch.AdamW's foreach path, so torch.AdamW's declarations for that path apply."""


def torch_path(options: Mapping[str, object] | None) -> str:
    """The torch.optim code path that constructor ``options`` select on CPU tensors: ``fused=True``
    the fused kernel, ``foreach=True`` the multi-tensor one, anything else the for-loop (torch's
    ``_default_to_fused_or_foreach`` picks neither for CPU tensors when the flags are left unset)."""
    options = options or {}
    if options.get("fused"):
        return "fused"
    if options.get("foreach"):
        return "foreach"
    return "forloop"


def declared_target(target: str, options: Mapping[str, object] | None = None) -> tuple[TargetInfo, str] | None:
    """The table's entry and code path for a target named by import path (``torch.optim:SGD``,
    ``optimi:AdamW``) and built with constructor ``options``; None for a path the table does not declare.

    A framework optimizer maps to its built-in target, on the path its options select
    (:func:`torch_path`; the frameworks with one path keep it whatever the options); a third-party
    optimizer of :data:`IMPORT_PATH_TARGETS` has one path, its declarations hold with any options (each
    known finding's ``occurs`` reads the case, and a value finding must moreover be explained by its
    precision model)."""
    name = FRAMEWORK_IMPORT_PATHS.get(target)
    if name is not None:
        info = TARGETS_BY_NAME[name]
        return info, torch_path(options) if info.paths == TORCH_PATHS else info.default_path
    third_party = IMPORT_PATH_TARGETS_BY_NAME.get(target)
    return (third_party, third_party.default_path) if third_party is not None else None
