"""Theorems 3-6: how the L2 penalty travels through Adam's moments, and bias correction.

Built from :func:`adamw_oracle.symbolic.step.adam_step` with s = 1. Where a sign depends on
beta < 1 or on 1 - beta^t > 0, the derivation writes beta = 1/(1 + x) with x > 0 and names the bias
corrections c1 = 1 - beta1^t, c2 = 1 - beta2^t as positive symbols (0 < c <= 1 on the domain).
"""
from __future__ import annotations

from typing import Any

import sympy as sp

from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    WeightDecay,
)
from adamw_oracle.symbolic.step import adam_step, sgd_step
from adamw_oracle.symbolic.symbols import HYPER, STATE, beta_from_free, indexed
from adamw_oracle.symbolic.theorem import Claim, Derivation, DerivationStep, Theorem

ETA, LAM, B1, B2, EPS = HYPER.lr, HYPER.weight_decay, HYPER.beta1, HYPER.beta2, HYPER.eps
THETA, G, M, V, T = STATE.p, STATE.g, STATE.m, STATE.v, STATE.t
NO_SCHEDULE = {HYPER.schedule: sp.Integer(1)}
ADAM_L2 = Conventions(Family.ADAM, WeightDecay.COUPLED_L2)
ADAMW = Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR)
C1 = sp.Symbol("c1", positive=True)
C2 = sp.Symbol("c2", positive=True)
X1 = sp.Symbol("x1", positive=True)
X2 = sp.Symbol("x2", positive=True)


def on_domain(expr: sp.Expr) -> sp.Expr:
    """Rewrite for sign proofs: beta^t -> 1 - c, then beta = 1/(1 + x) (see the module docstring)."""
    expr = expr.xreplace(NO_SCHEDULE).xreplace({B1**T: 1 - C1, B2**T: 1 - C2})
    return expr.xreplace({B1: beta_from_free(X1), B2: beta_from_free(X2)})


def _derive_l2_through_moments() -> Derivation:
    a, b = sp.symbols("A B", real=True)  # m_{t-1} = A + lambda*B: gradient part and penalty part
    step = adam_step(ADAM_L2, THETA, G, a + LAM * b, V, 0, T)
    gradient_part = B1 * a + (1 - B1) * G
    penalty_part = B1 * b + (1 - B1) * THETA
    # constant penalty: the penalty part of m_{t-1} is theta*(1 - beta1^(t-1)) (induction hypothesis)
    constant = adam_step(ADAM_L2, THETA, 0, LAM * THETA * (1 - B1 ** (T - 1)), V, 0, T)
    first = adam_step(ADAM_L2, THETA, 0, 0, 0, 0, 1)
    thetas = sp.symbols("theta_0:3", real=True)
    grads = indexed("g", 3, real=True)
    m, v = sp.Integer(0), sp.Integer(0)
    for k in range(3):
        out = adam_step(ADAM_L2, thetas[k], grads[k], m, v, 0, k + 1)
        m, v = out["m"], out["v"]
    weights = [(1 - B1) * B1 ** (2 - k) / (1 - B1**3) for k in range(3)]
    unrolled = sum(w * (gk + LAM * th) for w, gk, th in zip(weights, grads, thetas))
    denom3 = out["denom"]
    update3 = out["update"].xreplace(NO_SCHEDULE)
    penalty3 = ETA * LAM * sum(w * th for w, th in zip(weights, thetas)) / denom3
    steps = (
        DerivationStep("induction hypothesis: m_{t-1} = A + lambda*B (A from gradients, B from parameters)",
                       sp.Symbol("m_{t-1}"), a + LAM * b),
        DerivationStep("one L2 step keeps the split: m_t = A' + lambda*B'", sp.Symbol("m_t"),
                       gradient_part + LAM * penalty_part),
        DerivationStep("so the update splits; its penalty part is eta*lambda*B_hat/(sqrt(v_hat)+eps)",
                       sp.Symbol("u_penalty"), ETA * LAM * (penalty_part / (1 - B1**T)) / step["denom"]),
        DerivationStep("unrolled to t = 3: bias-corrected weights (1-beta1)*beta1^(3-k)/(1-beta1^3)",
                       sp.Symbol("mhat_3"), unrolled),
        DerivationStep("constant penalty: m_{t-1} = lambda*theta*(1-beta1^(t-1)) gives m_t",
                       sp.Symbol("m_t"), sp.factor(sp.expand(constant["m"]))),
        DerivationStep("hence m_hat_t = lambda*theta and the penalty part is eta*lambda*theta/(sqrt(v_hat)+eps)",
                       sp.Symbol("mhat_t"), LAM * THETA),
    )
    claims = (
        Claim("zero", step["m"] - (gradient_part + LAM * penalty_part), "the split survives one step (induction step)"),
        Claim("zero", update3 - (ETA * sum(w * gk for w, gk in zip(weights, grads)) / denom3 + penalty3),
              "t = 3: update = eta*avg(g)/(sqrt(v_hat)+eps) + eta*lambda*avg(theta)/(sqrt(v_hat)+eps)"),
        Claim("zero", out["m_hat"] - unrolled, "t = 3: m_hat is the bias-corrected average of g_k + lambda*theta_{k-1}"),
        Claim("zero", first["m"] - LAM * THETA * (1 - B1), "constant penalty, base case t = 1"),
        Claim("zero", constant["m"] - LAM * THETA * (1 - B1**T), "constant penalty, induction step"),
        Claim("zero", constant["m_hat"] - LAM * THETA, "constant penalty: m_hat_t = lambda*theta"),
        Claim("zero", constant["update"].xreplace(NO_SCHEDULE) - ETA * LAM * THETA / constant["denom"],
              "constant penalty, zero gradient: the update is eta*lambda*theta/(sqrt(v_hat)+eps)"),
        Claim("zero", out["m_hat"].xreplace({B1: 0}) - (grads[2] + LAM * thetas[2]),
              "beta1 = 0: m_hat_t = g_t + lambda*theta_{t-1}, the penalty part is exact for any window"),
    )
    return Derivation(steps, claims)


def _derive_decay_factors() -> Derivation:
    adamw = adam_step(ADAMW)
    factor_w = sp.diff(adamw["p_new"].xreplace(NO_SCHEDULE), THETA)
    v_pos = sp.Symbol("v", positive=True)
    l2 = {k: e.xreplace(NO_SCHEDULE) for k, e in adam_step(ADAM_L2, THETA, 0, 0, v_pos, 0, T).items()}
    factor_l2 = 1 - l2["update"] / THETA  # the theta of m_hat = (1-beta1)*lambda*theta/c1 cancels
    strength = on_domain(1 - factor_l2)
    d_strength = sp.diff(strength, v_pos)
    strength_symbol = sp.Symbol("S_L2")
    steps = (
        DerivationStep("AdamW: d p_new/d theta (the update does not involve theta)", sp.Symbol("f_W"), factor_w),
        DerivationStep("Adam+L2, zero gradient and m = 0: p_new/theta", sp.Symbol("f_L2"), factor_l2),
        DerivationStep("decay strength S_L2 = 1 - f_L2 on the domain (c = 1 - beta^t, beta = 1/(1+x))",
                       strength_symbol, strength),
        DerivationStep("its derivative in v (v_hat = (beta2*v + (1-beta2)*lambda^2*theta^2)/c2 grows with v)",
                       sp.Derivative(strength_symbol, v_pos), sp.factor(d_strength)),
    )
    claims = (
        Claim("zero", l2["p_new"] / THETA - factor_l2, "p_new/theta = f_L2 (theta != 0)"),
        Claim("zero", factor_w - (1 - ETA * LAM), "AdamW factor = 1 - eta*lambda"),
        Claim("zero", sp.diff(factor_w, V), "d f_W / d v = 0"),
        Claim("zero", sp.diff(factor_w, G), "d f_W / d g = 0"),
        Claim("zero", sp.diff(factor_w, M), "d f_W / d m = 0"),
        Claim("negative", d_strength.xreplace({LAM: sp.Symbol("lambda", positive=True)}),
              "dS_L2/dv < 0 for lambda > 0: high-variance parameters are decayed less"),
    )
    return Derivation(steps, claims)


def _adam_bases() -> list[Conventions]:
    return [
        Conventions(Family.ADAM, WeightDecay.NONE, DecayTarget.PREVIOUS_PARAM, eps, bias, ams, maximize)
        for eps in EpsPlacement for bias in BiasCorrection for ams in AmsGrad for maximize in (False, True)
    ]


def _derive_zero_decay_modes() -> Derivation:
    claims = []
    zero = {LAM: sp.Integer(0)}
    modes = [(WeightDecay.COUPLED_L2, DecayTarget.PREVIOUS_PARAM)] + [
        (wd, target) for wd in WeightDecay if wd.is_decoupled for target in DecayTarget
    ]
    outputs = ("p_new", "m", "v", "vmax")
    for base in _adam_bases():
        reference = adam_step(base)
        for wd, target in modes:
            other = adam_step(base.replace(weight_decay=wd, decay_target=target))
            residual = sp.Add(*[sp.Abs(other[k].xreplace(zero) - reference[k]) for k in outputs])
            claims.append(Claim("zero", residual, f"{wd.value}/{target.value} at lambda = 0 equals none ({base.describe()})"))
    sgd_base = Conventions(Family.SGD)
    for has_momentum, nesterov, first_step in ((False, False, True), (True, False, True), (True, False, False), (True, True, False)):
        kw: dict[str, Any] = dict(has_momentum=has_momentum, nesterov=nesterov, first_step=first_step)
        reference = sgd_step(sgd_base, **kw)
        for wd, target in modes:
            other = sgd_step(sgd_base.replace(weight_decay=wd, decay_target=target), **kw)
            residual = sp.Add(*[sp.Abs(other[k].xreplace(zero) - reference[k]) for k in ("p_new", "m")])
            claims.append(Claim("zero", residual, f"SGD {wd.value}/{target.value} at lambda = 0 ({kw})"))
    example_l2 = adam_step(ADAM_L2)
    example_w = adam_step(ADAMW)
    steps = (
        DerivationStep("Adam+L2 step, p_new", sp.Symbol("theta_L2"), example_l2["p_new"]),
        DerivationStep("AdamW step, p_new", sp.Symbol("theta_W"), example_w["p_new"]),
        DerivationStep("at lambda = 0 both maps (p, m, v, vmax) -> (p_new, m_t, v_t, vmax_t) coincide",
                       example_l2["p_new"].xreplace(zero), example_w["p_new"].xreplace(zero)),
        DerivationStep(f"checked for all {len(claims)} pairs (every eps placement, bias correction, AMSGrad form, "
                       "maximize and SGD branch); equal maps from equal initial states give equal states at "
                       "every step (induction on t)", sp.Integer(len(claims)), sp.Integer(len(claims))),
    )
    return Derivation(steps, tuple(claims))


def _derive_bias_correction() -> Derivation:
    m_hyp = G * (1 - B1 ** (T - 1))
    v_hyp = G**2 * (1 - B2 ** (T - 1))
    step = adam_step(ADAMW, THETA, G, m_hyp, v_hyp, 0, T)
    base = adam_step(ADAMW, THETA, G, 0, 0, 0, 1)
    g_nonzero = sp.Symbol("g", real=True, nonzero=True)
    no_eps = {EPS: sp.Integer(0), G: g_nonzero}
    first_update = base["update"].xreplace(NO_SCHEDULE).xreplace(no_eps)
    steps = (
        DerivationStep("induction hypothesis", sp.Symbol("m_{t-1}"), m_hyp),
        DerivationStep("one step with the same g", sp.Symbol("m_t"), sp.expand(step["m"])),
        DerivationStep("bias-corrected", sp.Symbol("mhat_t"), sp.simplify(step["m_hat"])),
        DerivationStep("likewise for v", sp.Symbol("vhat_t"), sp.simplify(step["v_hat"])),
        DerivationStep("t = 1, eps = 0: update = eta*g/sqrt(g^2)", sp.Symbol("u_1"), first_update),
    )
    claims = (
        Claim("zero", base["m"] - G * (1 - B1), "base: m_1 = g*(1 - beta1)"),
        Claim("zero", step["m"] - G * (1 - B1**T), "induction: m_t = g*(1 - beta1^t)"),
        Claim("zero", base["v"] - G**2 * (1 - B2), "base: v_1 = g^2*(1 - beta2)"),
        Claim("zero", step["v"] - G**2 * (1 - B2**T), "induction: v_t = g^2*(1 - beta2^t)"),
        Claim("zero", step["m_hat"] - G, "m_hat_t = g"),
        Claim("zero", step["v_hat"] - G**2, "v_hat_t = g^2"),
        Claim("zero", first_update - ETA * sp.sign(g_nonzero), "t = 1, eps = 0: update = eta*sign(g)"),
    )
    return Derivation(steps, claims)


ADAM_THEOREMS = (
    Theorem(
        "T3 adam_l2_penalty_through_moments",
        "Adam+L2: the penalty's part of the update is eta*(bias-corrected average of lambda*theta_k)/(sqrt(v_hat)+eps); "
        "it is eta*lambda*theta/(sqrt(v_hat)+eps) when theta is constant over the window or beta1 = 0",
        ("eta > 0", "0 < beta1, beta2 < 1", "eps >= 0", "lambda >= 0", "g_k, theta_k real", "zero initial moments", "s = 1"),
        _derive_l2_through_moments,
    ),
    Theorem(
        "T4 decay_factor_dependence",
        "AdamW's decay factor 1 - eta*lambda has zero derivative in v, g and m; Adam+L2's zero-gradient decay "
        "strength decreases as v grows (high-variance parameters are decayed less)",
        ("eta > 0", "lambda > 0", "0 < beta1, beta2 < 1", "eps >= 0", "v > 0", "theta != 0", "m = 0, g = 0 for the L2 part", "s = 1"),
        _derive_decay_factors,
    ),
    Theorem(
        "T5 zero_decay_modes_coincide",
        "with lambda = 0 coupled L2 and every decoupled decay give identical states at every step",
        ("any eta, betas, eps, eps_root", "every Adam convention and SGD branch", "same initial state"),
        _derive_zero_decay_modes,
    ),
    Theorem(
        "T6 bias_correction_constant_gradient",
        "constant gradient g: m_hat_t = g and v_hat_t = g^2 at every t; at t = 1 with eps = 0 the update is eta*sign(g)",
        ("0 < beta1, beta2 < 1", "t >= 1 integer", "g real (g != 0 for the sign)", "zero initial moments", "s = 1"),
        _derive_bias_correction,
    ),
)
