"""Per-step scalars, converted into the backend once per step and shared by every element."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.scalars import bias_corrected, decay_coefficient
from adamw_oracle.reference.backends import Backend


@dataclass(frozen=True)
class StepConstants:
    """Backend numbers for step ``t`` of ``config``.

    The fields after ``t`` are :data:`adamw_oracle.contract.scalars.STEP_SCALARS`, evaluated in the
    backend: ``bc1 = 1 - beta1**t`` and ``bc2 = 1 - beta2**t`` when the contract's
    :func:`~adamw_oracle.contract.scalars.bias_corrected` says so (else 1);
    ``lr_t = lr * schedule_multiplier``; ``decay_coef`` is c of the contract,
    :func:`~adamw_oracle.contract.scalars.decay_coefficient`: lr_t*wd (DECOUPLED_LR),
    s*wd (DECOUPLED_SCHEDULE), wd (DECOUPLED_UNSCALED), else 0.
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
        if bias_corrected(conv):
            bc1 = one - backend.power(beta1, t)
            bc2 = one - backend.power(beta2, t)
        else:
            bc1 = bc2 = one
        s = c(h.schedule_multiplier)
        lr_t = c(h.lr) * s
        wd = c(h.weight_decay)
        decay_coef = decay_coefficient(conv.weight_decay, lr_t=lr_t, schedule=s, weight_decay=wd, zero=c(0))
        return cls(
            t=t, beta1=beta1, beta2=beta2,
            one_minus_beta1=c(1 - h.beta1), one_minus_beta2=c(1 - h.beta2),
            bc1=bc1, bc2=bc2, lr_t=lr_t, eps=c(h.eps), eps_root=c(h.eps_root),
            weight_decay=wd, decay_coef=decay_coef,
            momentum=c(h.momentum), one_minus_dampening=c(1 - h.dampening),
        )
