"""The Kahan-summation judge on whole arrays: :mod:`adamw_oracle.verify.kahan`'s bound, element-wise.

:func:`judge_kahan_vectorized` gives the verdicts of :func:`~adamw_oracle.verify.kahan.judge_kahan_elements`
(the mpmath judge of record for ``ParamSummation.KAHAN``) with the reference step run once per step on
:class:`~adamw_oracle.verify.array_backend.ArrayNumber` arrays, as
:func:`~adamw_oracle.verify.vectorized.judge_vectorized` does for the plain models: the same recurrence
for the bound e_s on |(p + c) - s| and C on |c| (see the kahan module's docstring), with every |x|
replaced by its upper bound |hi| + r. The high-precision value s is the reference value of the exact
trajectory (``hi`` + ``lo`` within ``r``), so an element-step is

* within when ``|p + c - s_ref| + r <= slack e_s`` and ``|p - s_ref| + r <= slack (e_s + C)`` (p + c
  summed exactly as a double-double),
* ill-conditioned when a flag is set (sticky per element, as in the array judge) or a bound is not
  finite,
* outside when one distance less r exceeds its bound. An element-step that is neither (the
  reference's own error r reaches the bound: a float64 step that changes nothing has a Kahan bound
  near 2**-100 |p|, below double-double's r) makes the whole case go to the exact judge
  (:func:`~adamw_oracle.verify.judge.judge_compensated`), so the verdicts are the exact judge's.

The fused numba kernels (:mod:`adamw_oracle.verify.fused`) have no compensation; this is the path
``judge_vectorized`` takes for the Kahan models.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.precision import FormatCost, PrecisionModel
from adamw_oracle.reference.adam import adam_element_step
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.sgd import sgd_element_step
from adamw_oracle.verify import double_double as dd
from adamw_oracle.verify.array_backend import DOWN2, UP, UP2, ArrayBackend, ArrayNumber
from adamw_oracle.verify.error_model import loaded
from adamw_oracle.verify.judge import Failure, Judgement, judge_compensated, ulps_between
from adamw_oracle.verify.kahan import judge_kahan_elements
from adamw_oracle.verify.tracked import (
    BOUND_OVERFLOW,
    BOUND_VACUOUS,
    ILL,
    NONFINITE,
    OVERFLOW,
    bound_vacuous,
    vacuity_constants,
)


def judge_kahan_vectorized(case: Case, observation: Observation, precision: PrecisionModel, slack: float,
                           backend: ArrayBackend, consts: list[StepConstants], inputs: tuple[Any, Any, Any, Any],
                           grads: list[Any]) -> Judgement:
    """Judge a Kahan-summation observation on arrays (see the module docstring); the verdict kinds of
    :func:`~adamw_oracle.verify.judge.judge_compensated`.

    ``backend``, ``consts`` (the per-step scalars), ``inputs`` (p, m, v, vmax) and ``grads`` (per step)
    are the array judge's own (:func:`adamw_oracle.verify.vectorized.judge_kahan_arrays` builds them):
    each input has ``number(backend, start, stop)``."""
    steps, n = case.run.steps, case.run.size
    params = np.asarray(observation.params, dtype=np.float64)
    comp_obs = None if observation.compensation is None else np.asarray(observation.compensation, dtype=np.float64)
    if observation.error is not None or params.shape != (steps, n) or comp_obs is None or comp_obs.shape != (steps, n):
        out = judge_kahan_elements(case, observation, precision, slack)  # the reasons, worded once
        return Judgement(False, out.counts, None, out.worst, precision, slack, out.error, out.reasons)
    xp = backend.xp
    arith, param = FormatCost.of(precision.arithmetic), FormatCost.of(precision.param)
    state_fmt = FormatCost.of(precision.state)
    ua, up, eta_a, eta_p = arith.unit_roundoff, param.unit_roundoff, arith.underflow, param.underflow
    run = case.run
    conv, hyper = run.config.conventions, run.config.hyper
    st = run.initial_state
    assert st is not None
    param_load, state_load = precision.rounds_on_load(precision.param), precision.rounds_on_load(precision.state)
    counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
    reasons: dict[str, int] = {}
    first: Failure | None = None
    worst = 0.0
    one = backend.exact(1)
    backend.start(n)
    with np.errstate(all="ignore"):  # flagged elements carry inf/nan bounds by design
        s, m, v, vmax = (x.number(backend, 0, n) for x in inputs)
        comp = xp.zeros(n)
        for k, c in enumerate(consts):
            g = loaded(grads[k].number(backend, 0, n), one, param_load)
            p_in = loaded(ArrayNumber(s.hi, s.lo, s.r, (s.e + comp) * UP, s.flags, s.fmt, backend), one, param_load)
            m_in, v_in, vmax_in = (loaded(x, one, state_load) for x in (m, v, vmax))
            if conv.family is Family.ADAM:
                r = adam_element_step(backend, c, conv, p_in, g, m_in, v_in, vmax_in)
                assert r.v is not None and r.vmax is not None
                v, vmax = backend.store(r.v, state_fmt), backend.store(r.vmax, state_fmt)
            else:
                r = sgd_element_step(backend, c, conv, p_in, g, m_in, first_step=c.t == 1, nesterov=hyper.nesterov,
                                     has_momentum=hyper.momentum != 0)
            m = backend.store(r.m, state_fmt)
            e_in = s.e
            decay_size = xp.zeros(n)
            if precision.decay_compensated:
                d = -(r.update + r.decay)
            else:  # the decay rounds the stored parameter first (kahan.py)
                d = -r.update
                decay_size = backend.upper(r.decay) + r.decay.e
                rounded = (s.e + r.decay.e + (ua + up) * (backend.upper(s) + s.e + comp + decay_size) * (1 + ua)
                           + eta_a + eta_p) * UP
                e_in = xp.where(decay_size > 0, rounded, s.e)
            reach = comp + backend.upper(d) + d.e
            e_y = ((ua + up) * reach * (1 + ua) + eta_a + eta_p) * UP
            size = backend.upper(s) + decay_size + e_in + comp + reach + e_y
            c_new = ((up * size + eta_p) * (1 + 4 * ua) * (1 + 2 * up)) * UP
            e_p = (ua * (reach + e_y + 2 * c_new) * (1 + 2 * ua) + up * c_new * (1 + ua) + 2 * eta_a + eta_p) * UP
            e_s = (e_in + d.e + e_y + e_p) * UP
            before = s.hi
            moved = backend.add(s, -(r.update + r.decay), s.fmt)  # the exact change of s: its reference value
            flags = (backend.element_flags() | d.flags | r.decay.flags
                     | (size > param.largest).astype(xp.uint8) * OVERFLOW)
            s = ArrayNumber(moved.hi, moved.lo, moved.r, e_s, s.flags, s.fmt, backend)
            comp = c_new
            # the verdicts of step k
            p_obs, c_obs = xp.asarray(params[k]), xp.asarray(comp_obs[k])
            allowed_high, allowed_low = slack * e_s, slack * (e_s + c_new)
            # inf, NaN or beyond the format's range: proves nothing (tracked.bound_proves; the mpmath Kahan judge)
            unbounded = ~((allowed_high <= param.largest) & (allowed_low <= param.largest))
            flagged = (flags != 0) | unbounded
            lo = s.lo if s.lo is not None else xp.zeros(n)
            sum_hi, sum_lo = dd.dd_add(p_obs, xp.zeros(n), c_obs, xp.zeros(n))
            high_hi, _ = dd.dd_add(sum_hi, sum_lo, -s.hi, -lo)
            low_hi, _ = dd.dd_add(p_obs, xp.zeros(n), -s.hi, -lo)
            high, low = xp.abs(high_hi), xp.abs(low_hi)
            finite = xp.isfinite(p_obs) & xp.isfinite(c_obs)
            within = ~flagged & finite & (high * UP2 + s.r <= allowed_high) & (low * UP2 + s.r <= allowed_low)
            outside = ~flagged & ~within
            # within a bound wider than the step's own values: set aside (tracked.bound_vacuous)
            vacuous = within & bound_vacuous(allowed_high, before, s.hi, vacuity_constants(param.fmt))
            within = within & ~vacuous
            proven = ~finite | (high * DOWN2 - s.r * UP2 > allowed_high) | (low * DOWN2 - s.r * UP2 > allowed_low)
            if bool(xp.any(outside & ~proven)):
                # the reference value is too coarse to decide (a bound below its own error, e.g. a float64
                # step that changes nothing): the exact judge decides the whole case
                return judge_compensated(case, observation, precision, slack)
            fraction = xp.maximum(_ratio(xp, high, allowed_high), _ratio(xp, low, allowed_low))
            fraction = xp.where(finite, fraction, xp.inf)
            n_within, n_outside = int(xp.count_nonzero(within)), int(xp.count_nonzero(outside))
            counts["within"] += n_within
            counts["outside"] += n_outside
            counts["ill_conditioned"] += n - n_within - n_outside
            if n_within + n_outside:
                worst = max(worst, float(xp.max(xp.where(within | outside, fraction, 0.0))))
            for name, count in _reasons(xp, flags, flagged).items():
                reasons[name] = reasons.get(name, 0) + count
            n_vacuous = int(xp.count_nonzero(vacuous))
            if n_vacuous:
                reasons[BOUND_VACUOUS] = reasons.get(BOUND_VACUOUS, 0) + n_vacuous
            if n_outside and first is None:
                i = int(xp.argmax(outside))
                exact = dd_fraction(float(s.hi[i]), float(lo[i]))
                observed = float(p_obs[i]) + float(c_obs[i])
                ulps = ulps_between(observed, exact, param.fmt) if bool(finite[i]) else float("inf")
                first = Failure(k + 1, i, observed, exact, float(allowed_high[i]), ulps, float(fraction[i]))
    return Judgement(counts["outside"] == 0, counts, first, worst, precision, slack, None, reasons)


def dd_fraction(hi: float, lo: float) -> Any:
    from fractions import Fraction  # the exact value of a double-double, for the failure report

    return Fraction(hi) + Fraction(lo)


def _ratio(xp: Any, diff: Any, allowed: Any) -> Any:
    positive = allowed > 0
    return xp.where(positive, diff / xp.where(positive, allowed, 1.0), xp.where(diff == 0, 0.0, xp.inf))


def _reasons(xp: Any, flags: Any, flagged: Any) -> dict[str, int]:
    """The mpmath Kahan judge's reasons: non-finite input, ill-conditioned divisor, possible overflow, else
    (no flag: the slackened bound itself overflowed) bound overflow."""
    nonfinite = flagged & ((flags & NONFINITE) != 0)
    ill = flagged & ((flags & ILL) != 0) & ~nonfinite
    overflow = flagged & ~nonfinite & ~ill & (flags != 0)
    unbounded = flagged & (flags == 0)
    out = {}
    for name, mask in (("non-finite input", nonfinite), ("ill-conditioned divisor", ill), ("possible overflow", overflow),
                       (BOUND_OVERFLOW, unbounded)):
        count = int(xp.count_nonzero(mask))
        if count:
            out[name] = count
    return out
