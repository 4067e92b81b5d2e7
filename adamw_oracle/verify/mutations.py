"""Deliberately broken steps, each modelled on a real bug reported against a real implementation.

Each mutation is a :class:`~adamw_oracle.verify.numpy_impl.NumpyImplementation` with exactly one hook
broken, so it is an ordinary :class:`~adamw_oracle.contract.case.Implementation`: ``check`` can
take it as a target and the benchmarks can time its detection. ``models`` names the real report;
``applies(conventions)`` says for which declared conventions the bug changes the result (elsewhere the
mutation computes the correct step). The meta-tests require the fuzz to catch every one of them.
"""
from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    WeightDecay,
)
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.numpy_impl import NumpyImplementation, RunScalars


class Mutation(NumpyImplementation):
    """A broken step: ``name``, the real bug it imitates (``models``) and where it bites (``applies``)."""

    name = "mutation"
    models = ""
    summary = ""

    def __init__(self) -> None:
        super().__init__(name=type(self).name)

    def applies(self, conventions: Conventions) -> bool:
        return conventions.family is Family.ADAM


def _adam(conv: Conventions) -> bool:
    return conv.family is Family.ADAM


class EpsilonHatForTorchForm(Mutation):
    name = "epsilon_hat_instead_of_torch_form"
    summary = "eps added to sqrt(v) before dividing by sqrt(bc2) (epsilon-hat) where eps after sqrt(v-hat) is declared"
    models = ("Oneflow-Inc/oneflow#5960: folding the bias correction into the learning rate "
              "(lr*sqrt(bc2)/bc1 * m/(sqrt(v)+eps)) 'ignores epsilon' when sqrt(bc2) is pulled out, unlike PyTorch")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.eps_placement is EpsPlacement.AFTER_ROOT \
            and conventions.bias_correction is BiasCorrection.ON

    def denominator(self, ctx: RunScalars, conv: Conventions, second: np.ndarray, corrected: bool, bc2: Any) -> np.ndarray:
        if conv.eps_placement is not EpsPlacement.AFTER_ROOT:
            return super().denominator(ctx, conv, second, corrected, bc2)
        root_bc2 = ctx.s(np.sqrt(bc2))
        v_hat = second if corrected else second / ctx.s(bc2)
        return np.sqrt(v_hat) + ctx.s(ctx.h["eps"]) / root_bc2


class BiasCorrectionStepPlusOne(Mutation):
    name = "bias_correction_t_plus_1"
    summary = "bias corrections 1 - beta^(t+1): the step counter is incremented one time too many"
    models = ("apple/axlearn#1118: optimizers disagreed on 0-based versus 1-based steps "
              "(decay_bias_correction assumed a 0-based count), an off-by-one in the bias-correction exponent")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.bias_correction is BiasCorrection.ON

    def step_counter(self, t: int) -> float:
        return float(t + 1)


class BiasCorrectionDropped(Mutation):
    name = "bias_correction_off"
    summary = "m and v used without dividing by 1 - beta^t although bias correction is declared"
    models = "oxiglade/mlx-rs#301: 'Missing bias correction in Adam variants' (m/(sqrt(v)+eps) without m-hat, v-hat)"

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.bias_correction is BiasCorrection.ON

    def bias_corrections(self, ctx: RunScalars, conv: Conventions, t: int) -> tuple[Any, Any]:
        return 1.0, 1.0


class DecayOnUpdatedParameter(Mutation):
    name = "decay_on_updated_param"
    summary = "decoupled decay multiplies the parameter after the adaptive step instead of p(t-1)"
    models = ("bitsandbytes-foundation/bitsandbytes#2010: weight decay applied in the wrong order "
              "(after the update) in some backends, diverging from the decay on p(t-1)")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.weight_decay.is_decoupled and conventions.decay_target is DecayTarget.PREVIOUS_PARAM

    def apply_decay(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, update: np.ndarray, direction: np.ndarray) -> np.ndarray:
        if not conv.weight_decay.is_decoupled:
            return super().apply_decay(ctx, conv, p, update, direction)
        q = p - update
        return q - ctx.s(self.decay_coefficient(ctx, conv)) * q


class DecayNotScaledByLr(Mutation):
    name = "decay_not_times_lr"
    summary = "p -= wd*p where p -= lr*wd*p is declared"
    models = ("tensorflow/addons#2282: 'Weight decay is not multiplied with learning rate in "
              "DecoupledWeightDecayExtension' (unlike torch.optim.AdamW)")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.weight_decay is WeightDecay.DECOUPLED_LR

    def decay_coefficient(self, ctx: RunScalars, conv: Conventions) -> float:
        if conv.weight_decay is WeightDecay.DECOUPLED_LR:
            return ctx.h["weight_decay"]
        return super().decay_coefficient(ctx, conv)


class DecayNotTimesParameter(Mutation):
    name = "decay_lr_wd_not_times_p"
    summary = "the decay subtracts lr*wd instead of lr*wd*p"
    models = ("e-sensing/torchopt#14: 'Fix AdamW' -- the weight decay was not multiplied by the "
              "parameter value")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.weight_decay.is_decoupled

    def apply_decay(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, update: np.ndarray, direction: np.ndarray) -> np.ndarray:
        if not conv.weight_decay.is_decoupled:
            return super().apply_decay(ctx, conv, p, update, direction)
        return p - ctx.s(self.decay_coefficient(ctx, conv)) - update


class AmsGradMaxOfVHat(Mutation):
    name = "amsgrad_max_of_v_hat"
    summary = "AMSGrad keeps the maximum of bias-corrected v-hat where the maximum of raw v is declared"
    models = ("pytorch/pytorch#142323 (docs described the max of v-hat while the code keeps the max of "
              "raw v) and google-deepmind/optax#1423 (optax keeps v-hat, unlike PyTorch/TensorFlow)")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.amsgrad is AmsGrad.MAX_RAW_V \
            and conventions.bias_correction is BiasCorrection.ON

    def amsgrad(self, ctx: RunScalars, conv: Conventions, v: np.ndarray, vmax: np.ndarray, bc2: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        if conv.amsgrad is AmsGrad.MAX_RAW_V:
            new = np.maximum(vmax, v / ctx.s(bc2))
            return new, new, True
        return super().amsgrad(ctx, conv, v, vmax, bc2)


class AmsGradMaxNotStored(Mutation):
    name = "amsgrad_max_not_stored"
    summary = "the AMSGrad maximum is computed for the denominator but the state keeps the old maximum"
    models = ("chainer/chainer#7661: 'Fix AMSGrad with intel64 backend' -- AMSGrad's state vhat was "
              "not updated")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.amsgrad is not AmsGrad.OFF

    def amsgrad(self, ctx: RunScalars, conv: Conventions, v: np.ndarray, vmax: np.ndarray, bc2: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        _new, second, corrected = super().amsgrad(ctx, conv, v, vmax, bc2)
        return vmax, second, corrected


class Bfloat16StepCounter(Mutation):
    name = "bfloat16_step_counter"
    summary = "the step counter is a bfloat16 tensor: it stops at 256, freezing the bias corrections"
    models = ("pytorch/ao#4915: 'Fix the Adam step counter saturating under a BF16 default dtype' "
              "(also deepspeedai/DeepSpeed#8496 for ZenFlow)")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.bias_correction is BiasCorrection.ON

    def step_counter(self, t: int) -> float:
        # The counter is incremented in bfloat16: once at 256, 256 + 1 rounds back to 256.
        return float(min(float(np.asarray(t, dtype=ml_dtypes.bfloat16)), 256.0))


class L2AndDecoupledSwapped(Mutation):
    name = "l2_and_decoupled_swapped"
    summary = "decoupled decay applied where L2 is declared and L2 where decoupled decay is declared"
    models = ("facebookresearch/bitsandbytes#10: 'AdamW is used automatically when you use Adam with "
              "weight decay' (bnb Adam's weight_decay was decoupled, unlike torch.optim.Adam's L2)")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.weight_decay in (WeightDecay.COUPLED_L2, WeightDecay.DECOUPLED_LR) \
            and conventions.decay_target is DecayTarget.PREVIOUS_PARAM

    def _swapped(self, conv: Conventions) -> Conventions:
        if conv.weight_decay is WeightDecay.COUPLED_L2:
            return conv.replace(weight_decay=WeightDecay.DECOUPLED_LR)
        if conv.weight_decay is WeightDecay.DECOUPLED_LR and conv.decay_target is DecayTarget.PREVIOUS_PARAM:
            return conv.replace(weight_decay=WeightDecay.COUPLED_L2)
        return conv

    def adam_step(self, ctx: RunScalars, conv: Conventions, *args: Any) -> tuple[np.ndarray, ...]:
        return super().adam_step(ctx, self._swapped(conv), *args)

    def sgd_step(self, ctx: RunScalars, conv: Conventions, *args: Any) -> tuple[np.ndarray, ...]:
        return super().sgd_step(ctx, self._swapped(conv), *args)


class EpsDropped(Mutation):
    name = "eps_dropped"
    summary = "the denominator is sqrt(v-hat) without eps"
    models = ("kozistr/pytorch_optimizer#480: AdamP applied eps after rsqrt, so it no longer guarded the "
              "denominator (and mlcommons/training_policies#95: requests to treat Adam's eps as zero)")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions)

    def denominator(self, ctx: RunScalars, conv: Conventions, second: np.ndarray, corrected: bool, bc2: Any) -> np.ndarray:
        if conv.eps_placement is EpsPlacement.EPSILON_HAT:
            return np.sqrt(second * ctx.s(bc2) if corrected else second)
        if conv.eps_placement is EpsPlacement.INSIDE_ROOT:
            v_hat = second if corrected else second / ctx.s(bc2)
            return np.sqrt(v_hat + ctx.s(ctx.h["eps_root"]))
        return np.sqrt(second if corrected else second / ctx.s(bc2))


class EpsInsideRootForTorchForm(Mutation):
    name = "eps_inside_root_instead_of_after"
    summary = "sqrt(v-hat + eps) + eps where sqrt(v-hat) + eps is declared"
    models = ("kozistr/pytorch_optimizer#397: 'Eps is applied incorrectly to exp_avg_sq' -- "
              "exp_avg_sq.add(eps).sqrt().add(eps) instead of exp_avg_sq.sqrt().add(eps)")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.eps_placement is EpsPlacement.AFTER_ROOT

    def denominator(self, ctx: RunScalars, conv: Conventions, second: np.ndarray, corrected: bool, bc2: Any) -> np.ndarray:
        if conv.eps_placement is not EpsPlacement.AFTER_ROOT:
            return super().denominator(ctx, conv, second, corrected, bc2)
        eps = ctx.s(ctx.h["eps"])
        v_hat = second if corrected else second / ctx.s(bc2)
        return np.sqrt(v_hat + eps) + eps


class SgdDecayIgnoredWithoutMomentum(Mutation):
    name = "sgd_decay_ignored_without_momentum"
    summary = "SGD returns p - lr*g when momentum is 0, skipping weight decay"
    models = "ml-explore/mlx#440: '[BUG] Zero momentum will disable weight decay in SGD optimizer implementation'"

    def applies(self, conventions: Conventions) -> bool:
        return conventions.family is Family.SGD and conventions.weight_decay is not WeightDecay.NONE

    def sgd_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, ...]:
        if ctx.h["momentum"] == 0:
            g_used = -g if conv.maximize else g
            return p - ctx.s(ctx.h["lr"] * ctx.h["schedule_multiplier"]) * g_used, buf
        return super().sgd_step(ctx, conv, p, g, buf, t)


class SgdDampenedFirstStep(Mutation):
    name = "sgd_dampening_on_first_step"
    summary = "the momentum buffer starts as (1 - dampening)*g instead of g"
    models = ("ml-explore/mlx#473: 'Fix SGD implementation' -- on the first step the buffer must be g, "
              "not (1 - dampening)*g")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.family is Family.SGD

    def sgd_direction(self, ctx: RunScalars, conv: Conventions, g_used: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        h = ctx.h
        if t == 1 and h["momentum"] != 0:
            buf = ctx.s(1.0 - h["dampening"]) * g_used
            return (g_used + ctx.s(h["momentum"]) * buf if h["nesterov"] else buf), buf
        return super().sgd_direction(ctx, conv, g_used, buf, t)


MUTATIONS: tuple[Mutation, ...] = (
    EpsilonHatForTorchForm(), BiasCorrectionStepPlusOne(), BiasCorrectionDropped(), DecayOnUpdatedParameter(),
    DecayNotScaledByLr(), DecayNotTimesParameter(), AmsGradMaxOfVHat(), AmsGradMaxNotStored(), Bfloat16StepCounter(),
    L2AndDecoupledSwapped(), EpsDropped(), EpsInsideRootForTorchForm(), SgdDecayIgnoredWithoutMomentum(),
    SgdDampenedFirstStep(),
)
"""Every deliberately broken step (14); each must be caught by the fuzz."""


def mutation(name: str) -> Mutation:
    """The mutation called ``name``."""

    for m in MUTATIONS:
        if m.name == name:
            return m
    raise InvalidArgumentError("mutation", name, "one of " + ", ".join(m.name for m in MUTATIONS))
