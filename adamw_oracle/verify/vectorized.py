"""The judge at tensor scale: the reference step on whole arrays, with rigorous element-wise bounds.

:func:`judge_vectorized` returns the same :class:`~adamw_oracle.verify.judge.Judgement` as
:func:`~adamw_oracle.verify.judge.judge` (within / outside / ill-conditioned counts, first failure with
its ULPs and fraction of the bound, the largest fraction of the bound) for the same case, precision
model and slack. It runs the reference layer's own element steps (``reference.adam.adam_element_step``,
``reference.sgd.sgd_element_step``) once per step on :class:`~adamw_oracle.verify.array_backend.ArrayNumber`
arrays holding every element at once; the per-step scalars come from tracked.py itself
(:func:`~adamw_oracle.verify.error_model.tracked_constants`, mpmath), so they are the same numbers with
the same bounds as in the mpmath judge.

For element i after step k, with reference value y (float64, or double-double for float64 targets),
reference error bound r (|y - x| <= r for the exact value x) and slackened bound A = slack * e:

* ill-conditioned when a flag is set (as in the mpmath judge), or when ``A`` is inf, NaN or above the
  format's largest finite value (reason ``"bound overflow"``, :func:`~adamw_oracle.verify.judge.bound_proves`);
* within when ``|observed - y| + r <= A`` (so |observed - x| <= A is proven);
* outside otherwise. An element whose distance to the exact value cannot be decided at the
  reference's accuracy (``|observed - y|`` within ``r`` of ``A``) is therefore reported outside: the
  judge never passes what it cannot prove. ``r`` is ~2**-50 of |x| (float64 reference) or ~2**-97
  (double-double), against a bound A >= 2**-24 |x| (float32) or 2**-53 |x| (float64), so this needs
  an error equal to the bound to 1 part in 2**26 (or 2**44) and does not happen in practice.

The mpmath path (:func:`~adamw_oracle.verify.judge.judge`) stays the reference of record; the test
``tests/test_vectorized_judge.py`` shows both agree. The array namespace ``xp`` is numpy by default;
pass ``xp=cupy`` to run on a CUDA device.
"""
from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions, Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.precision import FormatCost, ParamRounding, ParamSummation, PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.adam import adam_element_step
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.sgd import sgd_element_step
from adamw_oracle.verify import double_double as dd
from adamw_oracle.verify.array_backend import UP2, ArrayBackend, ArrayNumber
from adamw_oracle.verify.error_model import loaded, tracked_constants
from adamw_oracle.verify.judge import SLACK, Failure, Judgement, ulps_between, unjudgeable
from adamw_oracle.verify.kahan_vectorized import judge_kahan_vectorized
from adamw_oracle.verify.tracked import (
    BOUND_OVERFLOW,
    BOUND_VACUOUS,
    ILL,
    NONFINITE,
    RunningErrorBackend,
    bound_vacuous,
    vacuity_constants,
)

SCALAR_PREC = 200
"""Bits of the mpmath context the per-step scalars are computed in (as in ``bounded_trajectory``)."""


def reference_backend(precision: PrecisionModel, xp: Any = None) -> ArrayBackend:
    """The array backend for ``precision``: double-double when the arithmetic is float64, else float64."""
    arith = FormatCost.of(precision.arithmetic)
    return ArrayBackend(arith, double_double=arith.fmt.precision > 24, xp=xp)


CHUNK = 16384
"""Elements judged together: a chunk's ~30 temporaries (16,384 float64 each) stay in the CPU caches."""


@dataclass(frozen=True)
class _Exact:
    """Exact inputs as host arrays: ``hi`` (+ ``lo``) within ``r`` of the exact values (None: 0)."""

    hi: np.ndarray
    lo: np.ndarray | None = None
    r: np.ndarray | None = None

    def number(self, backend: ArrayBackend, start: int, stop: int) -> ArrayNumber:
        xp = backend.xp

        def part(x: np.ndarray | None) -> Any:
            return None if x is None else xp.asarray(x[start:stop])

        return backend.array(xp.asarray(self.hi[start:stop]), part(self.lo), part(self.r))


def _exact(values: Any, double_double: bool) -> _Exact:
    """Exact inputs (a float64 array, or a sequence of Fractions / non-finite floats) as host arrays."""
    if isinstance(values, np.ndarray):
        return _Exact(values)
    if not values or (values[0] == 0 and values.count(values[0]) == len(values)):
        # all zero (a fresh state: tuple.count compares the one shared Fraction(0) by identity, fast)
        return _Exact(np.zeros(len(values)))
    hi = np.array([float(x) for x in values], dtype=np.float64)
    inexact = [i for i, x in enumerate(values) if isinstance(x, Fraction) and Fraction(float(x)) != x]
    if not inexact:
        return _Exact(hi)
    # a seeded state value that is no float64 value: its rounding error enters the reference error
    lo, r = np.zeros(len(values)), np.zeros(len(values))
    for i in inexact:
        x = values[i]
        head = Fraction(float(x))
        lo[i] = float(x - head) if double_double else 0.0
        r[i] = float(abs(x - head - Fraction(lo[i]))) * UP2
    return _Exact(hi, lo if double_double else None, r)


_SCALAR_FIELDS = tuple(f.name for f in fields(StepConstants) if f.name != "t")


@functools.lru_cache(maxsize=8192)
def _scalars(config: OptimizerConfig, t: int, arithmetic: Dtype, scalars: Dtype,
             double_double: bool) -> tuple[tuple[Any, Any, Any, Any, Any, FormatCost], ...]:
    """The components (hi, lo, r, e, flags, fmt) of step t's scalars, per field of StepConstants.

    Cached: hyperparameters repeat across the cases of a campaign (and every field but bc1, bc2 across
    the steps of a case); the values are tracked.py's, computed once per (config, step, formats)."""
    backend = ArrayBackend(FormatCost.of(arithmetic), double_double=double_double)
    scalar_backend = RunningErrorBackend(backend.fmt, SCALAR_PREC).sibling(FormatCost.of(scalars))
    tracked = tracked_constants(scalar_backend, config, t)
    out = []
    for name in _SCALAR_FIELDS:
        a = backend.from_tracked(getattr(tracked, name))
        out.append((a.hi, a.lo, a.r, a.e, a.flags, a.fmt))
    return tuple(out)


def step_constants(case: Case, precision: PrecisionModel, backend: ArrayBackend) -> list[StepConstants]:
    """The per-step scalars of every step, computed by tracked.py (mpmath) and held as 0-d ArrayNumbers
    of ``backend`` (the components are cached per config, step and formats: :func:`_scalars`)."""
    assert precision.scalars is not None
    run = case.run
    st = run.initial_state
    assert st is not None
    out = []
    xp = backend.xp
    for k in range(run.steps):
        t = run.t_at(k)  # initial step + k + 1 unless the run declares its counter
        parts = _scalars(run.config_at(k), t, precision.arithmetic, precision.scalars,  # the run's schedule, if any
                         backend.double_double)
        if xp is not np:
            parts = tuple((xp.asarray(h), None if lo is None else xp.asarray(lo), xp.asarray(r), xp.asarray(e),
                           xp.asarray(f), fmt) for h, lo, r, e, f, fmt in parts)
        out.append(StepConstants(t=t, **{name: ArrayNumber(h, lo, r, e, f, fmt, backend)
                                         for name, (h, lo, r, e, f, fmt) in zip(_SCALAR_FIELDS, parts)}))
    return out


def bounded_chunks(case: Case, precision: PrecisionModel | None = None, *, xp: Any = None,
                   chunk: int | None = None, fused: bool | None = None) -> Iterator[tuple[int, int, ArrayNumber]]:
    """``(start, k, p)``: the parameters of elements ``start..start+len`` after step k+1 (in the
    parameter format), chunk by chunk, every step of a chunk before the next chunk.

    ``fused`` selects the compiled kernels (:func:`use_fused`; default: on for numpy) or the array path.

    ``chunk`` defaults to :data:`CHUNK` for numpy and to the whole case for other namespaces (a GPU
    wants as many elements per kernel launch as it can get)."""
    setup = _setup(case, precision, xp)
    backend, consts, step = setup.backend, setup.consts, setup.step
    p0, m0, v0, vmax0 = setup.inputs
    grads = setup.grads
    if chunk is None:
        chunk = CHUNK if backend.xp is np else max(case.run.size, 1)
    n = case.run.size
    prep = _fused_preparation(setup, fused)
    if prep is not None:
        from adamw_oracle.verify import fused as fusion  # heavy: numba, loaded on first use

        yield from fusion.fused_chunks(prep, backend, chunk)
        return
    for start in range(0, n, max(chunk, 1)):
        stop = min(start + chunk, n)
        backend.start(stop - start)
        with np.errstate(all="ignore"):  # flagged elements carry inf/nan bounds by design
            p, m, v, vmax = (x.number(backend, start, stop) for x in (p0, m0, v0, vmax0))
        for k, c in enumerate(consts):
            with np.errstate(all="ignore"):
                g = grads[k].number(backend, start, stop)
                p, m, v, vmax = step(backend, c, p, g, m, v, vmax)
                p.flags = p.flags | backend.element_flags()
            yield start, k, p


@dataclass(frozen=True)
class _Setup:
    """What both paths need: the backend, the per-step scalars, the step, the exact inputs."""

    backend: ArrayBackend
    consts: list[StepConstants]
    step: Any
    formats: tuple[FormatCost, FormatCost]
    inputs: tuple[_Exact, _Exact, _Exact, _Exact]
    grads: list[_Exact]
    key: tuple[Any, ...]  # per step (config of the step, precision): what its trace depends on besides t
    plain: bool = True  # no reads rounded to the arithmetic, no stochastic rounding: the fused kernels apply


def _setup(case: Case, precision: PrecisionModel | None, xp: Any) -> _Setup:
    precision = precision or PrecisionModel.conservative(case.dtype)
    backend = reference_backend(precision, xp)
    state_fmt, param_fmt = FormatCost.of(precision.state), precision.param_cost()  # nearest or stochastic
    run = case.run
    conv, hyper = run.config.conventions, run.config.hyper
    st = run.initial_state
    assert st is not None
    consts = step_constants(case, precision, backend)
    dd_mode = backend.double_double
    p0, m0, v0, vmax0 = (_exact(x, dd_mode) for x in (run.initial_params, st.m, st.v, st.vmax))
    if isinstance(run.gradients, np.ndarray):
        grads = [_Exact(row) for row in run.gradients]
    else:
        grads = [_exact(row, dd_mode) for row in run.gradients]
    # values read from a storage format finer than the arithmetic are rounded to it first (error_model.loaded)
    loads = (precision.rounds_on_load(precision.param), precision.rounds_on_load(precision.state))
    step = functools.partial(one_step, conv=conv, hyper=hyper, state_fmt=state_fmt, param_fmt=param_fmt, loads=loads)
    keys = tuple((run.config_at(k), precision) for k in range(run.steps))
    plain = not any(loads) and precision.param_rounding is ParamRounding.NEAREST
    return _Setup(backend, consts, step, (state_fmt, param_fmt), (p0, m0, v0, vmax0), grads, keys, plain)


def _fused_preparation(setup: _Setup, fused: bool | None) -> Any:
    """The fused kernels' preparation of a case (:func:`adamw_oracle.verify.fused.prepare`), or None
    for the array path (not selected, or a step the tracer cannot record)."""
    if not setup.plain or not use_fused(setup.backend, fused):
        return None
    from adamw_oracle.verify import fused as fusion  # heavy: numba, loaded on first use

    try:
        return fusion.prepare(setup.backend, setup.consts, setup.step, setup.formats, setup.inputs, setup.grads,
                              setup.key)
    except (fusion.Unfusable, AttributeError):
        return None


def one_step(backend: Any, c: StepConstants, p: Any, g: Any, m: Any, v: Any, vmax: Any, *, conv: Conventions,
             hyper: Hyperparameters, state_fmt: FormatCost, param_fmt: FormatCost,
             loads: tuple[bool, bool] = (False, False)) -> tuple[Any, Any, Any, Any]:
    """One step of every element on ``backend``: the reference element step, then the stores of the new
    state (state format) and parameter (parameter format). Returns the new ``(p, m, v, vmax)``.
    ``loads``: whether parameter/gradient and state are rounded to the arithmetic when read."""
    if any(loads):
        one = backend.exact(1)
        p, g = loaded(p, one, loads[0]), loaded(g, one, loads[0])
        m, v, vmax = (loaded(x, one, loads[1]) for x in (m, v, vmax))
    if conv.family is Family.ADAM:
        step = adam_element_step(backend, c, conv, p, g, m, v, vmax)
        assert step.v is not None and step.vmax is not None
        v, vmax = backend.store(step.v, state_fmt), backend.store(step.vmax, state_fmt)
    else:
        step = sgd_element_step(backend, c, conv, p, g, m, first_step=c.t == 1, nesterov=hyper.nesterov,
                                has_momentum=hyper.momentum != 0)
    return backend.store(step.p_new, param_fmt), backend.store(step.m, state_fmt), v, vmax


def use_fused(backend: ArrayBackend, fused: bool | None) -> bool:
    """Whether the fused numba kernels run (:mod:`adamw_oracle.verify.fused`): ``fused`` when given,
    else for numpy arrays unless ``ADAMW_ORACLE_FUSED=0``. CuPy arrays always take the array path."""
    if backend.xp is not np:
        if fused:
            raise InvalidArgumentError("fused", fused, "False (or None) for a non-numpy array namespace")
        return False
    if fused is None:
        return os.environ.get("ADAMW_ORACLE_FUSED", "1") != "0"
    return bool(fused)


def bounded_steps(case: Case, precision: PrecisionModel | None = None, *, xp: Any = None,
                  fused: bool | None = None) -> Iterator[ArrayNumber]:
    """The parameters of all elements after each step of ``case`` (one chunk)."""
    for _start, _k, p in bounded_chunks(case, precision, xp=xp, chunk=max(case.run.size, 1), fused=fused):
        yield p


def _reasons(xp: Any, flags: Any) -> dict[str, int]:
    nonfinite = (flags & NONFINITE) != 0
    ill = ((flags & ILL) != 0) & ~nonfinite
    overflow = (flags != 0) & ~nonfinite & ~ill
    out = {}
    for name, mask in (("non-finite input", nonfinite), ("ill-conditioned divisor", ill), ("possible overflow", overflow)):
        count = int(xp.count_nonzero(mask))
        if count:
            out[name] = count
    return out


def judge_vectorized(case: Case, observation: Observation, precision: PrecisionModel | None = None, *,
                     slack: float = SLACK, xp: Any = None, fused: bool | None = None) -> Judgement:
    """Judge ``observation`` for ``case`` on arrays; the verdicts of :func:`~adamw_oracle.verify.judge.judge`.

    Args:
        precision: formats a correct implementation may use (default: the conservative model).
        slack: factor applied to the running bound (default :data:`~adamw_oracle.verify.judge.SLACK`).
        xp: the array namespace (default numpy; ``cupy`` on a CUDA device).
        fused: the compiled kernels (True), the array path (False) or the default (None: fused for
            numpy, see :func:`use_fused`). Both give the same judgement.
    """
    if not isinstance(slack, (int, float)) or isinstance(slack, bool) or not slack >= 1:
        raise InvalidArgumentError("slack", slack, "a number >= 1 (1: the running bound itself)")
    if xp is None:
        xp = np
    precision = precision or PrecisionModel.conservative(case.dtype)
    if precision.param_summation is ParamSummation.KAHAN:  # params + compensation, on arrays
        return judge_kahan_arrays(case, observation, precision, slack, xp)
    counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
    broken = unjudgeable(case, observation, precision, slack)
    if broken is not None:
        return broken
    if use_fused(reference_backend(precision, xp), fused):
        prep = _fused_preparation(_setup(case, precision, xp), True)
        if prep is not None:
            from adamw_oracle.verify import fused as fusion  # heavy: numba, loaded on first use

            return fusion.fused_judge(prep, case, observation, precision, slack)
    observed_all = np.asarray(observation.params, dtype=np.float64)
    fmt = precision.param.format
    largest = float(fmt.largest)
    tiny = vacuity_constants(fmt)
    initial = _exact(case.run.initial_params, False).hi
    before: Any = None
    first: Failure | None = None
    worst = 0.0
    reasons: dict[str, int] = {}
    with np.errstate(all="ignore"):  # flagged elements carry inf/nan bounds by design
        for start, k, p in bounded_chunks(case, precision, xp=xp, fused=False):
            stop = start + int(p.hi.shape[0])
            if k == 0:  # the chunks of one element range come step by step
                before = xp.asarray(initial[start:stop])
            observed = xp.asarray(observed_all[k, start:stop])
            flagged = p.flags != 0
            allowed = slack * p.e
            # an unflagged bound that is inf, NaN or beyond the format's range proves nothing (judge.bound_proves)
            unbounded = ~flagged & ~(allowed <= largest)
            judged = ~flagged & ~unbounded
            finite = xp.isfinite(observed)
            if p.lo is None:
                distance = xp.abs(observed - p.hi)
            else:
                dh, _dl = dd.dd_add(observed, xp.zeros_like(observed), -p.hi, -p.lo)
                distance = xp.abs(dh)
            upper = distance * UP2 + p.r
            within = judged & finite & (upper <= allowed)
            outside = judged & ~within
            # within a bound wider than the step's own values: set aside (tracked.bound_vacuous)
            vacuous = within & bound_vacuous(allowed, before, p.hi, tiny)
            before = p.hi
            within = within & ~vacuous
            positive = allowed > 0
            fraction = xp.where(positive, distance / xp.where(positive, allowed, 1.0),
                                xp.where(distance == 0, 0.0, xp.inf))
            fraction = xp.where(finite, fraction, xp.inf)
            n_within, n_outside = int(xp.count_nonzero(within)), int(xp.count_nonzero(outside))
            n_flagged = stop - start - n_within - n_outside
            if n_within + n_outside:
                worst = max(worst, float(xp.max(xp.where(within | outside, fraction, 0.0))))
            counts["within"] += n_within
            counts["outside"] += n_outside
            if n_flagged:
                counts["ill_conditioned"] += n_flagged
                for name, count in _reasons(xp, p.flags).items():
                    reasons[name] = reasons.get(name, 0) + count
                for name, mask in ((BOUND_OVERFLOW, unbounded), (BOUND_VACUOUS, vacuous)):
                    count = int(xp.count_nonzero(mask))
                    if count:
                        reasons[name] = reasons.get(name, 0) + count
            if n_outside and (first is None or (k + 1, start) < (first.step, first.element)):
                i = int(xp.argmax(outside))
                first = _failure(k, start + i, i, p, observed_all[k, start + i], float(allowed[i]),
                                 float(fraction[i]), fmt)
    return Judgement(counts["outside"] == 0, counts, first, worst, precision, slack, None, reasons)


def judge_kahan_arrays(case: Case, observation: Observation, precision: PrecisionModel, slack: float = SLACK,
                       xp: Any = None) -> Judgement:
    """The Kahan-summation verdict on arrays (:mod:`adamw_oracle.verify.kahan_vectorized`), from this
    judge's backend, per-step scalars and exact inputs."""
    setup = _setup(case, precision, xp)
    return judge_kahan_vectorized(case, observation, precision, slack, setup.backend, setup.consts, setup.inputs,
                                  setup.grads)


def _failure(k: int, element: int, i: int, p: ArrayNumber, obs: float, allowed: float, fraction: float,
             fmt: Any) -> Failure:
    exact = Fraction(float(p.hi[i])) + (Fraction(float(p.lo[i])) if p.lo is not None else 0)
    if math.isfinite(obs):
        ulps = ulps_between(obs, exact, fmt)
    else:
        ulps = math.inf
    return Failure(k + 1, element, float(obs), exact, allowed, ulps, fraction)
