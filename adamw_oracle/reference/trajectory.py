"""Whole runs in the reference: vectors of elements, many steps, every intermediate kept.

The public entry points take the shared contract (:class:`~adamw_oracle.contract.run.Run`,
:class:`~adamw_oracle.contract.config.OptimizerConfig`) and a backend; exact inputs are converted to
the backend once.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.exact import to_exact
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import OptimizerState
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.adam import adam_element_step
from adamw_oracle.reference.backends import Backend, PointBackend, mpf_to_fraction
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.records import ElementStep
from adamw_oracle.reference.sgd import sgd_element_step


@dataclass(frozen=True)
class Trajectory:
    """The reference's record of a run: ``steps[k][i]`` is element i's :class:`ElementStep` at t=k+1+s0."""

    run: Run
    backend: Backend
    steps: tuple[tuple[ElementStep[Any], ...], ...]

    def params(self, k: int) -> tuple[Any, ...]:
        """Parameters after step index k (0-based) as backend numbers."""
        return tuple(e.p_new for e in self.steps[k])

    def final_params(self) -> tuple[Any, ...]:
        return self.params(len(self.steps) - 1) if self.steps else tuple(self.backend.const(x) for x in self.run.initial_params)

    def final_state(self) -> OptimizerState[tuple[Any, ...]]:
        """State after the last step (backend numbers)."""
        if not self.steps:
            raise InvalidArgumentError("run.gradients", 0, "at least one step")
        last = self.steps[-1]
        zero = self.backend.const(Fraction(0))
        return OptimizerState(
            last[0].t, tuple(e.m for e in last), tuple(e.v if e.v is not None else zero for e in last),
            tuple(e.vmax if e.vmax is not None else zero for e in last),
        )

    def as_fractions(self, quantity: str = "p_new") -> list[list[Fraction | float]]:
        """Exact rational value of ``quantity`` per step and element (PointBackend only)."""
        return [[mpf_to_fraction(getattr(e, quantity)) for e in row] for row in self.steps]


def step_elements(
    backend: Backend, config: OptimizerConfig, params: Sequence[Any], grads: Sequence[Any], state: OptimizerState[Sequence[Any]]
) -> tuple[ElementStep[Any], ...]:
    """One step t = state.step + 1 over all elements; every argument already in backend numbers."""
    t = state.step + 1
    k = StepConstants.build(backend, config, t)
    conv, hyper = config.conventions, config.hyper
    if conv.family is Family.ADAM:
        return tuple(
            adam_element_step(backend, k, conv, p, g, m, v, vmax)
            for p, g, m, v, vmax in zip(params, grads, state.m, state.v, state.vmax)
        )
    has_momentum = hyper.momentum != 0
    return tuple(
        sgd_element_step(backend, k, conv, p, g, m, first_step=state.step == 0, nesterov=hyper.nesterov, has_momentum=has_momentum)
        for p, g, m in zip(params, grads, state.m)
    )


def run_trajectory(run: Run, backend: Backend | None = None) -> Trajectory:
    """Every step of ``run`` in ``backend`` (default: :class:`PointBackend` at 256 bits); step k uses
    ``run.config_at(k)`` (the run's per-step schedule, when it has one)."""
    backend = backend or PointBackend()
    c = backend.const
    params = [c(x) for x in run.initial_params]
    st = run.initial_state
    assert st is not None
    state = OptimizerState(st.step, [c(x) for x in st.m], [c(x) for x in st.v], [c(x) for x in st.vmax])
    zero = c(Fraction(0))
    rows = []
    for k, grads in enumerate(run.gradients):
        state = state.replace(step=run.t_at(k) - 1)  # the run's counter, when it declares one
        row = step_elements(backend, run.config_at(k), params, [c(g) for g in grads], state)
        rows.append(row)
        params = [e.p_new for e in row]
        state = OptimizerState(
            state.step + 1, [e.m for e in row],
            [e.v if e.v is not None else zero for e in row], [e.vmax if e.vmax is not None else zero for e in row],
        )
    return Trajectory(run, backend, tuple(rows))


def reference_step(
    config: OptimizerConfig,
    params: Sequence[Any],
    grads: Sequence[Any],
    state: OptimizerState[tuple[Fraction, ...]] | None = None,
    *,
    prec: int = 256,
) -> tuple[ElementStep[Any], ...]:
    """One reference step over a vector, from exact inputs (strings, ints, Fractions, binary floats).

    Example:
        >>> from adamw_oracle import preset
        >>> rec = reference_step(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), ["0.8"], ["-0.3"])
        >>> str(rec[0].p_new)[:12]
        '0.8009919999'
    """
    params_exact = [to_exact(p, "params") for p in params]
    grads_exact = [to_exact(g, "grads", allow_nonfinite=True) for g in grads]
    if len(params_exact) != len(grads_exact):
        raise InvalidArgumentError("grads", f"{len(grads_exact)} values", f"{len(params_exact)} values (one per parameter)")
    run = Run(config, tuple(params_exact), (tuple(grads_exact),), state)  # validates state size
    return run_trajectory(run, PointBackend(prec)).steps[0]
