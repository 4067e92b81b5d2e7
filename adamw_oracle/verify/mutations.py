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
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.numpy_impl import NumpyImplementation, RunScalars


class Mutation(NumpyImplementation):
    """A broken step: ``name``, the real bug it imitates (``models``), where it bites (``applies``) and
    in which dtypes its effect can exceed rounding (``dtypes``; e.g. eps rounded to the parameters' dtype
    is exact enough in float32 and only shows in float16/bfloat16)."""

    name = "mutation"
    models = ""
    summary = ""
    dtypes: frozenset[Dtype] = frozenset(Dtype)
    #: which searches reach the bug: the three-way fuzz's strategies (exact cases of at most 17 elements,
    #: seeded states just below 256 and 2048, judged under the conservative model) and/or ``check``'s
    #: case space (tensor-sized cases, seeded states across step boundaries, the declared precision)
    caught_by: frozenset[str] = frozenset({"fuzz", "check"})

    def __init__(self) -> None:
        super().__init__(name=type(self).name)

    def precision_model(self, dtype: Dtype | str) -> PrecisionModel:
        """What the unbroken implementation computes in (and what ``check`` is told, as a user declares a
        target's precision): float32 arithmetic and state, parameters stored in the dtype."""
        return PrecisionModel.mixed(Dtype.parse(dtype))

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


def _kept(mask: np.ndarray, new: tuple[np.ndarray, ...], old: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """``new`` with the elements where ``mask`` holds taken from ``old`` (those elements were skipped)."""
    return tuple(np.where(mask, o, n) for n, o in zip(new, old))


class _ElementsSkipped(Mutation):
    """Elements where :meth:`skipped` holds keep their parameter and state (they were never updated)."""

    def applies(self, conventions: Conventions) -> bool:
        return True

    def skipped(self, n: int, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def adam_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, m: np.ndarray,
                  v: np.ndarray, vmax: np.ndarray, t: int) -> tuple[np.ndarray, ...]:
        new = super().adam_step(ctx, conv, p, g, m, v, vmax, t)
        return _kept(self.skipped(p.size, g), new, (p, m, v, vmax))

    def sgd_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, ...]:
        new = super().sgd_step(ctx, conv, p, g, buf, t)
        return _kept(self.skipped(p.size, g), new, (p, buf))


class TailOfVectorSkipped(_ElementsSkipped):
    name = "vector_tail_skipped"
    summary = "elements past the last full 8-wide vector block are not updated (the scalar tail loop is missing)"
    models = ("karpathy/llm.c#303: the packed-vector AdamW kernel 'was skipping some of the elements' because "
              "of the different f128/x128 sizes (a vector loop without its remainder)")
    width = 8

    def skipped(self, n: int, g: np.ndarray) -> np.ndarray:
        return np.arange(n) >= (n // self.width) * self.width


class ChunkBoundarySkipped(_ElementsSkipped):
    name = "chunk_boundary_skipped"
    summary = "elements from index 65,536 on (past the first multi-tensor chunk) are not updated"
    models = ("deepspeedai/DeepSpeed#7640: FusedAdam's multi_tensor_apply silently never updated large tensors "
              "(a size that did not fit its bookkeeping), and ROCm/MIOpen#2314: an elementwise kernel stopped "
              "handling the elements beyond its launch capacity (first wrong element at 1,048,576)")
    chunk = 65_536
    caught_by = frozenset({"check"})

    def skipped(self, n: int, g: np.ndarray) -> np.ndarray:
        return np.arange(n) >= self.chunk


class LazyMomentsOnZeroGradient(_ElementsSkipped):
    name = "lazy_update_skips_zero_gradient"
    summary = "elements whose gradient is exactly 0 keep p, m and v (a lazy/sparse update), although a zero "\
              "gradient still decays the moments and moves p"
    models = ("tensorflow/tensorflow#23668: LazyAdam 'doesn't update m and v when the gradient is 0' (and so "
              "diverges from Adam; pytorch/pytorch#3137 SparseAdam updates only the entries present in the gradient)")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions)

    def skipped(self, n: int, g: np.ndarray) -> np.ndarray:
        return g == 0


class DecaySkippedWhereGradientZero(Mutation):
    name = "decay_skipped_where_gradient_zero"
    summary = "decoupled weight decay is applied only to elements with a nonzero gradient"
    models = ("tensorflow/addons#767: 'DecoupledWeightDecayExtension only decays weights which are present in "
              "the sparse gradient'")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.weight_decay.is_decoupled

    def _undecayed(self, conv: Conventions) -> Conventions:
        return conv.replace(weight_decay=WeightDecay.NONE, decay_target=DecayTarget.PREVIOUS_PARAM)

    def adam_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, *args: Any) -> tuple[np.ndarray, ...]:
        full = super().adam_step(ctx, conv, p, g, *args)
        if not conv.weight_decay.is_decoupled:
            return full
        bare = super().adam_step(ctx, self._undecayed(conv), p, g, *args)
        return (np.where(g == 0, bare[0], full[0]),) + tuple(full[1:])

    def sgd_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, *args: Any) -> tuple[np.ndarray, ...]:
        full = super().sgd_step(ctx, conv, p, g, *args)
        if not conv.weight_decay.is_decoupled:
            return full
        bare = super().sgd_step(ctx, self._undecayed(conv), p, g, *args)
        return (np.where(g == 0, bare[0], full[0]),) + tuple(full[1:])


class _StateRounded(Mutation):
    """The moments named in ``rounded`` are stored in ``state_dtype`` after every step."""

    state_dtype: Any = np.float16
    rounded: tuple[str, ...] = ("v",)

    def adam_step(self, ctx: RunScalars, conv: Conventions, *args: Any) -> tuple[np.ndarray, ...]:
        p, m, v, vmax = super().adam_step(ctx, conv, *args)
        with np.errstate(all="ignore"):
            if "m" in self.rounded:
                m = m.astype(self.state_dtype).astype(ctx.arith)
            if "v" in self.rounded:
                v = v.astype(self.state_dtype).astype(ctx.arith)
        return p, m, v, vmax


class SecondMomentInFloat16(_StateRounded):
    name = "second_moment_stored_in_float16"
    summary = "v (exp_avg_sq) is kept in float16 whatever the parameters' dtype: small v flush to 0, large v overflow"
    models = ("ultralytics/ultralytics#24085: optimizer state converted to FP16 rounded exp_avg_sq values below "
              "~6e-5 to zero, and Adam's sqrt(exp_avg_sq) + eps then exploded the updates")


class MomentsInBfloat16(_StateRounded):
    name = "moments_stored_in_bfloat16"
    summary = "m and v are kept in bfloat16 (8 significant bits) whatever the parameters' dtype"
    models = ("FluxML/Optimisers.jl#215: 'momentum parameters in the optimisers state need to be stored with "
              "higher precision than BFloat16' (also Nerogar/OneTrainer#1005: Adam state kept in bf16)")
    state_dtype = ml_dtypes.bfloat16
    rounded = ("m", "v")


class SecondMomentInParamDtype(Mutation):
    name = "second_moment_kept_in_param_dtype"
    summary = ("v (exp_avg_sq) and the AMSGrad maximum are stored in the half parameters' own dtype where float32 "
               "state is declared (each step computed in float32, the stored v rounded); the target shows its "
               "state per step, as torch's optimizer.state does. In bfloat16 the parameters stay within their "
               "rounding (the update moves by 2**-10 relative at most), so only judging the stored state sees it")
    models = ("areal-project/AReaL#1292: torch.optim.AdamW 'inherits bf16 dtype from model.parameters()', so "
              "exp_avg_sq (with exp_avg) was silently created in bf16 instead of fp32 (also "
              "NVIDIA-NeMo/Automodel#2419: the EMA buffers end up in the parameters' storage dtype)")
    dtypes = frozenset({Dtype.FLOAT16, Dtype.BFLOAT16})
    caught_by = frozenset({"check"})
    exposes_state = True

    def formats(self, dtype: Dtype) -> tuple[np.dtype, np.dtype]:
        arith, store = super().formats(dtype)
        self._store = store
        return arith, store

    def adam_step(self, ctx: RunScalars, conv: Conventions, *args: Any) -> tuple[np.ndarray, ...]:
        p, m, v, vmax = super().adam_step(ctx, conv, *args)
        with np.errstate(all="ignore"):
            v, vmax = (x.astype(self._store).astype(ctx.arith) for x in (v, vmax))
        return p, m, v, vmax


class Float16StepCounter(Mutation):
    name = "float16_step_counter"
    summary = "the step counter is a float16 tensor: it stops at 2048, freezing the bias corrections"
    models = ("pytorch/ao#4915: the Adam step counter takes torch's default dtype (there bfloat16, stalling at "
              "256); under a float16 default the same counter stalls at 2048")
    caught_by = frozenset({"check"})

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.bias_correction is BiasCorrection.ON

    def step_counter(self, t: int) -> float:
        # float16 holds every integer up to 2048; 2048 + 1 rounds back to 2048 (ties to even)
        return float(min(t, 2048))


class AmsGradFlagIgnored(Mutation):
    name = "amsgrad_flag_ignored"
    summary = "amsgrad=True is accepted but the plain second moment is used (no running maximum)"
    models = "chaoshangcs/GTS#16: 'AMSGrad is not used anywhere!' (the flag was accepted and never read)"

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.amsgrad is not AmsGrad.OFF

    def amsgrad(self, ctx: RunScalars, conv: Conventions, v: np.ndarray, vmax: np.ndarray, bc2: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        return vmax, v, False


class AmsGradStoresRootOfMax(Mutation):
    name = "amsgrad_stores_root_of_max"
    summary = "the AMSGrad maximum is square-rooted in place before it is stored (the state keeps sqrt(vmax))"
    models = ("pytorch/pytorch#4314 (review): the SparseAdam AMSGrad fix stored old_max_exp_avg_sq_values after "
              "they had been sqrt-ed in place for the denominator")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.amsgrad is not AmsGrad.OFF

    def amsgrad(self, ctx: RunScalars, conv: Conventions, v: np.ndarray, vmax: np.ndarray, bc2: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        new, second, corrected = super().amsgrad(ctx, conv, v, vmax, bc2)
        return np.sqrt(new), second, corrected


class BiasCorrection2WithoutRoot(Mutation):
    name = "bias_correction2_without_sqrt"
    summary = "sqrt(v)/bc2 + eps where sqrt(v)/sqrt(bc2) + eps is declared"
    models = ("pytorch/pytorch#23737 (review): the C++ Adam fix divided by bias_correction2 where its square root "
              "belongs ('I believe bias_correction2 should have a square root')")

    def applies(self, conventions: Conventions) -> bool:
        return _adam(conventions) and conventions.eps_placement is EpsPlacement.AFTER_ROOT \
            and conventions.bias_correction is BiasCorrection.ON

    def denominator(self, ctx: RunScalars, conv: Conventions, second: np.ndarray, corrected: bool, bc2: Any) -> np.ndarray:
        if conv.eps_placement is not EpsPlacement.AFTER_ROOT:
            return super().denominator(ctx, conv, second, corrected, bc2)
        raw = second * ctx.s(bc2) if corrected else second
        return np.sqrt(raw) / ctx.s(bc2) + ctx.s(ctx.h["eps"])


class EpsRoundedToStorage(Mutation):
    name = "eps_rounded_to_param_dtype"
    summary = "eps is rounded to the parameters' dtype before it is added (1e-8 is 0 in float16: 0/0 on zero gradients)"
    models = ("google-deepmind/optax#1755: eps 'is silently rounded to 0.0 when added to a float16 array', so a "
              "zero-gradient step gives 0/0 = NaN in scale_by_adam")
    dtypes = frozenset({Dtype.FLOAT16, Dtype.BFLOAT16})
    caught_by = frozenset({"check"})

    def formats(self, dtype: Dtype) -> tuple[np.dtype, np.dtype]:
        arith, store = super().formats(dtype)
        self._store = store
        return arith, store

    def denominator(self, ctx: RunScalars, conv: Conventions, second: np.ndarray, corrected: bool, bc2: Any) -> np.ndarray:
        eps = ctx.h["eps"]
        ctx.h = dict(ctx.h, eps=float(np.asarray(eps).astype(self._store)))
        try:
            return super().denominator(ctx, conv, second, corrected, bc2)
        finally:
            ctx.h = dict(ctx.h, eps=eps)


class GradSquaredInHalf(Mutation):
    name = "grad_squared_in_half"
    summary = "g*g is formed in float16 (the storage format), so small gradients square to 0 and large ones to inf"
    models = ("chainer/chainer#7694: 'Fix Adam FP16 overflow on gpu kernels' -- intermediates such as grad*grad were "
              "not converted to FP32 (issue chainer/chainer#7690)")
    dtypes = frozenset({Dtype.FLOAT16})
    caught_by = frozenset({"check"})

    def formats(self, dtype: Dtype) -> tuple[np.dtype, np.dtype]:
        arith, store = super().formats(dtype)
        self._store = store
        return arith, store

    def square(self, g_used: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return (g_used * g_used).astype(self._store).astype(g_used.dtype)


class BetasAsOneMinus(Mutation):
    name = "betas_as_one_minus"
    summary = "the moments use 1 - beta where beta is declared (m = (1-b1) m + b1 g); the bias corrections use beta"
    models = ("mila-iqia/blocks#1159: 'Adam moment parameterization is backwards' -- beta1 and beta2 meant "
              "1 - beta1 and 1 - beta2 of the paper")

    def adam_step(self, ctx: RunScalars, conv: Conventions, *args: Any) -> tuple[np.ndarray, ...]:
        declared = ctx.h
        self._declared = declared
        ctx.h = dict(declared, beta1=1.0 - declared["beta1"], beta2=1.0 - declared["beta2"])
        try:
            return super().adam_step(ctx, conv, *args)
        finally:
            ctx.h = declared

    def bias_corrections(self, ctx: RunScalars, conv: Conventions, t: int) -> tuple[Any, Any]:
        swapped = ctx.h
        ctx.h = self._declared
        try:
            return super().bias_corrections(ctx, conv, t)
        finally:
            ctx.h = swapped


class NesterovSignFlipped(Mutation):
    name = "nesterov_momentum_sign_flipped"
    summary = "Nesterov SGD steps along g - momentum*buf instead of g + momentum*buf"
    models = ("PaddlePaddle/Paddle#12231: 'Fix serious bug in nesterov momentum optimizer' -- "
              "param - gradient*lr + mu*velocity*lr instead of param - (gradient + mu*velocity)*lr")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.family is Family.SGD

    def sgd_direction(self, ctx: RunScalars, conv: Conventions, g_used: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        direction, buf = super().sgd_direction(ctx, conv, g_used, buf, t)
        if ctx.h["nesterov"] and ctx.h["momentum"] != 0:
            direction = g_used - ctx.s(ctx.h["momentum"]) * buf
        return direction, buf


class NesterovBufferOverwritten(Mutation):
    name = "nesterov_writes_buffer"
    summary = "Nesterov SGD stores its look-ahead direction g + momentum*buf as the new momentum buffer"
    models = ("google-research/google-research#1711: 'Bug in nesterov update of Shampoo in Pytorch' -- the "
              "nesterov update modified the momentum buffers in place, unlike torch.optim.SGD")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.family is Family.SGD

    def sgd_direction(self, ctx: RunScalars, conv: Conventions, g_used: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        direction, buf = super().sgd_direction(ctx, conv, g_used, buf, t)
        if ctx.h["nesterov"] and ctx.h["momentum"] != 0:
            buf = direction
        return direction, buf


class MaximizeByNegatingLr(Mutation):
    name = "maximize_by_negating_lr"
    summary = "maximize flips the sign of the update instead of the gradient, so the coupled L2 term is flipped too"
    models = ("pytorch/pytorch#68164 (review: 'Why is flipping the lr a better choice than flipping the gradients "
              "here?'): maximize first implemented by negating the step; with weight_decay folded into the "
              "gradient that also negates the L2 term")

    def applies(self, conventions: Conventions) -> bool:
        return conventions.maximize and conventions.weight_decay is WeightDecay.COUPLED_L2

    def gradient_used(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return super().gradient_used(ctx, conv.replace(maximize=False), p, g)

    def apply_decay(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, update: np.ndarray, direction: np.ndarray) -> np.ndarray:
        return super().apply_decay(ctx, conv, p, -update if conv.maximize else update, direction)


MUTATIONS: tuple[Mutation, ...] = (
    EpsilonHatForTorchForm(), BiasCorrectionStepPlusOne(), BiasCorrectionDropped(), DecayOnUpdatedParameter(),
    DecayNotScaledByLr(), DecayNotTimesParameter(), AmsGradMaxOfVHat(), AmsGradMaxNotStored(), Bfloat16StepCounter(),
    L2AndDecoupledSwapped(), EpsDropped(), EpsInsideRootForTorchForm(), SgdDecayIgnoredWithoutMomentum(),
    SgdDampenedFirstStep(),
    TailOfVectorSkipped(), ChunkBoundarySkipped(), LazyMomentsOnZeroGradient(), DecaySkippedWhereGradientZero(),
    SecondMomentInFloat16(), MomentsInBfloat16(), Float16StepCounter(), AmsGradFlagIgnored(), AmsGradStoresRootOfMax(),
    BiasCorrection2WithoutRoot(), EpsRoundedToStorage(), GradSquaredInHalf(), BetasAsOneMinus(), NesterovSignFlipped(),
    NesterovBufferOverwritten(), MaximizeByNegatingLr(), SecondMomentInParamDtype(),
)
"""Every deliberately broken step (31); each must be caught by the fuzz or by ``check``."""


def mutation(name: str) -> Mutation:
    """The mutation called ``name``."""

    for m in MUTATIONS:
        if m.name == name:
            return m
    raise InvalidArgumentError("mutation", name, "one of " + ", ".join(m.name for m in MUTATIONS))
