"""One element of one SGD-family step (torch.optim.SGD semantics, plus decoupled decay for SGDW)::

    g' = (-g if maximize else g) + [wd*p if COUPLED_L2]
    momentum == 0 : direction = g'
    momentum  > 0 : b = g' at the first step (no buffer yet), else b = mu*b + (1-dampening)*g'
                    direction = g' + mu*b (Nesterov) or b
    update = lr_t * direction;  decay and p_new as for Adam (PREVIOUS_PARAM / UPDATED_PARAM)
"""
from __future__ import annotations

from typing import Any

from adamw_oracle.contract.conventions import Conventions
from adamw_oracle.contract.scalars import decay_rule
from adamw_oracle.reference.adam import apply_decay
from adamw_oracle.reference.backends import Backend
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.records import ElementStep


def sgd_element_step(
    backend: Backend, k: StepConstants, conv: Conventions, p: Any, g: Any, buffer: Any,
    *, first_step: bool, nesterov: bool, has_momentum: bool,
) -> ElementStep[Any]:
    """Step ``k.t`` of one element; ``buffer`` is the momentum buffer before the step."""
    g_used = -g if conv.maximize else g
    if decay_rule(conv.weight_decay).gradient_term:
        g_used = g_used + k.weight_decay * p
    if has_momentum:
        buffer_new = g_used if first_step else k.momentum * buffer + k.one_minus_dampening * g_used
        direction = g_used + k.momentum * buffer_new if nesterov else buffer_new
    else:
        buffer_new = buffer
        direction = g_used
    update = k.lr_t * direction
    decay, p_new = apply_decay(k, conv, p, update)
    return ElementStep(
        t=k.t, p=p, g=g, g_used=g_used, m=buffer_new, update=update, decay=decay, p_new=p_new,
        direction=direction,
    )
