"""The per-step judge: every step re-synced from the implementation's own state before it.

The trajectory judge (:func:`~adamw_oracle.verify.vectorized.judge_vectorized`) runs the exact
reference from the case's initial state and bounds the distance a correct implementation may drift
from it over the whole run; in float16/bfloat16 that bound grows with the run (an error in v decays
only by beta2 per step), until most elements of a long run are set aside as ill-conditioned. When the
implementation exposes its state after every step (:attr:`~adamw_oracle.contract.case.Observation.step_states`:
torch ``optimizer.state``, optax's ``ScaleByAdamState``, Keras's optimizer variables, a callable or a
program that returns it), :func:`judge_resynced` instead judges step k from the implementation's own
parameters and state before it:

* The observed values before step k (its parameters after step k-1, its m, v, vmax after step k-1; the
  case's initial values before step 1) are exact binary numbers; the reference takes them as given,
  whatever format the implementation stored them in (float32 state for bfloat16 parameters is simply a
  set of exact numbers). Their bound is 0, so the bound after step k is a *one-step* bound: rounding
  does not accumulate and the first divergent step is the one named (PyTorch's own optimizer tests
  re-sync state each step for the same reason).
* The step counter is never taken from the implementation: step k is step ``initial.step + k`` of the
  contract (``Run.t_at``: the run's declared ``counter``, when it has one), and an exposed counter (``step_states["step"]``) is judged exactly against it (a counter
  must hold the count exactly; one held in bfloat16 stalls at 256, and that is the bug named).
* The stored state is judged too: the observed m, v, vmax after step k against the one-step reference
  of m, v, vmax stored in the precision model's state format, with their own bounds. An implementation
  whose parameters are right but whose stored state is wrong (a corrupted or mis-scaled moment, a
  maximum not stored) is caught at the step it stores the wrong value, not only later through the
  parameters. Verdicts on the state are counted in ``Judgement.state_counts``; ``counts`` stays the
  parameters' element-steps, so both judges' counts mean the same thing.
* A target whose update reads its stored moments back (``PrecisionModel.reads_back_state``: torch's
  for-loop and foreach Adam/AdamW) has each step judged as two one-step computations: the stored m_k,
  v_k, vmax_k from the stored state before the step (as above, with the flags of that computation
  alone), and the parameter by the contract's update (:func:`~adamw_oracle.reference.adam.adam_update`)
  from p_(k-1) and the *observed* stored m_k, v_k, vmax_k, exact numbers with bound 0, so the divisor's
  conditioning is the stored v's, not the exact v's (in float16 the exact v of a small gradient lies
  below the subnormals and is known only to half the smallest subnormal; the stored one exactly).
  Every implementation matching the declaration computes its parameter from exactly these values; one
  that divides by its unrounded working v (torch's fused kernel) does not, and fails when so declared.
* The verdict kinds are the trajectory judge's: within / outside / ill-conditioned (with reasons), the
  largest fraction of the bound, and the first failure (earliest step; within a step a wrong counter
  first, since it is the cause of the rest, then the parameter, m, v, vmax) with its ULPs in the
  format of the quantity.

* Two kinds of element-step are *degenerate*: their outcome is exactly determined, so the judge checks
  them exactly instead of setting them aside (:data:`DEGENERATE_ZERO`, :data:`DEGENERATE_NAN`; counted
  within bound and, apart, in ``Judgement.degenerate``; argument in docs/error-model.md):
  a zero step whose stored m, v (and vmax) are exactly 0 and whose gradient is exactly 0, under a
  precision model whose arithmetic rounds eps to 0 (eps = 1e-8 in float16): the update is 0/0, so NaN
  is a correct parameter (any other non-finite value is not; a finite one is set aside as before); and
  a step from a NaN parameter, whose new parameter is NaN in any implementation of the contract's
  arithmetic (p enters p_new by +, - and *): NaN is checked exactly, a finite value stays set aside.

Every step is independent, so all ``steps * n`` element-steps are judged together, in chunks, as one
one-step batch: the per-step scalars (bias corrections, a schedule's lr) are gathered per element from
:func:`~adamw_oracle.verify.vectorized.step_constants`; SGD's first step (which initialises the
momentum buffer) is a batch of its own.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import AmsGrad, EpsPlacement, Family
from adamw_oracle.contract.precision import FormatCost, ParamSummation, PrecisionModel
from adamw_oracle.contract.scalars import decay_rule
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.adam import adam_element_step, adam_moments, adam_update
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.sgd import sgd_element_step
from adamw_oracle.verify import double_double as dd
from adamw_oracle.verify.array_backend import UP2, ArrayBackend, ArrayNumber
from adamw_oracle.verify.error_model import loaded
from adamw_oracle.verify.judge import SLACK, Failure, Judgement, unjudgeable
from adamw_oracle.verify.tracked import BOUND_OVERFLOW, BOUND_VACUOUS, ILL, NONFINITE, bound_vacuous, vacuity_constants
from adamw_oracle.verify.vectorized import CHUNK, judge_kahan_arrays, reference_backend, step_constants

STATE_ORDER = ("m", "v", "vmax")
"""The per-element state judged after each step, in the order failures within one step are reported."""


def required_state(case: Case) -> tuple[str, ...]:
    """The per-step state the one-step reference of ``case`` starts from: Adam's ``m``, ``v`` (and
    ``vmax`` under AMSGrad), SGD's momentum buffer ``m`` (none without momentum)."""
    conv, hyper = case.run.config.conventions, case.run.config.hyper
    if conv.family is Family.ADAM:
        return ("m", "v", "vmax") if conv.amsgrad is not AmsGrad.OFF else ("m", "v")
    return ("m",) if hyper.momentum != 0 else ()


def can_resync(case: Case, observation: Observation) -> bool:
    """Whether ``observation`` carries the per-step state :func:`judge_resynced` needs for ``case``
    (every name of :func:`required_state` with shape ``(steps, n)``, and at least one name)."""
    states = observation.step_states
    if not states:
        return False
    shape = (case.run.steps, case.run.size)
    return all(key in states and np.shape(states[key]) == shape for key in required_state(case))


@dataclass
class _Tally:
    """Verdict counts and the first failure of one quantity."""

    within: int = 0
    outside: int = 0
    ill: int = 0
    worst: float = 0.0
    first: Failure | None = None
    degenerate: dict[str, int] = dataclasses.field(default_factory=dict)


def judge_resynced(case: Case, observation: Observation, precision: PrecisionModel | None = None, *,
                   slack: float = SLACK, xp: Any = None, judge_state: bool = True,
                   chunk: int | None = None, fused: bool | None = None) -> Judgement:
    """Judge every step of ``observation`` from the implementation's own state before it (see the
    module docstring); the verdicts of :func:`~adamw_oracle.verify.vectorized.judge_vectorized`,
    ``mode="per-step"``.

    Args:
        precision: formats a correct implementation may use (default: the conservative model).
        slack: factor applied to the one-step bound (default :data:`~adamw_oracle.verify.judge.SLACK`).
        xp: the array namespace (default numpy; ``cupy`` on a CUDA device).
        judge_state: also judge the stored state after each step (default True).
        chunk: element-steps judged together on the array path (default
            :data:`~adamw_oracle.verify.vectorized.CHUNK`; the fused path runs one step of this many elements at a time).
        fused: run each step on the fused kernel (:mod:`adamw_oracle.verify.fused`, the same numbers bit for
            bit); default: as :func:`~adamw_oracle.verify.vectorized.use_fused` (numpy, unless
            ``ADAMW_ORACLE_FUSED=0``). Reads rounded on load and stochastic rounding take the array path.

    Raises:
        InvalidArgumentError: ``slack`` below 1, or the observation lacks the per-step state the case
            needs (:func:`required_state`; a black box is judged by the trajectory judge).
    """
    if not isinstance(slack, (int, float)) or isinstance(slack, bool) or not slack >= 1:
        raise InvalidArgumentError("slack", slack, "a number >= 1 (1: the running bound itself)")
    precision = precision or PrecisionModel.conservative(case.dtype)
    if precision.param_summation is ParamSummation.KAHAN:  # params + compensation, judged on the trajectory
        return judge_kahan_arrays(case, observation, precision, slack, xp)
    broken = unjudgeable(case, observation, precision, slack)
    if broken is not None:
        return dataclasses.replace(broken, mode="per-step")
    run = case.run
    steps, n = run.steps, run.size
    needed = required_state(case)
    states = observation.step_states
    missing = [k for k in needed if k not in states or np.shape(states[k]) != (steps, n)]
    if missing:
        have = ", ".join(f"{k} {np.shape(v)}" for k, v in states.items()) or "none"
        raise InvalidArgumentError("observation", f"per-step state: {have}",
                                   f"step_states {', '.join(needed)} of shape {(steps, n)} for the per-step judge",
                                   hint="judge it by its trajectory (judge_mode='trajectory')")
    backend = reference_backend(precision, xp)
    xp = backend.xp
    state_fmt, param_fmt = FormatCost.of(precision.state), precision.param_cost()  # nearest or stochastic
    # values read from a storage format finer than the arithmetic are rounded to it first (error_model.loaded)
    param_load, state_load = precision.rounds_on_load(precision.param), precision.rounds_on_load(precision.state)
    consts = step_constants(case, precision, backend)
    st = run.initial_state
    assert st is not None
    observed_p = np.asarray(observation.params, dtype=np.float64)
    starts = _starts(case, observed_p, states, backend.double_double)
    grads = _exact_rows(run.gradients, steps, n, backend.double_double)
    conv, hyper = run.config.conventions, run.config.hyper
    # an exposed state is judged when the family has it; one the convention leaves unused (vmax without
    # AMSGrad) is carried unchanged by the reference, so it is judged as stored
    family_state = STATE_ORDER if conv.family is Family.ADAM else ("m",)
    judged_keys = [k for k in family_state if judge_state and k in states and np.shape(states[k]) == (steps, n)]
    tallies = {"param": _Tally(), **{k: _Tally() for k in judged_keys}}
    reasons: dict[str, int] = {}
    groups = [(0, steps)]  # ranges of steps judged together
    if conv.family is Family.SGD and st.step == 0:  # the first step initialises the momentum buffer
        groups = [(0, 1), (1, steps)]
    chunk = chunk or (CHUNK if xp is np else max(steps * n, 1))
    zero_step_nan = conv.family is Family.ADAM and eps_rounds_to_zero(case, precision)
    read_back = reads_back(case, precision, states)
    fused_ran = _judge_fused(case, precision, backend, fused, starts, grads, observed_p, states, tallies, reasons,
                             slack, state_fmt, param_fmt, zero_step_nan, read_back, chunk)
    per_step = {} if fused_ran else _stacked_constants(consts, xp)
    for first_step, stop_step in ([] if fused_ran else groups):
        if first_step >= stop_step or n == 0:
            continue
        for a in range(first_step * n, stop_step * n, max(chunk, 1)):
            b = min(a + chunk, stop_step * n)
            flat = np.arange(a, b)
            with np.errstate(all="ignore"):  # flagged elements carry inf/nan bounds by design
                backend.start(b - a)
                c = _gathered(per_step, consts[first_step], a, b, n, backend)
                p, m, v, vmax = (starts[key].number(backend, a, b) for key in ("p", "m", "v", "vmax"))
                g = grads.number(backend, a, b)
                if param_load or state_load:
                    one = backend.exact(1)
                    p, g = loaded(p, one, param_load), loaded(g, one, param_load)
                    m, v, vmax = (loaded(x, one, state_load) for x in (m, v, vmax))
                if read_back:  # the moments alone: their flags are not the parameter's divisor's
                    _, m_t, v_t, vmax_t = adam_moments(backend, c, conv, p, g, m, v, vmax)
                    out = {"m": backend.store(m_t, state_fmt), "v": backend.store(v_t, state_fmt),
                           "vmax": backend.store(vmax_t, state_fmt)}
                elif conv.family is Family.ADAM:
                    step = adam_element_step(backend, c, conv, p, g, m, v, vmax)
                    assert step.v is not None and step.vmax is not None
                    out = {"v": backend.store(step.v, state_fmt), "vmax": backend.store(step.vmax, state_fmt)}
                else:
                    step = sgd_element_step(backend, c, conv, p, g, m, first_step=c.t == 1, nesterov=hyper.nesterov,
                                            has_momentum=hyper.momentum != 0)
                    out = {}
                if not read_back:
                    out["m"] = backend.store(step.m, state_fmt)
                    out["param"] = backend.store(step.p_new, param_fmt)
                sticky = backend.element_flags()
                param_sticky = sticky
                if read_back:  # the parameter from the moments the implementation stored at this step
                    out["param"], param_sticky = _read_back_param(backend, c, conv, starts, grads, states, a, b, n,
                                                                  param_fmt, param_load, state_load)
                inherited = xp.asarray(~np.all([np.isfinite(starts[key].hi(a, b)) for key in starts], axis=0))
                degenerate = _degenerate(case, starts, grads, a, b, zero_step_nan)
                for key, tally in tallies.items():
                    bounded = out[key]
                    observed = observed_p if key == "param" else np.asarray(states[key], dtype=np.float64)
                    fmt = param_fmt if key == "param" else state_fmt
                    flags = bounded.flags | (param_sticky if key == "param" else sticky)
                    _compare(xp, tally, key, bounded, flags, observed.reshape(-1)[a:b], flat, n,
                             slack, fmt, reasons if key == "param" else None, inherited,
                             {name: xp.asarray(mask) for name, mask in degenerate.items()} if key == "param" else None,
                             starts["p"].hi(a, b) if key == "param" else None)
    counter = _judge_counter(tallies, states, [case.run.t_at(k) for k in range(steps)], steps) if judge_state else None
    state_tallies = [t for k, t in tallies.items() if k != "param"] + ([counter] if counter else [])
    param = tallies["param"]
    counts = {"within": param.within, "outside": param.outside, "ill_conditioned": param.ill}
    state_counts = {"within": sum(t.within for t in state_tallies), "outside": sum(t.outside for t in state_tallies),
                    "ill_conditioned": sum(t.ill for t in state_tallies)}
    order = ["step", "param", *STATE_ORDER]  # a wrong counter first: it is the cause of the rest of its step
    failures = [t.first for t in [param, *state_tallies] if t.first is not None]
    first = min(failures, key=lambda f: (f.step, order.index(f.quantity), f.element), default=None)
    worst = max([t.worst for t in [param, *state_tallies]], default=0.0)
    passed = counts["outside"] == 0 and state_counts["outside"] == 0
    return Judgement(passed, counts, first, worst, precision, slack, None, reasons, "per-step", state_counts,
                     dict(param.degenerate))


_STATE_VAR = {"m": 1, "v": 2, "vmax": 3}


def reads_back(case: Case, precision: PrecisionModel, states: Mapping[str, np.ndarray]) -> bool:
    """Whether the parameter of an Adam-family ``case`` is judged from the moments the implementation stored
    at the same step (``precision.reads_back_state``, and it exposes every moment its update reads:
    m, v, and vmax under AMSGrad)."""
    if not precision.reads_back_state or case.run.config.conventions.family is not Family.ADAM:
        return False
    shape = (case.run.steps, case.run.size)
    return all(key in states and np.shape(states[key]) == shape for key in required_state(case))


def _read_back_param(backend: ArrayBackend, c: StepConstants, conv: Any, starts: Mapping[str, _Start], grads: _Flat,
                     states: Mapping[str, np.ndarray], a: int, b: int, n: int, param_fmt: FormatCost,
                     param_load: bool, state_load: bool) -> tuple[ArrayNumber, Any]:
    """The bounded parameter of element-steps ``a..b`` under ``reads_back_state``: the contract's update
    (:func:`~adamw_oracle.reference.adam.adam_update`) from the parameter before the step and the stored
    m_t, v_t, vmax_t the implementation exposes after it (exact inputs), with the element flags of that
    computation alone (the divisor's conditioning is the stored v's). The gradient is read too, as the
    fused kernel reads it, so a non-finite gradient sets the parameter aside on both paths."""
    backend.start(b - a)
    p = starts["p"].number(backend, a, b)
    g = grads.number(backend, a, b)
    m_t, v_t, vmax_t = (_stored(states, key, a, b, n, backend) for key in ("m", "v", "vmax"))
    if param_load or state_load:
        one = backend.exact(1)
        p, g = loaded(p, one, param_load), loaded(g, one, param_load)
        m_t, v_t, vmax_t = (loaded(x, one, state_load) for x in (m_t, v_t, vmax_t))
    new_p = backend.store(adam_update(backend, c, conv, p, m_t, v_t, vmax_t).p_new, param_fmt)
    return new_p, backend.element_flags()


def _stored(states: Mapping[str, np.ndarray], key: str, a: int, b: int, n: int, backend: ArrayBackend) -> ArrayNumber:
    """The stored ``key`` after element-steps ``a..b`` (row k after step k+1) as exact inputs (zeros for a
    state the convention leaves unused and the implementation does not expose)."""
    return backend.array(backend.xp.asarray(_stored_values(states, key, a, b, n)))


def _stored_values(states: Mapping[str, np.ndarray], key: str, a: int, b: int, n: int) -> np.ndarray:
    """The stored ``key`` after element-steps ``a..b`` as float64 (zeros where it is not exposed)."""
    held = states.get(key)
    usable = held is not None and np.ndim(held) == 2 and np.shape(held)[1] == n and np.size(held) >= b
    return np.asarray(held, dtype=np.float64).reshape(-1)[a:b] if usable else np.zeros(b - a)


def _judge_fused(case: Case, precision: PrecisionModel, backend: ArrayBackend, fused: bool | None,
                 starts: dict[str, _Start], grads: _Flat, observed_p: np.ndarray, states: Mapping[str, np.ndarray],
                 tallies: dict[str, _Tally], reasons: dict[str, int], slack: float, state_fmt: FormatCost,
                 param_fmt: FormatCost, zero_step_nan: bool, read_back: bool = False, chunk: int = CHUNK) -> bool:
    """The per-step verdicts with each step run by the fused kernel (one launch of the traced step per
    step and chunk of ``chunk`` elements, from the implementation's state before it: a 1e6-element step
    is never held whole); False, having tallied nothing, where the array path must run instead (not
    numpy, fused off, reads rounded on load, stochastic rounding, a step the tracer cannot record)."""
    from adamw_oracle.verify.vectorized import _Exact, _setup, use_fused  # vectorized imports nothing of ours

    if backend.xp is not np or not use_fused(backend, fused):
        return False
    setup = _setup(case, precision, None)
    if not setup.plain:
        return False
    from adamw_oracle.verify import fused as fusion  # heavy: numba, loaded on first use

    run = case.run
    steps, n = run.steps, run.size
    dd_mode = backend.double_double

    def preparation(k: int, lo: int, hi: int) -> Any:
        a, b = k * n + lo, k * n + hi
        def start(s: _Start) -> _Exact:
            if k == 0:  # the case's initial values (maybe inexact), else the implementation's own (exact)
                return _Exact(s.hi0[lo:hi], None if s.lo0 is None or not dd_mode else s.lo0[lo:hi],
                              None if s.r0 is None else s.r0[lo:hi])
            return _Exact(s.hi(a, b))

        inputs = (start(starts["p"]), start(starts["m"]), start(starts["v"]), start(starts["vmax"]))
        g = _Exact(grads.hi[a:b], None if grads.lo is None or not dd_mode else grads.lo[a:b],
                   None if grads.r is None else grads.r[a:b])
        if read_back:  # the moments from the state before, the parameter from the stored moments
            return (fusion.prepare(backend, [setup.consts[k]], moment_step, setup.formats, inputs, [g],
                                   ((setup.key[k], "moments"),)),
                    read_back_preparation(k, lo, hi, inputs[0], g))
        return fusion.prepare(backend, [setup.consts[k]], setup.step, setup.formats, inputs, [g], (setup.key[k],)), None

    read_step = functools.partial(_read_back_step, conv=run.config.conventions, param_fmt=setup.formats[1])
    moment_step = functools.partial(_moment_step, conv=run.config.conventions, state_fmt=setup.formats[0])

    def read_back_preparation(k: int, lo: int, hi: int, p: _Exact, g: _Exact) -> Any:
        a, b = k * n + lo, k * n + hi
        m, v, vmax = (_Exact(_stored_values(states, key, a, b, n)) for key in ("m", "v", "vmax"))
        return fusion.prepare(backend, [setup.consts[k]], read_step, setup.formats, (p, m, v, vmax), [g],
                              ((setup.key[k], "read back"),))

    try:  # every step traced (and cached) before any is judged: a step that cannot be traced changes nothing
        for k in range(steps):
            preparation(k, 0, 0)
    except (fusion.Unfusable, AttributeError):
        return False
    flat_observed = {key: (observed_p if key == "param" else np.asarray(states[key], dtype=np.float64)).reshape(-1)
                     for key in tallies}  # converted once, not once per chunk
    for k, lo in ((k, lo) for k in range(steps if n else 0) for lo in range(0, n, max(chunk, 1))):
        hi = min(lo + max(chunk, 1), n)
        a, b = k * n + lo, k * n + hi
        prepared, read_prepared = preparation(k, lo, hi)
        p, new_state, sticky, trace = fusion.fused_one_step(prepared)
        param_sticky, p_flags = sticky, trace.p_flags
        if read_prepared is not None:  # the parameter from the stored moments (see _read_back_param)
            p, _, param_sticky, read_trace = fusion.fused_one_step(read_prepared)
            p_flags = read_trace.p_flags
        inherited = ~np.all([np.isfinite(starts[key].hi(a, b)) for key in starts], axis=0)
        flat = np.arange(a, b)
        degenerate = _degenerate(case, starts, grads, a, b, zero_step_nan)
        for key, tally in tallies.items():
            comps = p if key == "param" else new_state[_STATE_VAR[key]]
            scalar_flags = np.uint8(p_flags if key == "param" else trace.state_flags[_STATE_VAR[key]])
            fmt = param_fmt if key == "param" else state_fmt
            bounded = ArrayNumber(comps[0], comps[1] if dd_mode else None, comps[2], comps[3], scalar_flags, fmt,
                                  backend)
            with np.errstate(all="ignore"):  # flagged elements carry inf/nan bounds by design
                _compare(np, tally, key, bounded, (param_sticky if key == "param" else sticky) | scalar_flags,
                         flat_observed[key][a:b], flat, n, slack,
                         fmt, reasons if key == "param" else None, inherited,
                         degenerate if key == "param" else None, starts["p"].hi(a, b) if key == "param" else None)
    return True


def _moment_step(backend: Any, c: StepConstants, p: Any, g: Any, m: Any, v: Any, vmax: Any, *, conv: Any,
                 state_fmt: FormatCost) -> tuple[Any, Any, Any, Any]:
    """The fused kernel's step of the stored moments alone (the parameter passes through)."""
    _, m_t, v_t, vmax_t = adam_moments(backend, c, conv, p, g, m, v, vmax)
    return p, backend.store(m_t, state_fmt), backend.store(v_t, state_fmt), backend.store(vmax_t, state_fmt)


def _read_back_step(backend: Any, c: StepConstants, p: Any, g: Any, m: Any, v: Any, vmax: Any, *, conv: Any,
                    param_fmt: FormatCost) -> tuple[Any, Any, Any, Any]:
    """The fused kernel's step under ``reads_back_state``: ``m, v, vmax`` are the stored moments *after*
    the step; the new parameter is the contract's update from them (the state passes through)."""
    return backend.store(adam_update(backend, c, conv, p, m, v, vmax).p_new, param_fmt), m, v, vmax


# -- inputs -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Flat:
    """Exact inputs of every element-step, flattened ``(steps * n,)``: ``hi`` (+ ``lo``) within ``r``."""

    hi: np.ndarray
    lo: np.ndarray | None = None
    r: np.ndarray | None = None

    def number(self, backend: ArrayBackend, a: int, b: int) -> ArrayNumber:
        xp = backend.xp

        def part(x: np.ndarray | None) -> Any:
            return None if x is None else xp.asarray(x[a:b])

        return backend.array(xp.asarray(self.hi[a:b]), part(self.lo), part(self.r))


def _exact_values(values: Any, double_double: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A float64 array (exact as given) or a sequence of exact Fractions / non-finite floats, as
    ``hi`` (+ ``lo`` in double-double mode) within ``r`` (None where every value is a float64)."""
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=np.float64).reshape(-1), None, None
    if not values or (values[0] == 0 and values.count(values[0]) == len(values)):
        # a fresh state: tuple.count compares the one shared Fraction(0) by identity, fast
        return np.zeros(len(values)), None, None
    floats = [float(x) for x in values]
    hi = np.array(floats, dtype=np.float64)
    inexact = [i for i, (x, f) in enumerate(zip(values, floats))
               if isinstance(x, Fraction) and not _held_by_float64(x) and Fraction(f) != x]
    if not inexact:
        return hi, None, None
    lo, r = np.zeros(hi.size), np.zeros(hi.size)
    for i in inexact:
        x = values[i]
        head = Fraction(float(x))
        lo[i] = float(x - head) if double_double else 0.0
        r[i] = float(abs(x - head - Fraction(lo[i]))) * UP2
    return hi, (lo if double_double else None), r


def _held_by_float64(x: Fraction) -> bool:
    """A quick sufficient test that ``x`` is a float64 value: ``n / 2**k`` with ``|n| < 2**53`` and
    ``k <= 1074`` (every value of a case's dtype passes; a value failing it is checked exactly)."""
    d = x.denominator
    return d & (d - 1) == 0 and d.bit_length() <= 1075 and abs(x.numerator).bit_length() <= 53


def _exact_rows(rows: Any, steps: int, n: int, double_double: bool) -> _Flat:
    """``steps`` rows of ``n`` exact values as one flattened :class:`_Flat`."""
    if isinstance(rows, np.ndarray):
        return _Flat(np.asarray(rows, dtype=np.float64).reshape(steps * n))
    parts = [_exact_values(row, double_double) for row in rows]
    hi = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    if all(p[2] is None for p in parts):
        return _Flat(hi)
    zeros = np.zeros(n)
    lo = np.concatenate([p[1] if p[1] is not None else zeros for p in parts]) if double_double else None
    r = np.concatenate([p[2] if p[2] is not None else zeros for p in parts])
    return _Flat(hi, lo, r)


def _virtual(first: np.ndarray, rest: np.ndarray | None, a: int, b: int, n: int) -> np.ndarray:
    """Elements ``a..b`` of ``concatenate([first, rest])`` (``rest`` None: zeros) without building it."""
    def tail(lo: int, hi: int) -> np.ndarray:
        return np.zeros(hi - lo) if rest is None else rest[lo:hi]

    if b <= n:
        return first[a:b]
    if a >= n:
        return tail(a - n, b - n)
    return np.concatenate([first[a:], tail(0, b - n)])


@dataclass(frozen=True)
class _Start:
    """One input before every step without copying the run: the case's initial values (``hi0`` + ``lo0``
    within ``r0``) before step 1, the implementation's observed ``(steps, n)`` values (row k-1) before
    step k (None: a state it does not use, zero at every step). Element-step j is step j // n."""

    hi0: np.ndarray
    lo0: np.ndarray | None
    r0: np.ndarray | None
    observed: np.ndarray | None
    n: int

    def hi(self, a: int, b: int) -> np.ndarray:
        rest = None if self.observed is None else self.observed.reshape(-1)
        return _virtual(self.hi0, rest, a, b, self.n)

    def number(self, backend: ArrayBackend, a: int, b: int) -> ArrayNumber:
        xp = backend.xp

        def part(x: np.ndarray | None) -> Any:
            return None if x is None else xp.asarray(_virtual(x, None, a, b, self.n))

        return backend.array(xp.asarray(self.hi(a, b)), part(self.lo0), part(self.r0))


def _starts(case: Case, observed_p: np.ndarray, states: Mapping[str, np.ndarray],
            double_double: bool) -> dict[str, _Start]:
    """The parameters and state before every step: the case's initial values before step 1, the
    implementation's own values after step k before step k+1 (zeros for a state it does not use)."""
    run = case.run
    steps, n = run.steps, run.size
    st = run.initial_state
    assert st is not None
    out = {}
    for key, initial, observed in (("p", run.initial_params, observed_p), ("m", st.m, states.get("m")),
                                   ("v", st.v, states.get("v")), ("vmax", st.vmax, states.get("vmax"))):
        hi0, lo0, r0 = _exact_values(initial, double_double)
        held = None if observed is None or np.shape(observed) != (steps, n) else np.asarray(observed, dtype=np.float64)
        out[key] = _Start(hi0, lo0, r0, held, n)
    return out


# -- per-step scalars gathered per element ------------------------------------------------------------
def _stacked_constants(consts: list[StepConstants], xp: Any) -> dict[str, Any]:
    """For each scalar that differs between steps: its parts stacked over the steps (shape ``(steps,)``);
    a scalar that is the same number at every step (step_constants shares it) stays one 0-d number."""
    out: dict[str, Any] = {}
    for f in fields(StepConstants):
        if f.name == "t":
            continue
        values = [getattr(c, f.name) for c in consts]
        if all(v is values[0] or (xp is np and _same_bits(v, values[0])) for v in values):
            out[f.name] = values[0]
            continue

        def stack(attr: str, values: list[ArrayNumber] = values) -> Any:
            parts = [getattr(v, attr) for v in values]
            if parts[0] is None:
                return None
            return xp.stack([xp.asarray(x) for x in parts])

        out[f.name] = (values[0], {attr: stack(attr) for attr in ("hi", "lo", "r", "e", "flags")})
    return out


def _same_bits(a: ArrayNumber, b: ArrayNumber) -> bool:
    """Whether two 0-d numbers hold the same bits in every part (a scalar equal at every step, e.g. beta1,
    then stays one 0-d number: broadcasting it gives the same results as gathering equal copies)."""
    if a.fmt != b.fmt:
        return False
    for attr in ("hi", "lo", "r", "e", "flags"):
        x, y = getattr(a, attr), getattr(b, attr)
        if (x is None) != (y is None):
            return False
        if x is not None and (np.shape(x) != () or np.shape(y) != () or np.asarray(x).dtype != np.asarray(y).dtype
                              or np.asarray(x).tobytes() != np.asarray(y).tobytes()):
            return False
    return True


def _gathered(per_step: dict[str, Any], template: StepConstants, a: int, b: int, n: int,
              backend: ArrayBackend) -> StepConstants:
    """The step constants of element-steps ``a..b`` (element-step j is step j // n), as per-element arrays."""
    xp = backend.xp
    k0, k1 = a // n, (b - 1) // n + 1
    # element-steps of each step k0..k1-1 inside a..b: part[j // n] for j in a..b is part[k] repeated so often
    counts = xp.asarray([min(b, (k + 1) * n) - max(a, k * n) for k in range(k0, k1)])
    ks = None

    def gather(part: Any) -> Any:
        nonlocal ks
        if part is None:
            return None
        if part.ndim == 1:
            return xp.repeat(part[k0:k1], counts)
        if ks is None:
            ks = xp.asarray(np.arange(a, b) // n)
        return part[ks]

    values: dict[str, Any] = {}
    for name, value in per_step.items():
        if isinstance(value, ArrayNumber):
            values[name] = value
            continue
        first, parts = value
        gathered = {attr: gather(part) for attr, part in parts.items()}
        values[name] = ArrayNumber(gathered["hi"], gathered["lo"], gathered["r"], gathered["e"], gathered["flags"],
                                   first.fmt, backend)
    return StepConstants(t=template.t, **values)


# -- comparison ---------------------------------------------------------------------------------------
def _compare(xp: Any, tally: _Tally, key: str, bounded: ArrayNumber, flags: Any, observed_host: np.ndarray,
             flat: np.ndarray, n: int, slack: float, fmt: FormatCost, reasons: dict[str, int] | None,
             inherited: Any, degenerate: Mapping[str, Any] | None = None, before: Any = None) -> None:
    """The trajectory judge's rule (``|observed - y| + r <= slack * e``, see
    :mod:`adamw_oracle.verify.vectorized`) for one chunk of one quantity, added to ``tally``;
    ``degenerate`` (reason: mask) marks flagged element-steps whose correct value is exactly NaN: an
    observed NaN there is counted within bound (and in ``tally.degenerate``), not set aside. ``before``:
    the exact value entering the step (the parameter's), against which a bound is vacuous
    (:func:`~adamw_oracle.verify.tracked.bound_vacuous`); None: not checked (the state quantities)."""
    size = int(flat.size)
    observed = xp.asarray(observed_host)
    flagged = xp.broadcast_to(flags != 0, (size,))
    exact = xp.zeros((size,), dtype=bool)
    for name, mask in (degenerate or {}).items():
        hit = flagged & mask & xp.isnan(observed) & ~exact
        count = int(xp.count_nonzero(hit))
        if count:
            tally.degenerate[name] = tally.degenerate.get(name, 0) + count
            exact = exact | hit
    n_exact = int(xp.count_nonzero(exact))
    allowed = slack * xp.broadcast_to(bounded.e, (size,))
    # an unflagged bound that is inf, NaN or beyond the format's range proves nothing (tracked.bound_proves)
    unbounded = ~flagged & ~(allowed <= fmt.largest)
    judged = ~flagged & ~unbounded
    hi = xp.broadcast_to(bounded.hi, (size,))
    finite = xp.isfinite(observed)
    if bounded.lo is None:
        distance = xp.abs(observed - hi)
    else:
        dh, _dl = dd.dd_add(observed, xp.zeros_like(observed), -hi, -xp.broadcast_to(bounded.lo, (size,)))
        distance = xp.abs(dh)
    upper = distance * UP2 + bounded.r
    within = judged & finite & (upper <= allowed)
    outside = judged & ~within
    vacuous = xp.zeros((size,), dtype=bool)
    if before is not None:  # within a bound wider than the step's own values: set aside
        vacuous = within & bound_vacuous(allowed, xp.asarray(before), hi, vacuity_constants(fmt.fmt))
        within = within & ~vacuous
    positive = allowed > 0
    fraction = xp.where(positive, distance / xp.where(positive, allowed, 1.0), xp.where(distance == 0, 0.0, xp.inf))
    fraction = xp.where(finite, fraction, xp.inf)
    n_within, n_outside = int(xp.count_nonzero(within)), int(xp.count_nonzero(outside))
    tally.within += n_within + n_exact
    tally.outside += n_outside
    tally.ill += size - n_within - n_outside - n_exact
    if n_within + n_outside:
        tally.worst = max(tally.worst, float(xp.max(xp.where(within | outside, fraction, 0.0))))
    if reasons is not None and size - n_within - n_outside - n_exact:
        set_aside = xp.where(exact, 0, xp.broadcast_to(flags, (size,)))
        for name, count in _reasons(xp, set_aside, inherited).items():
            reasons[name] = reasons.get(name, 0) + count
        for name, mask in ((BOUND_OVERFLOW, unbounded), (BOUND_VACUOUS, vacuous)):
            count = int(xp.count_nonzero(mask))
            if count:
                reasons[name] = reasons.get(name, 0) + count
    if n_outside:
        i = int(xp.argmax(outside))  # flat is in step-major order: the first outside is the earliest step
        k, element = divmod(int(flat[i]), n)
        if tally.first is None or (k + 1, element) < (tally.first.step, tally.first.element):
            lo = 0.0 if bounded.lo is None else float(xp.broadcast_to(bounded.lo, (size,))[i])
            exact = Fraction(float(hi[i])) + Fraction(lo)
            obs = float(observed_host[i])
            ulps = float(abs(Fraction(obs) - exact) / fmt.fmt.ulp(exact)) if math.isfinite(obs) else math.inf
            tally.first = Failure(k + 1, element, obs, exact, float(allowed[i]), ulps, float(fraction[i]), key)


DEGENERATE_ZERO = "0/0 by the declared precision: m = v = 0 and eps rounds to 0 in the arithmetic, NaN exactly"
"""A degenerate element-step: its stored m, v (and vmax) are exactly 0, its gradient (and an L2 term) is
exactly 0, and eps (with eps_root, inside the root) rounds to 0 in the precision model's arithmetic: the
update is 0/0 in that arithmetic, so NaN is a correct parameter (a finite one, from a finer arithmetic
in which eps stays positive, is the decay-only value; it stays set aside)."""
DEGENERATE_NAN = "NaN parameter before the step, NaN after it in any implementation"
"""A degenerate element-step: the implementation's parameter before it is NaN, and p enters the new
parameter by +, - and * (p - c*p - u, (p - u)(1 - c), p - lr*(d + wd*p)), so the contract's arithmetic
gives NaN whatever the other inputs are."""


def eps_rounds_to_zero(case: Case, precision: PrecisionModel) -> bool:
    """Whether eps (and, for eps inside the root, eps_root too) rounds to 0 in ``precision``'s arithmetic,
    read directly or through its scalar format: then a zero step (m = v = 0, g = 0) divides 0 by 0."""
    hyper = case.run.config.hyper
    arith = precision.arithmetic.format
    scalar = (precision.scalars or precision.arithmetic).format

    def flushes(value: Any) -> bool:
        x = Fraction(float(value))
        return arith.round(x) == 0 or arith.round(Fraction(scalar.round(x))) == 0

    inside = case.run.config.conventions.eps_placement is EpsPlacement.INSIDE_ROOT
    return flushes(hyper.eps) and (not inside or flushes(hyper.eps_root))


def _degenerate(case: Case, starts: Mapping[str, _Start], grads: _Flat, a: int, b: int,
                zero_step_nan: bool) -> dict[str, np.ndarray]:
    """The degenerate element-steps ``a..b`` (reason: mask; see :data:`DEGENERATE_NAN`, :data:`DEGENERATE_ZERO`)."""
    p = starts["p"].hi(a, b)
    nan_in = np.isnan(p)
    out = {DEGENERATE_NAN: nan_in}
    if zero_step_nan:
        conv, hyper = case.run.config.conventions, case.run.config.hyper
        zero = (grads.hi[a:b] == 0) & (starts["m"].hi(a, b) == 0) & (starts["v"].hi(a, b) == 0)
        if conv.amsgrad is not AmsGrad.OFF:
            zero &= starts["vmax"].hi(a, b) == 0
        if decay_rule(conv.weight_decay).gradient_term and hyper.weight_decay != 0:
            zero &= p == 0
        out[DEGENERATE_ZERO] = zero & ~nan_in
    return out


INHERITED = "non-finite parameter or state from the step before"
"""The per-step judge's own reason: the target's parameter or stored state before the step is not finite
(its earlier step was set aside, e.g. a 0/0 in float16, or was already reported)."""


def _reasons(xp: Any, flags: Any, inherited: Any) -> dict[str, int]:
    """Set-aside counts per reason, the root cause first (as in the trajectory judge), with a
    non-finite start split into the target's own (:data:`INHERITED`) and a non-finite gradient."""
    nonfinite = (flags & NONFINITE) != 0
    from_state = nonfinite & inherited
    ill = ((flags & ILL) != 0) & ~nonfinite
    overflow = (flags != 0) & ~nonfinite & ~ill
    out = {}
    for name, mask in ((INHERITED, from_state), ("non-finite input", nonfinite & ~from_state),
                       ("ill-conditioned divisor", ill), ("possible overflow", overflow)):
        count = int(xp.count_nonzero(mask))
        if count:
            out[name] = count
    return out


def _judge_counter(tallies: dict[str, _Tally], states: Mapping[str, np.ndarray], count: list[int],
                   steps: int) -> _Tally | None:
    """The exposed step counter after each step against the run's count ``count`` (``Run.t_at``;
    exactly: bound 0)."""
    counter = states.get("step")
    if counter is None or np.shape(counter) != (steps,):
        return None
    tally = _Tally()
    observed = np.asarray(counter, dtype=np.float64)
    expected = np.asarray(count, dtype=np.float64)
    wrong = ~(observed == expected)
    tally.outside = int(np.count_nonzero(wrong))
    tally.within = steps - tally.outside
    if tally.outside:
        k = int(np.argmax(wrong))
        tally.worst = math.inf
        tally.first = Failure(k + 1, 0, float(observed[k]), Fraction(int(expected[k])), 0.0, math.inf, math.inf, "step")
    return tally
