"""Theorems 7-9 and 12: exact maps between the conventions frameworks disagree on.

Built from :func:`adamw_oracle.symbolic.step.adam_step` / ``sgd_step``; s is the schedule multiplier.
"""
from __future__ import annotations

from typing import Any

import sympy as sp

from adamw_oracle.contract.conventions import AmsGrad, Conventions, DecayTarget, EpsPlacement, Family, WeightDecay
from adamw_oracle.symbolic.step import adam_step, decay_coefficient, sgd_step
from adamw_oracle.symbolic.symbols import HYPER, STATE
from adamw_oracle.symbolic.theorem import Claim, Derivation, DerivationStep, Theorem
from adamw_oracle.symbolic.theorems_adam import B2, EPS, ETA, LAM, NO_SCHEDULE, T, on_domain

S = HYPER.schedule
THETA = STATE.p


def _derive_epsilon_hat() -> Derivation:
    eps_hat = EPS * sp.sqrt(1 - B2**T)
    claims = []
    shown: list[DerivationStep] = []
    for ams in AmsGrad:
        torch_form = adam_step(Conventions(Family.ADAM, amsgrad=ams))
        keras_form = adam_step(Conventions(Family.ADAM, eps_placement=EpsPlacement.EPSILON_HAT, amsgrad=ams))
        mapped = {k: e.xreplace({EPS: eps_hat}) for k, e in keras_form.items()}
        for key in ("update", "p_new"):
            claims.append(Claim("zero", on_domain(torch_form[key] - mapped[key]),
                                f"{key}: after_root(eps) = epsilon_hat(eps*sqrt(1 - beta2^t)), amsgrad={ams.value}"))
        if ams is AmsGrad.OFF:
            shown = [
                DerivationStep("PyTorch form (eps after sqrt(v_hat))", sp.Symbol("u_torch"), torch_form["update"]),
                DerivationStep("epsilon-hat form", sp.Symbol("uhat"), keras_form["update"]),
                DerivationStep("epsilon-hat with eps_hat = eps*sqrt(1 - beta2^t)", sp.Symbol("uhat"), mapped["update"]),
                DerivationStep("multiply numerator and denominator by sqrt(1 - beta2^t) = sqrt(c2)",
                               sp.Symbol("u_torch") - sp.Symbol("uhat"), sp.simplify(on_domain(torch_form["update"] - mapped["update"]))),
            ]
    shown.append(DerivationStep("the same holds for both AMSGrad forms (raw v and v_hat maxima)",
                                sp.Integer(len(claims)), sp.Integer(len(claims))))
    return Derivation(tuple(shown), tuple(claims))


def _derive_decay_target() -> Derivation:
    claims = []
    steps: list[DerivationStep] = []
    for wd in (WeightDecay.DECOUPLED_LR, WeightDecay.DECOUPLED_SCHEDULE, WeightDecay.DECOUPLED_UNSCALED):
        for family in Family:
            conv = Conventions(family, wd)
            if family is Family.ADAM:
                before, after = adam_step(conv), adam_step(conv.replace(decay_target=DecayTarget.UPDATED_PARAM))
            else:
                kw: dict[str, Any] = dict(has_momentum=True, first_step=False)
                before = sgd_step(conv, **kw)
                after = sgd_step(conv.replace(decay_target=DecayTarget.UPDATED_PARAM), **kw)
            c = decay_coefficient(conv, HYPER)
            claims.append(Claim("zero", after["p_new"] - before["p_new"] - c * before["update"],
                                f"{family.value}, {wd.value}: p_new(updated) - p_new(previous) = c*update"))
            if family is Family.ADAM and wd is WeightDecay.DECOUPLED_LR:
                u = sp.Symbol("u")
                steps = [
                    DerivationStep("decay on p_{t-1}", sp.Symbol("p_prev"), THETA - c * THETA - u),
                    DerivationStep("decay on the updated p", sp.Symbol("p_upd"), (THETA - u) - c * (THETA - u)),
                    DerivationStep("difference, u the adaptive step", sp.Symbol("p_upd") - sp.Symbol("p_prev"), sp.expand(c * u)),
                    DerivationStep("torch-style decay (s = 1): eta*lambda times the adaptive step",
                                   sp.Symbol("p_upd") - sp.Symbol("p_prev"), (c * before["update"]).xreplace(NO_SCHEDULE)),
                ]
    return Derivation(tuple(steps), tuple(claims))


def _derive_decay_maps() -> Derivation:
    lam_norm, batch, points, epochs = sp.symbols("lambda_norm b B T_epochs", positive=True)
    conv = Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR)
    torch_p = adam_step(conv)["p_new"]
    paper_p = adam_step(conv.replace(weight_decay=WeightDecay.DECOUPLED_SCHEDULE))["p_new"]
    tfa_p = adam_step(conv.replace(weight_decay=WeightDecay.DECOUPLED_UNSCALED))["p_new"]
    lam_paper = ETA * LAM
    lam_tfa = S * ETA * LAM
    normalized = lam_norm * sp.sqrt(batch / (points * epochs))
    steps = (
        DerivationStep("decay coefficient, torch (lr_t = s*eta)", sp.Symbol("c_torch"), S * ETA * LAM),
        DerivationStep("paper: schedule multiplier times its lambda", sp.Symbol("c_paper"), S * sp.Symbol("lambda_paper")),
        DerivationStep("TF-Addons: its lambda alone", sp.Symbol("c_TFA"), sp.Symbol("lambda_TFA")),
        DerivationStep("equal coefficients", sp.Symbol("lambda_paper"), lam_paper),
        DerivationStep("equal coefficients (changes with s: constant only without a schedule)",
                       sp.Symbol("lambda_TFA"), lam_tfa),
        DerivationStep("paper's normalized decay", sp.Symbol("lambda_paper"), normalized),
        DerivationStep("so torch's weight_decay for a normalized lambda", sp.Symbol("lambda_torch"), normalized / ETA),
    )
    claims = (
        Claim("zero", torch_p - paper_p.xreplace({LAM: lam_paper}), "torch(lambda) = paper(eta*lambda)"),
        Claim("zero", torch_p - tfa_p.xreplace({LAM: lam_tfa}), "torch(lambda) = TF-Addons(s*eta*lambda)"),
        Claim("zero", torch_p.xreplace({LAM: normalized / ETA}) - paper_p.xreplace({LAM: normalized}),
              "torch(lambda_norm*sqrt(b/(B*T))/eta) = paper(lambda_norm*sqrt(b/(B*T)))"),
    )
    return Derivation(steps, claims)


def _derive_eps_floor() -> Derivation:
    r, e, d = sp.Symbol("r", positive=True), sp.Symbol("epsilon", positive=True), sp.Symbol("d", positive=True)
    claims = []
    for ams in AmsGrad:
        floor = adam_step(Conventions(Family.ADAM, eps_placement=EpsPlacement.FLOOR, amsgrad=ams))
        after = adam_step(Conventions(Family.ADAM, amsgrad=ams))
        root = after["denom"] - EPS  # sqrt(v~) of the same AMSGrad form
        claims.append(Claim("zero", floor["update"].xreplace({floor["denom"]: root}) - after["update"].xreplace({EPS: 0}),
                            f"floor with the max at sqrt(v~) = after-root with eps = 0, amsgrad={ams.value}"))
        lr_t = HYPER.lr * HYPER.schedule
        claims.append(Claim("zero", floor["update"].xreplace({floor["denom"]: EPS}) - lr_t * floor["m_hat"] / EPS,
                            f"floor with the max at eps = lr_t*m^/eps, amsgrad={ams.value}"))
    # the two branches of the max and the factor-2 sandwich, on r > eps (r = eps + d) and r < eps (eps = r + d)
    above, below = {r: e + d}, {e: r + d}
    for region, name in ((above, "sqrt(v~) > eps"), (below, "sqrt(v~) < eps")):
        claims.append(Claim("positive", ((r + e) - sp.Max(r, e)).xreplace(region), f"max(r, eps) < r + eps where {name}"))
        claims.append(Claim("positive", (2 * sp.Max(r, e) - (r + e)).xreplace(region), f"r + eps < 2 max(r, eps) where {name}"))
    claims.append(Claim("zero", sp.Max(r, e).xreplace(above) - (e + d), "max(r, eps) = r where r > eps"))
    claims.append(Claim("zero", sp.Max(r, e).xreplace(below) - (r + d), "max(r, eps) = eps where r < eps"))
    floor = adam_step(Conventions(Family.ADAM, eps_placement=EpsPlacement.FLOOR))
    after = adam_step(Conventions(Family.ADAM))
    steps = (
        DerivationStep("eps as a floor", sp.Symbol("u_floor"), floor["update"]),
        DerivationStep("eps after the root", sp.Symbol("u_torch"), after["update"]),
        DerivationStep("r = sqrt(v~) > eps: the max is r (r = eps + d, d > 0)", sp.Max(r, e).xreplace(above), e + d),
        DerivationStep("r < eps: the max is eps (eps = r + d, d > 0)", sp.Max(r, e).xreplace(below), r + d),
        DerivationStep("so (r + eps)/2 < max(r, eps) < r + eps: u_torch < u_floor < 2 u_torch in magnitude",
                       sp.Symbol("u_floor") / sp.Symbol("u_torch"), (r + e) / sp.Max(r, e)),
    )
    return Derivation(steps, tuple(claims))


EPS_FLOOR_THEOREM = Theorem(
    "T12 eps_floor_bounds",
    "eps as a floor, max(sqrt(v~), eps), is the after-root form with eps = 0 where sqrt(v~) >= eps and "
    "lr*m^/eps below it; its denominator lies strictly between (sqrt(v~) + eps)/2 and sqrt(v~) + eps",
    ("eps > 0", "v, vmax >= 0", "every AMSGrad form"),
    _derive_eps_floor,
)

CONVENTION_THEOREMS = (
    Theorem(
        "T7 epsilon_hat_mapping",
        "epsilon-hat (Keras/TF) with eps_hat = eps*sqrt(1 - beta2^t) equals the PyTorch form with eps, exactly",
        ("eta > 0", "0 < beta2 < 1", "eps >= 0", "v, vmax >= 0", "t >= 1", "every AMSGrad form"),
        _derive_epsilon_hat,
    ),
    Theorem(
        "T8 decay_target_difference",
        "decay on the updated p minus decay on p(t-1) = c*update; for torch-style decay c = eta*lambda "
        "(eta*lambda times the adaptive step)",
        ("eta > 0", "lambda >= 0", "any Adam/SGD state", "c = eta*s*lambda, s*lambda or lambda"),
        _derive_decay_target,
    ),
    Theorem(
        "T9 decay_convention_maps",
        "torch wd lambda equals paper wd eta*lambda and TF-Addons wd s*eta*lambda; "
        "paper lambda = lambda_norm*sqrt(b/(B*T)) is torch wd lambda_norm*sqrt(b/(B*T))/eta",
        ("eta > 0", "s > 0 (schedule multiplier)", "b, B, T > 0 (batch size, training points, epochs)"),
        _derive_decay_maps,
    ),
)
