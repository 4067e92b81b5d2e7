"""The bound and the verdict for parameters kept with compensated (Kahan) summation.

An implementation under :class:`~adamw_oracle.contract.precision.ParamSummation` ``KAHAN`` stores the
parameter p and a compensation c, both in the parameter format P, and computes in the arithmetic A::

    d  = -(update + decay)      from the stored p (the reference step's own update and decay)
    y  = fl_P(fl_A(c + d))      p' = fl_P(p + y)      c' = fl_P(fl_A(y - fl_A(p' - p)))

The exact algorithm is the exact update, so the exact high-precision value s = p + c follows the
reference trajectory. With e_s a bound on |(p + c) - s| and C on |c|, one step gives (every term
computed by the running-error backend of :mod:`adamw_oracle.verify.tracked`, u_A, u_P the unit
roundoffs, eta_A, eta_P the underflow terms)::

    p enters the step as s with bound e_s + C     -> update, decay, d with bound e_d on |d - d*|
    R   = C + |d*| + e_d                            (reach of c + d)
    e_y = (u_A + u_P) R (1 + u_A) + eta_A + eta_P   (the two roundings of y)
    C'  = (u_P (|s| + e_s + C + R + e_y) + eta_P)(1 + 4 u_A)(1 + 2 u_P)   (|c'|: what p' lost)
    e_p = u_A (R + e_y + 2 C')(1 + 2 u_A) + u_P C' (1 + u_A) + 2 eta_A + eta_P
          (the roundings of p' - p, of y - (p' - p) and of c' into P; p' itself is exact bookkeeping)
    e_s' = e_s + e_d + e_y + e_p

so the bound on p + c grows with |d| (and u_A |p|), not with u_P |p| per step as plain storage does.

With ``decay_compensated=False`` (torch-optimi: ``param.mul_(1 - lr*wd)`` before the compensated
update) the decoupled decay is applied to the stored parameter first and only d = -update is
compensated; the decayed parameter is rounded as plain storage is::

    p_dec = fl_P(fl_A(p - decay))                  e_dec = e_decay + (u_A + u_P)(|s| + e_s + C + |decay*| + e_decay)(1 + u_A) + eta_A + eta_P
    then the steps above from p_dec, with d = -update and e_s + e_dec in place of e_s

(the compensation is not decayed: the error that leaves, |decay coefficient| C, is inside e_decay,
which is computed from p with its bound e_s + C). A decay that is exactly 0 (wd = 0, or none) rounds
nothing.
:func:`judge_kahan_elements` (which :func:`~adamw_oracle.verify.judge` calls for this model) compares the observed ``params + compensation`` (exactly, in rationals) with the
exact parameter under ``slack * e_s'``, and the stored ``params`` alone under ``slack * (e_s' + C')``
(the parameter is the high-precision value less its compensation); an element-step passes when both
hold. An observation without ``compensation`` cannot be judged under this model (every element-step
outside, with the reason).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.precision import FormatCost, PrecisionModel, inflate
from adamw_oracle.reference.backends import raw_mpf_to_fraction
from adamw_oracle.verify.error_model import BoundedValue, loaded, tracked_constants
from adamw_oracle.verify.tracked import (
    BOUND_OVERFLOW,
    BOUND_VACUOUS,
    ILL,
    NONFINITE,
    OVERFLOW,
    RunningErrorBackend,
    Tracked,
    abs_float,
    bound_proves,
    bound_vacuous,
    vacuity_constants,
)
from adamw_oracle.verify.tracked_steps import step_elements


def kahan_bounds(case: Case, precision: PrecisionModel, *, prec: int = 200) -> tuple[tuple[tuple[BoundedValue, float], ...], ...]:
    """``[k][i] = (BoundedValue of p + c after step k+1, C)``: the exact parameter, the bound e_s' on the
    high-precision value and the bound C' on the compensation (see the module docstring)."""
    arith, state_fmt, param = (FormatCost.of(d) for d in (precision.arithmetic, precision.state, precision.param))
    backend = RunningErrorBackend(arith, prec)
    assert precision.scalars is not None
    scalar_backend = backend.sibling(FormatCost.of(precision.scalars))
    one = backend.exact(1)
    param_load, state_load = precision.rounds_on_load(precision.param), precision.rounds_on_load(precision.state)
    run = case.run
    conv, hyper = run.config.conventions, run.config.hyper
    st = run.initial_state
    assert st is not None
    s: list[Tracked] = [backend.exact(x) for x in run.initial_params]
    comp = [0.0] * run.size
    m, v, vmax = ([backend.exact(x) for x in values] for values in (st.m, st.v, st.vmax))
    ua, up, eta_a, eta_p = arith.unit_roundoff, param.unit_roundoff, arith.underflow, param.underflow
    rows = []
    for k, grads in enumerate(run.gradients):
        t = run.t_at(k)
        consts = tracked_constants(scalar_backend, run.config_at(k), t)  # the run's schedule, if any
        p_in = [loaded(Tracked(x.x, inflate(x.e + c), x.flags, backend), one, param_load) for x, c in zip(s, comp)]
        g = [loaded(backend.exact(x), one, param_load) for x in grads]
        m_in = [loaded(x, one, state_load) for x in m]
        steps, m, v, vmax = step_elements(backend, consts, conv, hyper, t, p_in, g, m_in, v, vmax, one, state_load,
                                 state_fmt)
        row = []
        for i, r in enumerate(steps):
            e_in, decay_size = s[i].e, 0.0
            if precision.decay_compensated:
                d = -(r.update + r.decay)
            else:  # the decay rounds the stored parameter first (see the module docstring)
                d = -r.update
                decay_size = abs_float(r.decay.x) + r.decay.e
            if decay_size > 0:  # p - 0 is exact: no decay, no rounding
                e_in = inflate(s[i].e + r.decay.e + (ua + up) * (abs_float(s[i].x) + s[i].e + comp[i] + decay_size)
                               * (1 + ua) + eta_a + eta_p)
            flags = d.flags | s[i].flags | r.decay.flags
            reach = comp[i] + abs_float(d.x) + d.e
            e_y = inflate((ua + up) * reach * (1 + ua) + eta_a + eta_p)
            size = abs_float(s[i].x) + decay_size + e_in + comp[i] + reach + e_y
            c_new = inflate((up * size + eta_p) * (1 + 4 * ua) * (1 + 2 * up))
            e_p = inflate(ua * (reach + e_y + 2 * c_new) * (1 + 2 * ua) + up * c_new * (1 + ua) + 2 * eta_a + eta_p)
            e_s = inflate(e_in + d.e + e_y + e_p)
            d = -(r.update + r.decay)  # the exact change of s either way
            if size > param.largest:
                flags |= OVERFLOW
            s[i] = Tracked(s[i].x + d.x, e_s if math.isfinite(e_s) else math.inf, flags, backend)
            comp[i] = c_new
            row.append((BoundedValue(raw_mpf_to_fraction(s[i].x._mpf_), e_s, flags), c_new))
        rows.append(tuple(row))
    return tuple(rows)


@dataclass(frozen=True)
class KahanOutcome:
    """What :func:`judge_kahan_elements` found (the judge turns it into a Judgement)."""

    counts: dict[str, int]
    reasons: dict[str, int]
    worst: float
    first: tuple[int, int, float, Fraction, float, float, float] | None  # step, element, observed, exact, bound, ulps, fraction
    error: str | None = None


def judge_kahan_elements(case: Case, observation: Observation, precision: PrecisionModel, slack: float) -> KahanOutcome:
    """Judge every element-step of a Kahan-summation observation (see the module docstring)."""
    steps, n = case.run.steps, case.run.size
    params = np.asarray(observation.params, dtype=np.float64)
    comp = None if observation.compensation is None else np.asarray(observation.compensation, dtype=np.float64)
    detail = observation.error
    if detail is None and params.shape != (steps, n):
        detail = f"params has shape {params.shape}, expected {(steps, n)}"
    if detail is None and (comp is None or comp.shape != (steps, n)):
        detail = ("no compensation reported: a Kahan-summation implementation must return its compensation "
                  f"after every step (Observation.compensation of shape {(steps, n)})")
    if detail is not None:
        return KahanOutcome({"within": 0, "outside": steps * n, "ill_conditioned": 0}, {}, math.inf, None, detail)
    assert comp is not None
    fmt = precision.param.format
    largest, tiny = float(fmt.largest), vacuity_constants(fmt)
    counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
    reasons: dict[str, int] = {}
    first = None
    worst = 0.0
    before = [_as_float(x) for x in case.run.initial_params]
    for k, row in enumerate(kahan_bounds(case, precision)):
        for i, (bv, c_bound) in enumerate(row):
            previous, before[i] = before[i], _as_float(bv.exact)
            # a bound that overflowed float64 or the format's range (long runs with a large decay factor)
            # proves nothing: set aside (tracked.bound_proves)
            unbounded = not (bound_proves(slack * bv.bound, largest) and bound_proves(slack * (bv.bound + c_bound), largest))
            if bv.flags & (ILL | OVERFLOW | NONFINITE) or unbounded or not isinstance(bv.exact, Fraction):
                counts["ill_conditioned"] += 1
                reason = ("non-finite input" if bv.flags & NONFINITE or not isinstance(bv.exact, Fraction) else
                          "ill-conditioned divisor" if bv.flags & ILL else
                          "possible overflow" if bv.flags & OVERFLOW else BOUND_OVERFLOW)
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
            p_obs, c_obs = float(params[k, i]), float(comp[k, i])
            allowed_high, allowed_low = slack * bv.bound, slack * (bv.bound + c_bound)
            if math.isfinite(p_obs) and math.isfinite(c_obs):
                high = abs(Fraction(p_obs) + Fraction(c_obs) - bv.exact)
                low = abs(Fraction(p_obs) - bv.exact)
                within = high <= Fraction(allowed_high) and low <= Fraction(allowed_low)
                fraction = max(_ratio(high, allowed_high), _ratio(low, allowed_low))
            else:
                high, within, fraction = Fraction(0), False, math.inf
            if within and bound_vacuous(allowed_high, previous, before[i], tiny):  # proves nothing: set aside
                counts["ill_conditioned"] += 1
                reasons[BOUND_VACUOUS] = reasons.get(BOUND_VACUOUS, 0) + 1
                continue
            worst = max(worst, fraction)
            if within:
                counts["within"] += 1
                continue
            counts["outside"] += 1
            if first is None:
                ulps = float(high / fmt.ulp(bv.exact)) if math.isfinite(fraction) else math.inf
                first = (k + 1, i, p_obs + c_obs, bv.exact, allowed_high, ulps, fraction)
    return KahanOutcome(counts, reasons, worst, first)


def _as_float(x: object) -> float:
    """An exact value as float64, NaN when non-finite (never vacuous: tracked.bound_vacuous)."""
    out = float(x) if isinstance(x, (Fraction, int, float)) else math.nan
    return out if math.isfinite(out) else math.nan


def _ratio(diff: Fraction, allowed: float) -> float:
    if allowed > 0:
        return float(diff / Fraction(allowed))
    return 0.0 if diff == 0 else math.inf

