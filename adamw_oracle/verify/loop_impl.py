"""A numpy training loop: the steps of :class:`~adamw_oracle.verify.numpy_impl.NumpyImplementation`
driven the way a framework optimizer drives its parameter groups.

Per loop step k: the multiplier eta of step k (:meth:`NumpyLoopImplementation.multiplier`), then for
every group its hyperparameters (:meth:`~NumpyLoopImplementation.group_hyper`) with
``schedule_multiplier = eta``, and for every tensor of the group that has a gradient one
Adam/SGD step at that tensor's own counter t_i + 1 (a tensor without a gradient is skipped, its counter
kept). After a resume point the per-tensor state goes through :meth:`~NumpyLoopImplementation.save`
(copies, as a checkpoint holds them) and :meth:`~NumpyLoopImplementation.restore`. These three hooks
are what the loop mutations (:mod:`adamw_oracle.verify.loop_mutations`) break.

It is also an ordinary :class:`~adamw_oracle.contract.case.Implementation`: :meth:`run` runs a case as
a loop of one tensor in one group (no resume), which is how the default single-tensor ``check`` sees it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.loop import Loop, LoopCase, LoopObservation, LoopTensor, ParamGroup
from adamw_oracle.contract.run import Run
from adamw_oracle.verify.numpy_impl import NumpyImplementation, RunScalars


@dataclass
class TensorState:
    """One tensor's optimizer state: its own step counter and moments (arithmetic dtype)."""

    step: int
    m: np.ndarray
    v: np.ndarray
    vmax: np.ndarray

    def copy(self) -> TensorState:
        return TensorState(self.step, self.m.copy(), self.v.copy(), self.vmax.copy())


class NumpyLoopImplementation:
    """A training loop over :class:`NumpyImplementation` steps (see the module docstring)."""

    loop_capabilities = frozenset(LoopCapability)

    def __init__(self, base: NumpyImplementation | None = None, name: str | None = None) -> None:
        self.base = base or NumpyImplementation()
        self.name = name or f"numpy-loop[{self.base.variant.label()}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- hooks a loop mutation overrides -----------------------------------------------------------
    def multiplier(self, loop: Loop, k: int) -> float:
        """eta of loop step k."""
        return float(loop.schedule[k])

    def group_hyper(self, case: LoopCase, g: int) -> dict[str, Any]:
        """Group g's hyperparameters as Python floats (its base lr; eta is applied by the driver)."""
        probe = Case(Run(case.loop.groups[g].config, (0,), ((0,),)), case.dtype)
        return probe.hyper_floats()

    def save(self, states: list[TensorState | None]) -> list[TensorState | None]:
        """A checkpoint of the per-tensor states (copies)."""
        return [None if s is None else s.copy() for s in states]

    def restore(self, saved: list[TensorState | None]) -> list[TensorState | None]:
        """The states a fresh optimizer holds after loading ``saved``."""
        return [None if s is None else s.copy() for s in saved]

    # -- drivers -------------------------------------------------------------------------------------
    def run_loop(self, case: LoopCase) -> LoopObservation:
        loop, base = case.loop, self.base
        arith, store = base.formats(case.dtype)
        half_storage_ops = base.variant.half_arithmetic == "storage" and store != arith
        base._round_to = store if half_storage_ops else None
        params = [case.initial_params(i).astype(arith) for i in range(len(loop.tensors))]
        states: list[TensorState | None] = [None] * len(loop.tensors)
        contexts = []
        for g, group in enumerate(loop.groups):
            ctx = RunScalars(Case(Run(group.config, (0,), ((0,),)), case.dtype), arith)
            contexts.append((ctx, self.group_hyper(case, g)))
        out = [np.empty((loop.steps, t.size)) for t in loop.tensors]
        with np.errstate(all="ignore"):
            for k in range(loop.steps):
                eta = self.multiplier(loop, k)
                for group, (ctx, hyper) in zip(loop.groups, contexts):
                    ctx.h = dict(hyper, schedule_multiplier=hyper["schedule_multiplier"] * eta)
                    conv = group.config.conventions
                    for i in group.tensors:
                        grad = case.gradient(i, k)
                        if grad is None:
                            continue
                        st = states[i]
                        if st is None:
                            zeros = np.zeros(loop.tensors[i].size, dtype=arith)
                            st = states[i] = TensorState(0, zeros, zeros.copy(), zeros.copy())
                        st.step += 1
                        g_arr = grad.astype(arith)
                        if conv.family is Family.ADAM:
                            params[i], st.m, st.v, st.vmax = base.adam_step(ctx, conv, params[i], g_arr, st.m, st.v,
                                                                           st.vmax, st.step)
                        else:
                            params[i], st.m = base.sgd_step(ctx, conv, params[i], g_arr, st.m, st.step)
                        params[i] = params[i].astype(store).astype(arith)
                for i, p in enumerate(params):
                    out[i][k] = p.astype(np.float64)
                if k + 1 in loop.resume_after:
                    states = self.restore(self.save(states))
        return LoopObservation(tuple(out))

    def run(self, case: Case) -> Observation:
        """``case`` as a loop of one tensor in one group (a seeded state runs through ``base`` directly)."""
        run = case.run
        st = run.initial_state
        if st is not None and (st.step or any(st.m) or any(st.v) or any(st.vmax)):
            return self.base.run(case)
        loop = Loop([LoopTensor(run.initial_params, run.gradients)], [ParamGroup(run.config, (0,))], run.schedule)
        observed = self.run_loop(LoopCase(loop, case.dtype))
        return Observation(observed.params[0], error=observed.error)
