"""Shared machinery of the built-in adapters: capabilities, hyperparameter flags, safe execution.

An adapter turns a :class:`~adamw_oracle.contract.case.Case` into calls of a real optimizer and
returns an :class:`~adamw_oracle.contract.case.Observation`. It never lets an exception escape:
whatever the optimizer under test raises becomes ``Observation.error`` so the checker can report it as a
finding together with the case that triggered it.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import ml_dtypes
import numpy as np

from adamw_oracle.contract.capabilities import ALL_CAPABILITIES, Capability
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import AmsGrad, Family
from adamw_oracle.contract.dtypes import Dtype

if TYPE_CHECKING:
    from adamw_oracle.contract.dtypes import Dtype

#: The options an optimizer may honour (a target honours a subset; see ``capabilities``).
CAPABILITIES = ALL_CAPABILITIES


@dataclass(frozen=True)
class CaseOptions:
    """The framework-facing options of a case: hyperparameters as Python floats plus flags.

    ``amsgrad`` and ``maximize`` are the framework's own switches (on when the case's conventions ask
    for any AMSGrad form / for maximization); which AMSGrad form the framework then uses is its business
    and is what ``identify`` finds out.
    """

    lr: float
    beta1: float
    beta2: float
    eps: float
    eps_root: float
    weight_decay: float
    amsgrad: bool
    maximize: bool

    @classmethod
    def of(cls, case: Case) -> CaseOptions:
        h = case.hyper_floats()
        conv = case.run.config.conventions
        return cls(h["lr"], h["beta1"], h["beta2"], h["eps"], h["eps_root"], h["weight_decay"],
                   conv.amsgrad is not AmsGrad.OFF, conv.maximize)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unsupported_reason(case: Case, capabilities: frozenset[Capability], family: Family = Family.ADAM) -> str | None:
    """Why a target of ``family`` with ``capabilities`` cannot run ``case`` (None when it can)."""
    config = case.run.config
    if config.conventions.family is not family:
        names = {Family.ADAM: "Adam", Family.SGD: "SGD"}
        return f"the target is an {names[family]}-family optimizer; the case is {names[config.conventions.family]}"
    opts = CaseOptions.of(case)
    wanted = {
        Capability.WEIGHT_DECAY: opts.weight_decay != 0,
        Capability.AMSGRAD: opts.amsgrad,
        Capability.MAXIMIZE: opts.maximize,
        Capability.EPS_ROOT: opts.eps_root != 0,
        Capability.DAMPENING: config.hyper.dampening != 0,
    }
    if case.run.schedule is not None:
        return ("the target takes one learning rate per run; the case has a per-step schedule "
                "(training loops with schedules are checked by adamw_oracle.check.loops)")
    missing = [cap.value for cap, on in wanted.items() if on and cap not in capabilities]
    if missing:
        return "the target has no option for " + ", ".join(missing)
    if Capability.SEEDED_STATE not in capabilities and is_seeded(case):
        return "the target starts from a fresh optimizer (zero state); the case seeds a state"
    return None


def is_seeded(case: Case) -> bool:
    """Whether ``case`` starts from a state other than the zero state."""
    st = case.run.initial_state
    return st is not None and (st.step != 0 or any(st.m) or any(st.v) or any(st.vmax))


def guarded_run(case: Case, body: Callable[[Case], Observation]) -> Observation:
    """Run ``body(case)``; any exception becomes an Observation with ``error`` set (never raised)."""
    try:
        return body(case)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the optimizer under test may raise anything
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
        return Observation(np.zeros((0, case.run.size)), error=f"{type(exc).__name__}: {exc}{where}")


def empty_params(case: Case) -> np.ndarray:
    return np.zeros((0, case.run.size), dtype=np.float64)


class BadOutput(Exception):
    """The implementation returned something that is not a trajectory of the case's shape and dtype."""


def numpy_dtype(dtype: Dtype) -> Any:
    """The numpy dtype of a case dtype (bfloat16 from ``ml_dtypes``, which JAX installs)."""

    if dtype is Dtype.BFLOAT16:

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype.value)


def as_trajectory(case: Case, value: Any, what: str = "trajectory") -> np.ndarray:
    """Check that ``value`` is a ``(steps, n)`` array of values of the case's dtype; return it as float64.

    Raises:
        BadOutput: wrong shape, an array of another dtype, non-numbers, or values the dtype cannot hold.
    """
    want = (case.run.steps, case.run.size)
    declared = getattr(value, "dtype", None)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BadOutput(f"{what} is not numeric ({type(value).__name__}: {exc})") from None
    if array.shape != want:
        raise BadOutput(f"{what} has shape {array.shape}, expected {want} (steps, elements)")
    expected = numpy_dtype(case.dtype)
    if declared is not None and np.dtype(declared) != expected:
        raise BadOutput(f"{what} has dtype {np.dtype(declared).name}, expected {expected.name}")
    finite = np.isfinite(array)
    roundtrip = array.astype(expected).astype(np.float64)
    if not np.array_equal(roundtrip[finite], array[finite]):
        k, i = np.argwhere(finite & (roundtrip != array))[0]
        raise BadOutput(f"{what}[{k}, {i}] = {array[k, i]!r} is not a {case.dtype.value} value (wrong dtype)")
    return array


def as_state(case: Case, state: Any) -> dict[str, np.ndarray]:
    """Validate an optional exposed state mapping ``{"m"|"v"|"vmax": (n,) array}`` (the state after the
    last step; per-step arrays are accepted too, see :func:`as_states`)."""
    return as_states(case, state)[0]


def as_states(case: Case, state: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Validate an optional exposed state mapping: ``(state after the last step, per-step state)``.

    Each of ``m``, ``v``, ``vmax`` is either an ``(n,)`` array (after the last step) or a
    ``(steps, n)`` array (after every step: row k after step k+1; its last row is also the final
    state); ``step`` is optional, the step counter after every step (``(steps,)``) or after the last
    (a number). Values are taken as the exact numbers given, in whatever format the optimizer holds its
    state (see :attr:`~adamw_oracle.contract.case.Observation.step_states`).

    Raises:
        BadOutput: not a dict, an unknown name, non-numbers, or an array of another shape.
    """
    if state is None:
        return {}, {}
    if not isinstance(state, dict):
        raise BadOutput(f"state is a {type(state).__name__}, expected a dict of arrays named m, v, vmax (and step)")
    steps, n = case.run.steps, case.run.size
    final: dict[str, np.ndarray] = {}
    per_step: dict[str, np.ndarray] = {}
    for key, val in state.items():
        if key not in ("m", "v", "vmax", "step"):
            raise BadOutput(f"state key {key!r} is not one of m, v, vmax, step")
        try:
            arr = np.asarray(val, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BadOutput(f"state[{key!r}] is not numeric ({type(val).__name__}: {exc})") from None
        if key == "step":
            if arr.shape == (steps,):
                per_step[key] = arr
            elif arr.size != 1:
                raise BadOutput(f"state['step'] has shape {arr.shape}, expected a number or ({steps},) (one per step)")
            continue
        if arr.ndim == 2:
            if arr.shape != (steps, n):
                raise BadOutput(f"state[{key!r}] has shape {arr.shape}, expected ({n},) or {(steps, n)} (one row per step)")
            per_step[key] = arr
            final[key] = arr[-1].copy()
            continue
        arr = arr.reshape(-1)
        if arr.shape != (n,):
            raise BadOutput(f"state[{key!r}] has {arr.size} values, expected {n}")
        final[key] = arr
    return final, per_step
