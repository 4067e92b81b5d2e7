"""Users' own optimizers: a plain Python function (or callable object) as an :class:`Implementation`.

The user protocol (at most a few lines of glue)::

    def my_optimizer(params, grads, hyper):
        # params: (n,) numpy array, grads: (steps, n) numpy array, both of the case's dtype
        #         (numpy float64/float32/float16, or ml_dtypes.bfloat16)
        # hyper:  dict of Python floats lr, beta1, beta2, eps, eps_root, weight_decay
        #         and bools amsgrad, maximize
        ...
        return trajectory            # (steps, n): parameters after every step, same dtype
        # or: return trajectory, {"m": m, "v": v}   (state after the last step, if exposed)
        # or: return trajectory, {"m": ms, "v": vs, "step": counts}   (state after every step:
        #     (steps, n) arrays and the (steps,) step counter; each step is then judged from it)

    impl = from_callable(my_optimizer, name="mine")

A function whose library is bound to the thread that created it (e.g. it holds a SQLite connection)
sets ``my_optimizer.thread_bound = True``: the checker then calls it in its own thread, with no case
timeout.

The adapter hands over copies it keeps a second copy of, so an optimizer that writes into ``params`` or
``grads`` is reported (as an Observation finding) instead of silently corrupting the comparison.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import (
    BadOutput,
    CaseOptions,
    as_states,
    as_trajectory,
    empty_params,
    guarded_run,
    numpy_dtype,
    unsupported_reason,
)
from adamw_oracle.contract.capabilities import Capability, parse_capabilities
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.errors import InvalidArgumentError

OptimizerFunction = Callable[[np.ndarray, np.ndarray, dict], Any]


class CallableImplementation:
    """Wrap ``fn(params, grads, hyper) -> trajectory | (trajectory, state)``."""

    def __init__(self, fn: OptimizerFunction, name: str | None = None,
                 capabilities: Iterable[Capability | str] | None = None) -> None:
        if not callable(fn):
            raise InvalidArgumentError("fn", fn, "a callable fn(params, grads, hyper) returning the trajectory")
        caps = parse_capabilities(capabilities)
        self.fn = fn
        self.capabilities = caps
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__
        # a function marked ``fn.thread_bound = True`` is always called in the checker's calling thread
        self.thread_bound = bool(getattr(fn, "thread_bound", False))

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        return guarded_run(case, self._run)

    def _run(self, case: Case) -> Observation:
        dt = numpy_dtype(case.dtype)
        params = case.initial_params().astype(dt)
        grads = case.gradients().astype(dt)
        params_kept, grads_kept = params.copy(), grads.copy()
        result = self.fn(params, grads, CaseOptions.of(case).as_dict())
        findings = []
        if not _same(params, params_kept):
            findings.append("the optimizer modified the initial-parameter array it was given in place")
        if not _same(grads, grads_kept):
            rows = sorted({int(k) for k in np.argwhere(~_equal_mask(grads, grads_kept))[:, 0]})
            findings.append("the optimizer modified the gradient array it was given in place (steps "
                            + ", ".join(str(k + 1) for k in rows[:5]) + ")")
        trajectory, state = (result if isinstance(result, tuple) and len(result) == 2 else (result, None))
        try:
            params_out = as_trajectory(case, trajectory)
            state_out, step_states = as_states(case, state)
        except BadOutput as exc:
            return Observation(empty_params(case), error=f"bad output: {exc}", findings=tuple(findings))
        return Observation(params_out, state_out, findings=tuple(findings), step_states=step_states)


def from_callable(fn: OptimizerFunction, name: str | None = None,
                  capabilities: Iterable[Capability | str] | None = None) -> CallableImplementation:
    """An :class:`Implementation` from ``fn(params, grads, hyper)`` (see the module docstring)."""
    return CallableImplementation(fn, name, capabilities)


def _equal_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x, y = a.astype(np.float64), b.astype(np.float64)
    return (x == y) | (np.isnan(x) & np.isnan(y))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(_equal_mask(a, b).all())
