"""The reasons a vector exists: one flag per bug class, with a line of text and the real report it guards
against where one exists (the reports are cited by URL; nothing of them is copied)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    """A bug class: ``name`` (used in the files), one line of text, and the reported bug if any."""

    name: str
    text: str
    bug: str | None = None


FLAGS: dict[str, Flag] = {f.name: f for f in [
    Flag("baseline", "ordinary magnitudes at the preset's default hyperparameters"),
    Flag("bias_correction_t1", "first step from a zero state: bias correction divides by 1 - beta**1",
         "https://github.com/oxiglade/mlx-rs/issues/301"),
    Flag("bias_correction_folded", "bias correction folded into the step size changes where eps enters",
         "https://github.com/Oneflow-Inc/oneflow/pull/5960"),
    Flag("eps_dominates", "gradients so small that eps dominates sqrt(v-hat) in the denominator",
         "https://github.com/kozistr/pytorch_optimizer/issues/397"),
    Flag("zero_gradient", "an exactly zero gradient from a zero state: the update must be 0, not 0/0 = NaN "
         "(eps rounded to 0 in a half format makes the denominator 0)",
         "https://github.com/google-deepmind/optax/issues/1754"),
    Flag("decay_zero_gradient", "weight decay with a zero gradient: the parameter must still decay",
         "https://github.com/tinygrad/tinygrad/pull/17709"),
    Flag("amsgrad", "AMSGrad: the running maximum of the second moment, in the preset's form (raw v or v-hat)",
         "https://github.com/pytorch/pytorch/issues/142323"),
    Flag("amsgrad_falling_v", "AMSGrad while v falls (large then small gradients): the maximum must hold, "
         "and raw-v and v-hat maxima differ", "https://github.com/google-deepmind/optax/pull/1423"),
    Flag("maximize", "maximize: the gradient is negated before the moments (not the learning rate)"),
    Flag("lr_zero", "lr = 0: nothing moves unless the decay is not scaled by lr",
         "https://github.com/tensorflow/addons/issues/2282"),
    Flag("subnormal_gradients", "subnormal gradients of the dtype (no flush to zero); their squares underflow"),
    Flag("huge_gradients", "gradients near the largest finite value: g*g overflows, the parameter must stay finite",
         "https://github.com/deeplearning4j/deeplearning4j/issues/9972"),
    Flag("step_near_2^8", "step counter crossing 256 from a seeded state (bfloat16 holds integers exactly to 2^8)",
         "https://github.com/pytorch/ao/pull/4915"),
    Flag("step_near_2^11", "step counter crossing 2048 from a seeded state (float16 holds integers exactly to 2^11)",
         "https://github.com/pytorch/ao/pull/4915"),
    Flag("step_near_2^24", "step counter crossing 2^24 from a seeded state (float32 holds integers exactly to 2^24)",
         "https://github.com/pytorch/ao/pull/4915"),
    Flag("warm_state", "a seeded (non-zero) optimizer state, as after loading a checkpoint",
         "https://github.com/apple/axlearn/pull/1118"),
    Flag("long_run", "a long run: rounding errors accumulate through the moments"),
    Flag("vector_tail", "37 elements: the tail after the last full SIMD lane / multi-tensor chunk",
         "https://github.com/pytorch/pytorch/issues/78807"),
    Flag("conventions", "large decay, eps and lr chosen so that every convention gives a different answer",
         "https://github.com/tensorflow/addons/issues/2282"),
    Flag("schedule_multiplier", "a schedule multiplier eta_t != 1 (scales lr, and the decay of the paper's AdamW)"),
    Flag("momentum", "SGD momentum: the buffer is g itself at the first step",
         "https://github.com/ml-explore/mlx/pull/473"),
    Flag("dampening", "SGD dampening: (1 - dampening) scales g from the second step on"),
    Flag("nesterov", "SGD Nesterov momentum: the direction is g + momentum * buffer"),
    Flag("decay_no_momentum", "weight decay with zero momentum must still decay",
         "https://github.com/ml-explore/mlx/issues/440"),
    Flag("half_hyperparameters", "beta2 and eps are not representable in the half format: scalars need float32",
         "https://github.com/chainer/chainer/pull/6442"),
]}
