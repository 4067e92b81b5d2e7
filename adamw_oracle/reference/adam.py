"""One element of one Adam-family step, for every convention of the contract.

With g' the gradient after maximize/L2 and t the step number (see
:mod:`adamw_oracle.contract.conventions` for the full notation)::

    m = b1*m + (1-b1)*g'          v = b2*v + (1-b2)*g'^2
    m^ = m/bc1                     v^ = v/bc2
    AMSGrad MAX_RAW_V : vmax = max(vmax, v),  v~ = vmax/bc2   (raw r = vmax)
    AMSGrad MAX_V_HAT : vmax = max(vmax, v^), v~ = vmax       (raw r = vmax*bc2)
    AMSGrad OFF       :                       v~ = v^         (raw r = v)
    AFTER_ROOT  : denom = sqrt(v~) + eps;            update = lr_t * m^ / denom
    INSIDE_ROOT : denom = sqrt(v~ + eps_root) + eps; update = lr_t * m^ / denom
    EPSILON_HAT : denom = sqrt(r) + eps;             update = lr_t * sqrt(bc2)/bc1 * m / denom
    FLOOR       : denom = max(sqrt(v~), eps);        update = lr_t * m^ / denom
    PREVIOUS_PARAM: decay = c*p;            p_new = p - decay - update
    UPDATED_PARAM : decay = c*(p - update); p_new = p - update - decay
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from adamw_oracle.contract.conventions import AmsGrad, Conventions, DecayTarget, EpsPlacement
from adamw_oracle.contract.scalars import decay_rule
from adamw_oracle.reference.backends import Backend
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.records import ElementStep

N = TypeVar("N")


def adam_element_step(
    backend: Backend, k: StepConstants, conv: Conventions, p: Any, g: Any, m: Any, v: Any, vmax: Any
) -> ElementStep[Any]:
    """Step ``k.t`` of one element; ``p, g, m, v, vmax`` are backend numbers (state before the step)."""
    g_used, m_new, v_new, vmax_new = adam_moments(backend, k, conv, p, g, m, v, vmax)
    upd = adam_update(backend, k, conv, p, m_new, v_new, vmax_new)
    return ElementStep(
        t=k.t, p=p, g=g, g_used=g_used, m=m_new, update=upd.update, decay=upd.decay, p_new=upd.p_new,
        v=v_new, m_hat=upd.m_hat, v_hat=upd.v_hat, vmax=vmax_new, denom=upd.denom,
    )


def adam_moments(backend: Backend, k: StepConstants, conv: Conventions, p: Any, g: Any, m: Any, v: Any,
                 vmax: Any) -> tuple[Any, Any, Any, Any]:
    """The first half of a step: ``(g', m_t, v_t, vmax_t)`` from the state before it (module docstring)."""
    g_used = -g if conv.maximize else g
    if decay_rule(conv.weight_decay).gradient_term:
        g_used = g_used + k.weight_decay * p
    m_new = k.beta1 * m + k.one_minus_beta1 * g_used
    v_new = k.beta2 * v + k.one_minus_beta2 * (g_used * g_used)
    if conv.amsgrad is AmsGrad.MAX_RAW_V:
        vmax_new = backend.maximum(vmax, v_new)
    elif conv.amsgrad is AmsGrad.MAX_V_HAT:
        vmax_new = backend.maximum(vmax, v_new / k.bc2)
    else:
        vmax_new = vmax
    return g_used, m_new, v_new, vmax_new


@dataclass(frozen=True)
class AdamUpdate(Generic[N]):
    """The second half of a step: from the step's moments to the new parameter."""

    m_hat: N
    v_hat: N
    denom: N
    update: N
    decay: N
    p_new: N


def adam_update(backend: Backend, k: StepConstants, conv: Conventions, p: Any, m: Any, v: Any,
                vmax: Any) -> AdamUpdate[Any]:
    """The update of step ``k.t`` from the step's new moments ``m = m_t``, ``v = v_t`` and (under AMSGrad)
    ``vmax = vmax_t`` (the second half of :func:`adam_element_step`)::

        m^ = m/bc1, v^ = v/bc2, v~ from v^ or vmax (module docstring), denom, update, p_new

    An implementation that reads its stored moments back (``PrecisionModel.reads_back_state``) computes
    exactly this from the rounded, stored m_t, v_t, vmax_t."""
    m_hat = m / k.bc1
    v_hat = v / k.bc2
    if conv.amsgrad is AmsGrad.MAX_RAW_V:
        v_tilde, raw = vmax / k.bc2, vmax
    elif conv.amsgrad is AmsGrad.MAX_V_HAT:
        v_tilde, raw = vmax, vmax * k.bc2
    else:
        v_tilde, raw = v_hat, v
    if conv.eps_placement is EpsPlacement.EPSILON_HAT:
        denom = backend.sqrt(raw) + k.eps
        update = k.lr_t * backend.sqrt(k.bc2) / k.bc1 * m / denom
    elif conv.eps_placement is EpsPlacement.INSIDE_ROOT:
        denom = backend.sqrt(v_tilde + k.eps_root) + k.eps
        update = k.lr_t * m_hat / denom
    elif conv.eps_placement is EpsPlacement.FLOOR:
        denom = backend.maximum(backend.sqrt(v_tilde), k.eps)
        update = k.lr_t * m_hat / denom
    else:
        denom = backend.sqrt(v_tilde) + k.eps
        update = k.lr_t * m_hat / denom
    decay, p_new = apply_decay(k, conv, p, update)
    return AdamUpdate(m_hat, v_hat, denom, update, decay, p_new)


def apply_decay(k: StepConstants, conv: Conventions, p: Any, update: Any) -> tuple[Any, Any]:
    """Decoupled decay and the new parameter: ``(decay, p_new)`` per the decay target."""
    if not conv.weight_decay.is_decoupled:
        return k.decay_coef, p - update  # decay_coef is the backend's exact 0 here
    if conv.decay_target is DecayTarget.UPDATED_PARAM:
        moved = p - update
        decay = k.decay_coef * moved
        return decay, moved - decay
    decay = k.decay_coef * p
    return decay, p - decay - update
