"""Per-step scalars, converted into the backend once per step and shared by every element."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import BiasCorrection, WeightDecay
from adamw_oracle.reference.backends import Backend


@dataclass(frozen=True)
class StepConstants:
    """Backend numbers for step ``t`` of ``config``.

    ``bc1 = 1 - beta1**t`` and ``bc2 = 1 - beta2**t`` (1 with bias correction off);
    ``lr_t = lr * schedule_multiplier``; ``decay_coef`` is c of the contract:
    lr_t*wd (DECOUPLED_LR), s*wd (DECOUPLED_SCHEDULE), wd (DECOUPLED_UNSCALED), else 0.
    """

    t: int
    beta1: Any
    beta2: Any
    one_minus_beta1: Any
    one_minus_beta2: Any
    bc1: Any
    bc2: Any
    lr_t: Any
    eps: Any
    eps_root: Any
    weight_decay: Any
    decay_coef: Any
    momentum: Any
    one_minus_dampening: Any

    @classmethod
    def build(cls, backend: Backend, config: OptimizerConfig, t: int) -> StepConstants:
        h, conv = config.hyper, config.conventions
        c = backend.const
        one = c(1)
        beta1, beta2 = c(h.beta1), c(h.beta2)
        if conv.bias_correction is BiasCorrection.ON:
            bc1 = one - backend.power(beta1, t)
            bc2 = one - backend.power(beta2, t)
        else:
            bc1 = bc2 = one
        lr_t = c(h.lr) * c(h.schedule_multiplier)
        wd = c(h.weight_decay)
        if conv.weight_decay is WeightDecay.DECOUPLED_LR:
            decay_coef = lr_t * wd
        elif conv.weight_decay is WeightDecay.DECOUPLED_SCHEDULE:
            decay_coef = c(h.schedule_multiplier) * wd
        elif conv.weight_decay is WeightDecay.DECOUPLED_UNSCALED:
            decay_coef = wd
        else:
            decay_coef = c(0)
        return cls(
            t=t, beta1=beta1, beta2=beta2,
            one_minus_beta1=c(1 - h.beta1), one_minus_beta2=c(1 - h.beta2),
            bc1=bc1, bc2=bc2, lr_t=lr_t, eps=c(h.eps), eps_root=c(h.eps_root),
            weight_decay=wd, decay_coef=decay_coef,
            momentum=c(h.momentum), one_minus_dampening=c(1 - h.dampening),
        )
