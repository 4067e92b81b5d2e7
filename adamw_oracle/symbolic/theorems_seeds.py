"""Theorems 10-11: the two seed documents' numbers, judged by the algebra (the seeds never judge it).

* Seed 001 asks how much *smaller* the Adam+L2 decay is than AdamW's at v_hat = 0.09, lr = 0.001,
  lambda = 0.01. With the constant-penalty form of Theorem 3 the ratio is 1/(sqrt(v_hat) + eps), about
  3.33: the L2 decay is LARGER there, so the exercise's premise does not hold at this v_hat.
* Seed 000's zero-gradient demo seeds v, sets m = 0, p = 1 and ``opt.t = 1000`` before ``step()``
  increments it, so the step taken is t = 1001. Its closed form under L2 is derived here; at t = 1001
  the exact values are 0.999204199 (v = 1) and 0.924126481 (v = 1e-4). The seed prints 0.924127
  because its float32 arithmetic gives 0.92412651 (rounding carries it across the 6th decimal); at
  t = 1000 the value would be 0.924149, which the seed does not print.
"""
from __future__ import annotations

import sympy as sp

from adamw_oracle.symbolic.step import adam_step
from adamw_oracle.symbolic.theorem import Claim, Derivation, DerivationStep, Theorem
from adamw_oracle.symbolic.theorems_adam import ADAM_L2, ADAMW, B1, B2, EPS, ETA, LAM, NO_SCHEDULE, THETA, T

V_HAT = sp.Symbol("vhat", nonnegative=True)
R = sp.Rational

SEED001 = {V_HAT: R(9, 100), ETA: R(1, 1000), LAM: R(1, 100), EPS: R(1, 10**8)}
SEED000 = {B1: R(9, 10), B2: R(999, 1000), EPS: R(1, 10**8), ETA: R(1, 10), LAM: R(1, 10)}


def _derive_seed001() -> Derivation:
    decay_w = adam_step(ADAMW)["decay"].xreplace(NO_SCHEDULE)
    # constant-penalty form of the L2 penalty's part of the update (Theorem 3)
    decay_l2 = ETA * LAM * THETA / (sp.sqrt(V_HAT) + EPS)
    ratio = sp.simplify(decay_l2 / decay_w)
    at_seed = ratio.xreplace(SEED001)
    steps = (
        DerivationStep("AdamW per-step decay", sp.Symbol("d_W"), decay_w),
        DerivationStep("Adam+L2 per-step decay (Theorem 3, constant penalty)", sp.Symbol("d_L2"), decay_l2),
        DerivationStep("ratio", sp.Symbol("d_L2") / sp.Symbol("d_W"), ratio),
        DerivationStep("at v_hat = 0.09, eps = 1e-8 (lr and lambda cancel)", sp.Symbol("d_L2") / sp.Symbol("d_W"), at_seed),
        DerivationStep("per-step decays at the seed's w = 0.8", sp.Tuple(sp.Symbol("d_L2"), sp.Symbol("d_W")),
                       sp.Tuple(decay_l2.xreplace(SEED001 | {THETA: R(4, 5)}), decay_w.xreplace(SEED001 | {THETA: R(4, 5)}))),
    )
    claims = (
        Claim("zero", ratio - 1 / (sp.sqrt(V_HAT) + EPS), "d_L2/d_W = 1/(sqrt(v_hat) + eps)"),
        Claim("zero", at_seed - R(10**8, 30000001), "at the seed's values the ratio is 10^8/30000001"),
        Claim("positive", at_seed - 1, "the ratio exceeds 1: Adam+L2 decays MORE than AdamW at v_hat = 0.09"),
        Claim("rounds_to", at_seed, "the ratio is about 3.33", decimal="3.33"),
        Claim("rounds_to", decay_w.xreplace(SEED001 | {THETA: R(4, 5)}), "AdamW decay 0.000008 at w = 0.8 (seed's table)",
              decimal="0.000008"),
    )
    return Derivation(steps, claims)


def closed_form_zero_gradient_l2(v: sp.Expr, t: sp.Expr, lr: sp.Expr, lam: sp.Expr) -> sp.Expr:
    """Seed 000's L2 decay factor p_new/p (p = 1, g = 0, m = 0, seeded v, step t)::

        f(v, t, lr, lam) = 1 - lr*(1 - beta1)*lam / ((1 - beta1^t) * (sqrt((beta2*v + (1 - beta2)*lam^2)/(1 - beta2^t)) + eps))
    """
    return 1 - lr * (1 - B1) * lam / ((1 - B1**t) * (sp.sqrt((B2 * v + (1 - B2) * lam**2) / (1 - B2**t)) + EPS))


def _derive_seed000() -> Derivation:
    v = sp.Symbol("v", nonnegative=True)
    l2 = adam_step(ADAM_L2, 1, 0, 0, v, 0, T)["p_new"].xreplace(NO_SCHEDULE)
    w = adam_step(ADAMW, 1, 0, 0, v, 0, T)["p_new"].xreplace(NO_SCHEDULE)
    closed = closed_form_zero_gradient_l2(v, T, ETA, LAM)

    def at(expr: sp.Expr, v_value: sp.Expr, t_value: int) -> sp.Expr:
        # evalf with subs: substituting first would make sympy look for square factors of the
        # 3000-digit rational 1 - 0.999^1001 under the root, which takes tens of seconds
        return expr.evalf(50, subs={v: v_value, T: t_value, **SEED000})

    steps = (
        DerivationStep("Adam+L2 step from p = 1, g = 0, m = 0, seeded v", sp.Symbol("f_L2"), l2),
        DerivationStep("closed form", sp.Function("f_L2")(sp.Symbol("v"), T, ETA, LAM), closed),
        DerivationStep("AdamW from the same state", sp.Symbol("f_W"), w),
        DerivationStep("seed values, t = 1001 (opt.t = 1000, then step() increments), v = 1",
                       sp.Symbol("f_L2"), sp.Float(at(closed, 1, 1001), 15)),
        DerivationStep("v = 1e-4 (the seed's float32 arithmetic gives 0.92412651, printed 0.924127)",
                       sp.Symbol("f_L2"), sp.Float(at(closed, R(1, 10**4), 1001), 15)),
        DerivationStep("t = 1000 would give (not what the seed prints)", sp.Symbol("f_L2"),
                       sp.Float(at(closed, R(1, 10**4), 1000), 15)),
    )
    claims = (
        Claim("zero", l2 - closed, "the step equals the closed form for every v, t, lr, lambda"),
        Claim("zero", w - (1 - ETA * LAM), "AdamW: 1 - lr*lambda for every v"),
        Claim("rounds_to", at(closed, 1, 1001), "v = 1, t = 1001: 0.999204 as the seed prints", decimal="0.999204"),
        Claim("rounds_to", at(closed, R(1, 10**4), 1001), "v = 1e-4, t = 1001: exact 0.924126 (seed: 0.924127 in float32)",
              decimal="0.924126"),
        Claim("rounds_to", at(closed, R(1, 10**4), 1000), "v = 1e-4, t = 1000: 0.924149", decimal="0.924149"),
        Claim("rounds_to", at(w, 1, 1001), "AdamW: 0.990000", decimal="0.990000"),
    )
    return Derivation(steps, claims)


SEED_THEOREMS = (
    Theorem(
        "T10 seed001_exercise_premise",
        "at v_hat = 0.09, lr = 0.001, lambda = 0.01 the Adam+L2 per-step decay is 1/(sqrt(v_hat)+eps) = 3.33 times "
        "AdamW's: LARGER, so seed 001's premise that it is smaller does not hold at this v_hat",
        ("constant penalty over the averaging window (Theorem 3)", "eps = 1e-8", "s = 1"),
        _derive_seed001,
    ),
    Theorem(
        "T11 seed000_zero_gradient_demo",
        "seed 000's zero-gradient L2 factor is 1 - lr*(1-beta1)*lam/((1-beta1^t)*(sqrt((beta2*v+(1-beta2)*lam^2)/(1-beta2^t))+eps)); "
        "at t = 1001 it is 0.999204 (v = 1) and 0.924126 (v = 1e-4; float32 prints 0.924127)",
        ("p = 1, g = 0, m = 0, seeded v >= 0", "beta1 = 0.9, beta2 = 0.999, eps = 1e-8 for the numbers",
         "lr = lambda = 0.1 for the numbers", "t = 1001: the step after opt.t = 1000"),
        _derive_seed000,
    ),
)
