"""The per-case error bound: the reference step re-run on :class:`~adamw_oracle.verify.tracked.Tracked`.

For a case (run + dtype) and a :class:`~adamw_oracle.contract.precision.PrecisionModel`, every step of
the run is computed by the reference layer's own element steps (``reference.adam.adam_element_step``,
``reference.sgd.sgd_element_step``) on numbers that carry a rigorous bound of how far an
implementation rounding each operation to the arithmetic format can be from the exact value. The
per-step constants mirror what frameworks do with Python-float hyperparameters::

    b1', b2', lr', eps', eps_root', wd', mu', s'   hyperparameters, each with hyperparameter_error()
                                                   (b1', b2' also + u*|1 - b|: they may be 1 - fl(1 - b))
    1 - b1', 1 - b2', 1 - dampening'               computed (one rounding each)
    (all of these are rounded to the model's scalar format; an operation between a scalar and a
    tensor element rounds to the arithmetic format: a coarser scalar converts exactly)
    bc1 = 1 - b1'**t, bc2 = 1 - b2'**t             computed (pow then one subtraction; 1 unless the
                                                   contract's bias_corrected says so)
    lr_t = lr' * s' (lr' when s = 1; s is step k's eta_t, Run.config_at(k), under a schedule);  c = lr_t * wd' | s' * wd' | wd' | 0  (contract.scalars.decay_coefficient)

After each step the parameter is rounded to the parameter format and m, v, vmax to the state format
when those differ from the arithmetic format. When a storage format is finer than the arithmetic (float32
arithmetic for float64 parameters), every value read from it (parameter, gradient, state) is rounded
to the arithmetic format before the step (:func:`loaded`: one rounding, ``u_a*reach + eta``). Errors carried in the state feed the next step, so the
bound grows with the run exactly as the propagated rounding does.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.precision import FormatCost, PrecisionModel, hyperparameter_error, inflate
from adamw_oracle.contract.scalars import bias_corrected, decay_coefficient
from adamw_oracle.reference.adam import adam_element_step
from adamw_oracle.reference.backends import raw_mpf_to_fraction
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.sgd import sgd_element_step
from adamw_oracle.verify.tracked import NONFINITE, RunningErrorBackend, Tracked


@dataclass(frozen=True)
class BoundedValue:
    """One parameter after one step: exact value, error bound (before slack) and condition flags."""

    exact: Fraction | float
    bound: float
    flags: int


@dataclass(frozen=True)
class BoundedTrajectory:
    """``params[k][i]``: element i after step k+1, with its bound, under ``precision``."""

    precision: PrecisionModel
    params: tuple[tuple[BoundedValue, ...], ...]


def loaded(value: Any, one: Any, rounds: bool) -> Any:
    """A stored value as the arithmetic reads it: rounded once to the arithmetic format when its storage
    format is finer (``rounds``), written as the product with an exact 1 so that the backend's own
    multiplication adds exactly one rounding; non-finite inputs pass unchanged (their flags decide)."""
    if not rounds:
        return value
    if isinstance(value, Tracked) and value.flags & NONFINITE:
        return value
    return value * one


def moment_rate(backend: RunningErrorBackend, beta: Fraction) -> Tracked:
    """beta as an implementation may hold it: fl(beta), 1 - fl(1 - beta) when it only keeps the weight
    w = 1 - beta (torch's ``lerp(m, g, w)`` computes ``g - (g - m)*(1 - w)`` for w >= 1/2), or folded
    into the increment form ``m + fl(fl(g - m) * fl(1 - beta))`` (Keras's ``assign_add``; torch's lerp
    for w < 1/2). ``backend`` is the scalars' backend (u_s); u_a is the tensors' arithmetic unit.

    The weight form errs by up to u_s*|1 - beta| more than fl(beta): charged on beta.
    The increment form's difference, weight and product round by up to (2u_a + u_s)*|1 - beta|*|g - m|
    beyond the final sum. The contract's order beta*m + (1 - beta)*g is charged (first order, beyond
    the sum) at least (u_s*|1 - beta| + u_a*beta)*|m| + (2u_s + u_a)*|1 - beta|*|g| with the term above,
    which covers it for beta >= 2/3 (SLACK = 2 absorbs the g side when u_s < u_a). Below, the form
    cancels where |m| >> |g| (a tiny beta1: the new m is near g while the difference is near -m) and
    exceeds that by up to 3x: beta also carries u*max(0, 3*|1 - beta| - 1) with u = max(u_s, u_a), so
    that the |m| side reaches 3u*|1 - beta|. Without it the campaign failed a correct keras.Adam in
    float32 (beta1 = 0.0073: 137 ulp, 1.01x the slackened bound; tests/test_adapters_keras.py).
    """
    value = backend.inexact(beta, hyperparameter_error(beta, backend.fmt.dtype))
    weight = float(abs(1 - beta))
    u = max(backend.fmt.unit_roundoff, backend.arithmetic_unit)
    value.e = inflate(value.e + (backend.fmt.unit_roundoff * weight + u * max(0.0, 3 * weight - 1))
                      * (1 + 2.0**-50))
    return value


def tracked_constants(backend: RunningErrorBackend, config: OptimizerConfig, t: int) -> StepConstants:
    """The step-t scalars as :class:`Tracked` numbers rounded to ``backend``'s format (the scalar format)."""
    h, conv = config.hyper, config.conventions
    arith = backend.fmt.dtype

    def hyper(value: Fraction) -> Tracked:
        return backend.inexact(value, hyperparameter_error(value, arith))

    one = backend.exact(1)
    beta1, beta2 = moment_rate(backend, h.beta1), moment_rate(backend, h.beta2)
    if bias_corrected(conv):
        bc1 = one - backend.power(beta1, t)
        bc2 = one - backend.power(beta2, t)
    else:
        bc1 = bc2 = one
    lr = hyper(h.lr)
    s = hyper(h.schedule_multiplier)
    lr_t = lr if h.schedule_multiplier == 1 else lr * s
    wd = hyper(h.weight_decay)
    decay_coef = decay_coefficient(conv.weight_decay, lr_t=lr_t, schedule=s, weight_decay=wd, zero=backend.exact(0))
    return StepConstants(
        t=t, beta1=beta1, beta2=beta2, one_minus_beta1=one - beta1, one_minus_beta2=one - beta2,
        bc1=bc1, bc2=bc2, lr_t=lr_t, eps=hyper(h.eps), eps_root=hyper(h.eps_root), weight_decay=wd,
        decay_coef=decay_coef, momentum=hyper(h.momentum), one_minus_dampening=one - hyper(h.dampening),
    )


def bounded_trajectory(case: Case, precision: PrecisionModel | None = None, *, prec: int = 200) -> BoundedTrajectory:
    """Exact parameters after every step of ``case`` with their error bounds under ``precision``."""
    precision = precision or PrecisionModel.conservative(case.dtype)
    arith, state_fmt = (FormatCost.of(d) for d in (precision.arithmetic, precision.state))
    param_fmt = precision.param_cost()  # to nearest, or stochastic (a full spacing)
    backend = RunningErrorBackend(arith, prec)
    assert precision.scalars is not None
    scalar_backend = backend.sibling(FormatCost.of(precision.scalars))
    run = case.run
    conv, hyper = run.config.conventions, run.config.hyper
    st = run.initial_state
    assert st is not None
    one = backend.exact(1)
    param_load, state_load = precision.rounds_on_load(precision.param), precision.rounds_on_load(precision.state)

    def read(values: list[Tracked], rounds: bool) -> list[Tracked]:
        return [loaded(x, one, rounds) for x in values]

    params: list[Tracked] = [backend.exact(x) for x in run.initial_params]
    m = [backend.exact(x) for x in st.m]
    v = [backend.exact(x) for x in st.v]
    vmax = [backend.exact(x) for x in st.vmax]
    rows: list[tuple[BoundedValue, ...]] = []
    for k, grads in enumerate(run.gradients):
        t = run.t_at(k)  # initial step + k + 1 unless the run declares its counter
        consts = tracked_constants(scalar_backend, run.config_at(k), t)
        g = read([backend.exact(x) for x in grads], param_load)
        p_in, m_in = read(params, param_load), read(m, state_load)
        if conv.family is Family.ADAM:
            steps = [adam_element_step(backend, consts, conv, *args)
                     for args in zip(p_in, g, m_in, read(v, state_load), read(vmax, state_load))]
            v = [backend.store(_present(e.v), state_fmt) for e in steps]
            vmax = [backend.store(_present(e.vmax), state_fmt) for e in steps]
        else:
            steps = [
                sgd_element_step(backend, consts, conv, p, gi, b, first_step=t == 1, nesterov=hyper.nesterov,
                                 has_momentum=hyper.momentum != 0)
                for p, gi, b in zip(p_in, g, m_in)
            ]
        m = [backend.store(e.m, state_fmt) for e in steps]
        params = [backend.store(e.p_new, param_fmt) for e in steps]
        rows.append(tuple(BoundedValue(raw_mpf_to_fraction(p.x._mpf_), p.e, p.flags) for p in params))
    return BoundedTrajectory(precision, tuple(rows))


def _present(value: Tracked | None) -> Tracked:
    """An Adam step's v / vmax (always computed by the Adam family)."""
    assert value is not None
    return value
