"""Batched certified evaluation of a whole run with python-flint ``arb`` balls (the fast path).

Same equations as :mod:`adamw_oracle.reference.adam` (see :mod:`adamw_oracle.contract.conventions`),
evaluated for every element of a step in one tight loop, with the per-step scalars folded once::

    bc1 = 1 - b1^t, bc2 = 1 - b2^t  (b^t updated by one product per step, 1 with bias correction off)
    g'  = (-g if maximize else g) + [wd*p if COUPLED_L2]
    m   = b1*m + (1-b1)*g'            v = b2*v + (1-b2)*g'^2
    AFTER_ROOT / INSIDE_ROOT:  update = (lr_t/bc1) * m / (sqrt(v~ [+ eps_root]) + eps),  v~ = v*(1/bc2)
                               (or vmax*(1/bc2) for MAX_RAW_V, vmax = max(vmax, v*(1/bc2)) for MAX_V_HAT)
    FLOOR:                     update = (lr_t/bc1) * m / max(sqrt(v~), eps)
    EPSILON_HAT:               update = (lr_t*sqrt(bc2)/bc1) * m / (sqrt(r) + eps),
                               r = v, vmax (MAX_RAW_V) or vmax*bc2 (MAX_V_HAT)
    PREVIOUS_PARAM:            p_new = p*(1-c) - update
    UPDATED_PARAM:             p_new = (p - update)*(1-c)

c, bias-correction selection and the L2 gradient term come from :mod:`adamw_oracle.contract.scalars`.

The loop keeps the moments scaled, ms = m/(1-b1) and vs = v/(1-b2), so that ms = b1*ms + g' and
vs = b2*vs + g'^2, and folds (1-b1), (1-b2) and 1/bc2 into per-step scalars; it also writes
``p*(1-c)`` for ``p - c*p``. Folding changes the rounding, not the exact value, so every ball still
encloses the exact result of the contract's equations. A step's p_new is
certified when its ball's relative accuracy reaches ``digits`` decimal digits; otherwise the whole run
is repeated at twice the precision (the retry loop of :func:`~adamw_oracle.reference.certify_run`).
The SGD family goes through the generic reference step with :class:`ArbBackend`.

mpmath's :func:`~adamw_oracle.reference.certify_run` remains the reference of record; the tests check
that this path's balls agree with it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.conventions import AmsGrad, DecayTarget, EpsPlacement, Family
from adamw_oracle.contract.exact import finite_exact
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.scalars import bias_corrected, decay_coefficient, decay_rule
from adamw_oracle.errors import CertificationError, InvalidArgumentError
from adamw_oracle.reference.arb_backend import ArbBackend, ball_ends
from adamw_oracle.reference.backends import MAX_PREC
from adamw_oracle.reference.digits import significant
from adamw_oracle.reference.trajectory import run_trajectory

GUARD_BITS = 32


@dataclass(frozen=True)
class ArbCertifiedRun:
    """``params[k][i]``: the arb ball of element i's parameter after step index k, certified to
    ``digits`` significant decimal digits of relative accuracy (computed at ``prec`` bits)."""

    run: Run
    digits: int
    prec: int
    params: tuple[tuple[Any, ...], ...]

    def ends(self, k: int, i: int) -> tuple[Fraction, Fraction]:
        """Exact rational ends of the enclosure of p after step index k, element i."""
        return ball_ends(self.params[k][i])

    def decimal(self, k: int, i: int) -> str | None:
        """``digits`` significant digits of p (step index k, element i) when both ends of the ball
        round to the same string (None when the ball straddles a rounding boundary)."""
        low, high = self.ends(k, i)
        text = significant(low, self.digits)
        return text if significant(high, self.digits) == text else None


def certify_run_arb(run: Run, digits: int = 50, *, max_prec: int = 1 << 14) -> ArbCertifiedRun:
    """Every step's parameters of ``run`` as arb balls with ``digits`` digits of relative accuracy.

    Raises:
        InvalidArgumentError: bad ``digits``/``max_prec``, a non-finite gradient, or a run with a per-step
            schedule (this formulation folds fixed hyperparameters into its loop; use ``certify_run``).
        CertificationError: some p could not be certified at ``max_prec`` bits (e.g. an exact zero
            computed inexactly), naming the step index and element.
        MissingExtraError: python-flint is not installed.
    """
    if run.schedule is not None:
        raise InvalidArgumentError("run.schedule", "a per-step schedule", "None for certify_run_arb (certify_run takes schedules)")
    if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 10000:
        raise InvalidArgumentError("digits", digits, "an int in [1, 10000]")
    if not isinstance(max_prec, int) or isinstance(max_prec, bool) or not 64 <= max_prec <= MAX_PREC:
        raise InvalidArgumentError("max_prec", max_prec, f"an int in [64, {MAX_PREC}]")
    for row in run.gradients:
        for g in row:
            if not isinstance(g, Fraction):
                raise InvalidArgumentError("run.gradients", g, "finite values (non-finite runs cannot be certified)")
    needed_bits = math.ceil(digits * math.log2(10)) + 1
    prec = min(needed_bits + GUARD_BITS, max_prec)
    while True:
        backend = ArbBackend(prec)
        with backend.scope():
            if run.config.conventions.family is Family.ADAM:
                params = _adam_params(backend, run)
            else:
                params = tuple(tuple(e.p_new for e in row) for row in run_trajectory(run, backend).steps)
            failure = _first_uncertified(params, needed_bits)
        if failure is None:
            return ArbCertifiedRun(run, digits, prec, params)
        if prec >= max_prec:
            k, i = failure
            raise CertificationError(
                f"could not certify {digits} digits of p_new at step index {k}, element {i} with {max_prec} bits"
            )
        prec = min(2 * prec, max_prec)


def _first_uncertified(params: tuple[tuple[Any, ...], ...], needed_bits: int) -> tuple[int, int] | None:
    for k, row in enumerate(params):
        for i, p in enumerate(row):
            if p.rel_accuracy_bits() < needed_bits:
                return k, i
    return None


def _adam_params(backend: ArbBackend, run: Run) -> tuple[tuple[Any, ...], ...]:
    """The Adam-family loop (see the module docstring); must run inside ``backend.scope()``."""
    conv, h = run.config.conventions, run.config.hyper
    c = backend.const
    state = run.initial_state
    assert state is not None
    one = c(Fraction(1))
    b1, b2 = c(h.beta1), c(h.beta2)
    omb1, omb2 = c(1 - h.beta1), c(1 - h.beta2)
    eps, eps_root, wd = c(h.eps), c(h.eps_root), c(h.weight_decay)
    lr_t = c(h.lr_t)
    rule = decay_rule(conv.weight_decay)
    # keep = 1 - c multiplies the parameter (folded form of p - c*p); None: no decoupled decay
    keep = None
    if rule.decoupled:
        keep = one - decay_coefficient(conv.weight_decay, lr_t=lr_t, schedule=c(h.schedule_multiplier),
                                       weight_decay=wd, zero=c(0))
    keep_updated = keep if conv.decay_target is DecayTarget.UPDATED_PARAM else None
    keep_previous = keep if keep_updated is None else None
    coupled = wd if rule.gradient_term else None
    maximize = conv.maximize
    bias = bias_corrected(conv)
    placement, ams = conv.eps_placement, conv.amsgrad
    inside = placement is EpsPlacement.INSIDE_ROOT
    eps_hat = placement is EpsPlacement.EPSILON_HAT
    floor = placement is EpsPlacement.FLOOR
    b1_t = b1 ** state.step if bias else one
    b2_t = b2 ** state.step if bias else one

    arb, fmpq = backend.flint.arb, backend.flint.fmpq
    ams_raw, ams_hat = ams is AmsGrad.MAX_RAW_V, ams is AmsGrad.MAX_V_HAT
    sign = -1 if maximize else 1
    p = [c(x) for x in run.initial_params]
    # scaled moments: ms = m/(1-b1), vs = v/(1-b2) (and vmax likewise for MAX_RAW_V) save two ball
    # operations per element; the factors (1-b1), (1-b2) are folded into the per-step scalars.
    ms = [c(x) / omb1 for x in state.m]
    vs = [c(x) / omb2 for x in state.v]
    vmax = [c(x) / omb2 if ams_raw else c(x) for x in state.vmax]
    size = len(p)
    lr_omb1 = lr_t * omb1
    rows = []
    for grads in run.gradients:
        if bias:
            b1_t, b2_t = b1_t * b1, b2_t * b2
            bc1, bc2 = one - b1_t, one - b2_t
        else:
            bc1 = bc2 = one
        to_v_hat = omb2 / bc2  # vs * to_v_hat = v/bc2
        step_m = lr_omb1 * bc2.sqrt() / bc1 if eps_hat else lr_omb1 / bc1  # times ms = m/(1-b1)
        row = [arb(fmpq(sign * q.numerator, q.denominator)) for q in (finite_exact(g, "gradients") for g in grads)]
        for i in range(size):
            g = row[i]
            pi = p[i]
            if coupled is not None:
                g = g + coupled * pi
            mi = b1 * ms[i] + g
            vi = b2 * vs[i] + g * g
            ms[i] = mi
            vs[i] = vi
            # v >= 0 is built from exact squares and products of non-negative balls, so its ball never
            # straddles 0 unless it is an exact 0; a NaN from sqrt would fail certification, not pass.
            if ams_hat:
                vmax[i] = vmax[i].max(vi * to_v_hat)
                if eps_hat:
                    root = (vmax[i] * bc2).sqrt()
                else:
                    root = (vmax[i] + eps_root).sqrt() if inside else vmax[i].sqrt()
            else:
                if ams_raw:
                    vi = vmax[i] = vmax[i].max(vi)
                if eps_hat:
                    root = (vi * omb2).sqrt()
                else:
                    root = (vi * to_v_hat + eps_root).sqrt() if inside else (vi * to_v_hat).sqrt()
            update = step_m * mi / (root.max(eps) if floor else root + eps)
            if keep_previous is not None:
                p[i] = pi * keep_previous - update
            elif keep_updated is not None:
                p[i] = (pi - update) * keep_updated
            else:
                p[i] = pi - update
        rows.append(tuple(p))
    return tuple(rows)
