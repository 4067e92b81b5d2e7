"""Theorems 1-2: SGD, where L2 and weight decay coincide without momentum and differ with it.

Built from :func:`adamw_oracle.symbolic.step.sgd_step` (torch.optim.SGD semantics) with s = 1.
"""
from __future__ import annotations

import sympy as sp

from adamw_oracle.contract.conventions import Conventions, Family, WeightDecay
from adamw_oracle.symbolic.step import sgd_step
from adamw_oracle.symbolic.symbols import HYPER, STATE
from adamw_oracle.symbolic.theorem import Claim, Derivation, DerivationStep, Theorem

ETA, LAM, MU, TAU = HYPER.lr, HYPER.weight_decay, HYPER.momentum, HYPER.dampening
THETA, G = STATE.p, STATE.g
_NO_SCHEDULE = {HYPER.schedule: sp.Integer(1)}
SGD_L2 = Conventions(Family.SGD, WeightDecay.COUPLED_L2)
SGDW = Conventions(Family.SGD, WeightDecay.DECOUPLED_LR)


def _derive_sgd_l2_is_decay() -> Derivation:
    l2 = sgd_step(SGD_L2, has_momentum=False, first_step=True)["p_new"].xreplace(_NO_SCHEDULE)
    decoupled = sgd_step(SGDW, has_momentum=False, first_step=True)["p_new"].xreplace(_NO_SCHEDULE)
    stated = (1 - ETA * LAM) * THETA - ETA * G
    steps = (
        DerivationStep("L2: the penalty gradient lambda*theta is added to g", sp.Symbol("theta_L2"), l2),
        DerivationStep("decoupled decay (SGDW): theta shrinks by eta*lambda*theta", sp.Symbol("theta_W"), decoupled),
        DerivationStep("expand the difference", sp.Symbol("theta_L2") - sp.Symbol("theta_W"), sp.expand(l2 - decoupled)),
    )
    claims = (
        Claim("zero", l2 - stated, "theta - eta*(g + lambda*theta) = (1 - eta*lambda)*theta - eta*g"),
        Claim("zero", l2 - decoupled, "the L2 step equals the SGDW step"),
    )
    return Derivation(steps, claims)


def _derive_momentum_differs() -> Derivation:
    theta0, g1, g2 = sp.symbols("theta_0 g_1 g_2", real=True)
    l2_first = sgd_step(SGD_L2, theta0, g1, 0, has_momentum=True, first_step=True)
    w_first = sgd_step(SGDW, theta0, g1, 0, has_momentum=True, first_step=True)
    l2_second = sgd_step(SGD_L2, l2_first["p_new"], g2, l2_first["m"], has_momentum=True, first_step=False)
    w_second = sgd_step(SGDW, w_first["p_new"], g2, w_first["m"], has_momentum=True, first_step=False)
    theta2_l2 = l2_second["p_new"].xreplace(_NO_SCHEDULE)
    theta2_w = w_second["p_new"].xreplace(_NO_SCHEDULE)
    theta1 = w_first["p_new"].xreplace(_NO_SCHEDULE)
    difference = theta2_l2 - theta2_w
    closed_form = ETA * LAM * (TAU * theta1 - MU * theta0)
    theta0_nonzero = sp.Symbol("theta_0", real=True, nonzero=True)
    undamped = closed_form.xreplace({TAU: 0}).xreplace({theta0: theta0_nonzero})
    lam_pos, mu_pos = sp.Symbol("lambda", positive=True), sp.Symbol("mu", positive=True)
    steps = (
        DerivationStep("step 1 is the same in both modes (buffer = g'_1)", sp.Symbol("theta_1"),
                       sp.expand(theta1)),
        DerivationStep("step 1 of L2 equals step 1 of SGDW", l2_first["p_new"].xreplace(_NO_SCHEDULE), theta1),
        DerivationStep("step 2 with L2: buffer = mu*(g_1 + lambda*theta_0) + (1 - tau)*(g_2 + lambda*theta_1)",
                       sp.Symbol("theta_2^L2"), theta2_l2),
        DerivationStep("step 2 with SGDW: buffer = mu*g_1 + (1 - tau)*g_2", sp.Symbol("theta_2^W"), theta2_w),
        DerivationStep("difference in closed form", sp.Symbol("theta_2^L2") - sp.Symbol("theta_2^W"),
                       sp.factor(closed_form)),
        DerivationStep("without dampening (tau = 0)", sp.Symbol("theta_2^L2") - sp.Symbol("theta_2^W"),
                       closed_form.xreplace({TAU: 0})),
    )
    claims = (
        Claim("zero", l2_first["p_new"] - w_first["p_new"], "the first steps agree"),
        Claim("zero", difference - closed_form, "theta_2^L2 - theta_2^W = eta*lambda*(tau*theta_1 - mu*theta_0)"),
        Claim("nonzero", undamped.xreplace({LAM: lam_pos, MU: mu_pos}),
              "-eta*mu*lambda*theta_0 != 0 for eta, mu, lambda > 0 and theta_0 != 0"),
        Claim("nonzero", difference, "the difference is not identically zero",
              witness={ETA: sp.Rational(1, 10), LAM: sp.Rational(1, 10), MU: sp.Rational(9, 10), TAU: 0,
                       theta0: 1, g1: 0, g2: 0}),
    )
    return Derivation(steps, claims)


SGD_THEOREMS = (
    Theorem(
        "T1 sgd_l2_is_weight_decay",
        "plain SGD: theta - eta*(g + lambda*theta) = (1 - eta*lambda)*theta - eta*g, so L2 is weight decay",
        ("eta > 0", "lambda >= 0", "theta, g real", "no momentum", "s = 1"),
        _derive_sgd_l2_is_decay,
    ),
    Theorem(
        "T2 sgd_momentum_l2_is_not_sgdw",
        "SGD with momentum: after two steps theta_L2 - theta_SGDW = eta*lambda*(tau*theta_1 - mu*theta_0), "
        "-eta*mu*lambda*theta_0 without dampening: non-zero for generic values",
        ("eta > 0", "lambda > 0", "0 < mu <= 1", "0 <= tau <= 1 (dampening)", "theta_0 != 0",
         "torch buffer initialisation (buffer_1 = g'_1)", "s = 1"),
        _derive_momentum_differs,
    ),
)
