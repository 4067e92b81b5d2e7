"""The one-step update of every convention of the shared contract, as sympy expressions.

Written from the equations of :mod:`adamw_oracle.contract.conventions` (one element, step t)::

    g'   = (-g if maximize else g) + [lambda * p if COUPLED_L2]
    lr_t = eta * s
    c    = eta*s*lambda (DECOUPLED_LR), s*lambda (DECOUPLED_SCHEDULE), lambda (DECOUPLED_UNSCALED), else 0

(the L2 term, the factor of c and the bias-correction choice are the rules of
:mod:`adamw_oracle.contract.scalars`, evaluated here on sympy symbols)

Adam family::

    m_t = beta1*m + (1-beta1)*g'              v_t = beta2*v + (1-beta2)*g'^2
    bc1 = 1 - beta1^t, bc2 = 1 - beta2^t      (both 1 with bias correction OFF)
    m^ = m_t/bc1,  v^ = v_t/bc2
    AMSGrad OFF      : vmax_t = vmax,            v~ = v^,       r = v_t
    AMSGrad MAX_RAW_V: vmax_t = max(vmax, v_t),  v~ = vmax_t/bc2, r = vmax_t
    AMSGrad MAX_V_HAT: vmax_t = max(vmax, v^),   v~ = vmax_t,   r = vmax_t*bc2
    AFTER_ROOT : denom = sqrt(v~) + eps,            update = lr_t*m^/denom
    INSIDE_ROOT: denom = sqrt(v~ + eps_root) + eps, update = lr_t*m^/denom
    EPSILON_HAT: denom = sqrt(r) + eps,             update = lr_t*sqrt(bc2)/bc1 * m_t/denom
    FLOOR      : denom = Max(sqrt(v~), eps),        update = lr_t*m^/denom

SGD family (torch.optim.SGD semantics; tau is the dampening)::

    no momentum : buffer_t = buffer (unchanged), direction = g'
    momentum    : buffer_t = g' at t = 1, else mu*buffer + (1-tau)*g'
                  direction = g' + mu*buffer_t (Nesterov) or buffer_t
    update = lr_t * direction

Decay, both families::

    PREVIOUS_PARAM: decay = c*p;            p_new = p - decay - update
    UPDATED_PARAM : decay = c*(p - update); p_new = p - update - decay

The returned dictionaries use the quantity names of :mod:`adamw_oracle.reference.records`
(``ADAM_FIELDS`` / ``SGD_FIELDS``), so the two layers can be compared key by key.
"""
from __future__ import annotations

import sympy as sp

from adamw_oracle.contract.conventions import AmsGrad, Conventions, DecayTarget, EpsPlacement, Family
from adamw_oracle.contract.scalars import bias_corrected, decay_rule
from adamw_oracle.contract.scalars import decay_coefficient as contract_decay_coefficient
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.symbolic.exact_input import SymbolicInput, as_expr
from adamw_oracle.symbolic.symbols import HYPER, STATE, HyperSymbols


def used_gradient(conv: Conventions, p: sp.Expr, g: sp.Expr, hyper: HyperSymbols) -> sp.Expr:
    """g' = (-g if maximize else g) + [lambda*p if the convention has the L2 gradient term]."""
    signed = -g if conv.maximize else g
    if decay_rule(conv.weight_decay).gradient_term:
        return signed + hyper.weight_decay * p
    return signed


def decay_coefficient(conv: Conventions, hyper: HyperSymbols) -> sp.Expr:
    """c = eta*s*lambda, s*lambda, lambda or 0 by the weight-decay convention (the contract's rule)."""
    result: sp.Expr = contract_decay_coefficient(
        conv.weight_decay, lr_t=hyper.lr * hyper.schedule, schedule=hyper.schedule,
        weight_decay=hyper.weight_decay, zero=sp.Integer(0),
    )
    return result


def apply_decay(conv: Conventions, p: sp.Expr, update: sp.Expr, hyper: HyperSymbols) -> tuple[sp.Expr, sp.Expr]:
    """(decay, p_new): c*p with p_new = p - decay - update, or c*(p - update) for UPDATED_PARAM."""
    c = decay_coefficient(conv, hyper)
    if conv.decay_target is DecayTarget.UPDATED_PARAM:
        decay = c * (p - update)
    else:
        decay = c * p
    return decay, p - update - decay


def bias_corrections(conv: Conventions, t: sp.Expr, hyper: HyperSymbols) -> tuple[sp.Expr, sp.Expr]:
    """(bc1, bc2) = (1 - beta1^t, 1 - beta2^t), or (1, 1) with bias correction OFF."""
    if not bias_corrected(conv):
        return sp.Integer(1), sp.Integer(1)
    return 1 - hyper.beta1**t, 1 - hyper.beta2**t


def adam_step(
    conv: Conventions,
    p: SymbolicInput = STATE.p,
    g: SymbolicInput = STATE.g,
    m: SymbolicInput = STATE.m,
    v: SymbolicInput = STATE.v,
    vmax: SymbolicInput = STATE.vmax,
    t: SymbolicInput = STATE.t,
    hyper: HyperSymbols = HYPER,
) -> dict[str, sp.Expr]:
    """Every quantity of one Adam-family step (equations in the module docstring)."""
    _require_family(conv, Family.ADAM)
    p, g, m, v, vmax, t = (as_expr(x, n) for x, n in ((p, "p"), (g, "g"), (m, "m"), (v, "v"), (vmax, "vmax"), (t, "t")))
    b1, b2 = hyper.beta1, hyper.beta2
    g_used = used_gradient(conv, p, g, hyper)
    m_new = b1 * m + (1 - b1) * g_used
    v_new = b2 * v + (1 - b2) * g_used**2
    bc1, bc2 = bias_corrections(conv, t, hyper)
    m_hat, v_hat = m_new / bc1, v_new / bc2
    if conv.amsgrad is AmsGrad.MAX_RAW_V:
        vmax_new = sp.Max(vmax, v_new)
        v_tilde, raw = vmax_new / bc2, vmax_new
    elif conv.amsgrad is AmsGrad.MAX_V_HAT:
        vmax_new = sp.Max(vmax, v_hat)
        v_tilde, raw = vmax_new, vmax_new * bc2
    else:
        vmax_new, v_tilde, raw = vmax, v_hat, v_new
    lr_t = hyper.lr * hyper.schedule
    if conv.eps_placement is EpsPlacement.EPSILON_HAT:
        denom = sp.sqrt(raw) + hyper.eps
        update = lr_t * sp.sqrt(bc2) / bc1 * m_new / denom
    elif conv.eps_placement is EpsPlacement.INSIDE_ROOT:
        denom = sp.sqrt(v_tilde + hyper.eps_root) + hyper.eps
        update = lr_t * m_hat / denom
    elif conv.eps_placement is EpsPlacement.FLOOR:
        denom = sp.Max(sp.sqrt(v_tilde), hyper.eps)
        update = lr_t * m_hat / denom
    else:
        denom = sp.sqrt(v_tilde) + hyper.eps
        update = lr_t * m_hat / denom
    decay, p_new = apply_decay(conv, p, update, hyper)
    return {
        "g_used": g_used, "m": m_new, "v": v_new, "m_hat": m_hat, "v_hat": v_hat, "vmax": vmax_new,
        "denom": denom, "update": update, "decay": decay, "p_new": p_new,
    }


def sgd_step(
    conv: Conventions,
    p: SymbolicInput = STATE.p,
    g: SymbolicInput = STATE.g,
    buffer: SymbolicInput = STATE.m,
    *,
    has_momentum: bool,
    nesterov: bool = False,
    first_step: bool,
    hyper: HyperSymbols = HYPER,
) -> dict[str, sp.Expr]:
    """Every quantity of one SGD-family step (equations in the module docstring).

    ``has_momentum`` (mu != 0), ``nesterov`` and ``first_step`` (t == 1) choose the branch, since
    torch's buffer initialisation is a branch on the step number, not an algebraic formula.
    """
    _require_family(conv, Family.SGD)
    if nesterov and not has_momentum:
        raise InvalidArgumentError("nesterov", True, "False unless has_momentum is True")
    p, g, buffer = as_expr(p, "p"), as_expr(g, "g"), as_expr(buffer, "buffer")
    g_used = used_gradient(conv, p, g, hyper)
    if has_momentum:
        buffer_new = g_used if first_step else hyper.momentum * buffer + (1 - hyper.dampening) * g_used
        direction = g_used + hyper.momentum * buffer_new if nesterov else buffer_new
    else:
        buffer_new, direction = buffer, g_used
    update = hyper.lr * hyper.schedule * direction
    decay, p_new = apply_decay(conv, p, update, hyper)
    return {"g_used": g_used, "m": buffer_new, "direction": direction, "update": update, "decay": decay, "p_new": p_new}


def _require_family(conv: Conventions, family: Family) -> None:
    if not isinstance(conv, Conventions):
        raise InvalidArgumentError("conv", conv, "a Conventions instance")
    if conv.family is not family:
        raise InvalidArgumentError("conv.family", conv.family.value, f"{family.value} for this step builder")
