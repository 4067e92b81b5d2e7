"""What an implementation under test receives and returns (shared by adapters, the fuzz and ``check``).

A :class:`Case` is a :class:`~adamw_oracle.contract.run.Run` plus the dtype the implementation computes
in. Its initial parameters and gradients are values of that dtype (the strategies draw them so), so the
implementation sees exactly the numbers the reference starts from. Hyperparameters are exact; an
implementation passes them as Python floats (their float64 roundings), and the error model accounts for
that rounding.

An implementation returns an :class:`Observation`: the parameters after every step (shape
``(steps, n)``, held in float64 arrays whose values are values of the case's dtype), optionally its
state (after the last step, and per step when the implementation exposes it), or an error.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import InvalidArgumentError

MAX_SECONDS = 1_000_000.0
"""Longest duration a case timeout or a time budget may be given (about 11.6 days); "no limit" is
spelled None in the Python API (the default of ``check --time-budget``), never ``inf``."""


@dataclass(frozen=True)
class Case:
    """One run in one dtype, as handed to an implementation under test."""

    run: Run
    dtype: Dtype

    def __post_init__(self) -> None:
        if not isinstance(self.run, Run):
            raise InvalidArgumentError("run", type(self.run).__name__, "a Run")
        object.__setattr__(self, "dtype", Dtype.parse(self.dtype, "dtype"))  # "float16" is Dtype.FLOAT16

    def initial_params(self) -> np.ndarray:
        """Initial parameters as float64 (exact: they are values of ``dtype``)."""
        if isinstance(self.run.initial_params, np.ndarray):
            return np.array(self.run.initial_params)
        return np.array([float(x) for x in self.run.initial_params], dtype=np.float64)

    def gradients(self) -> np.ndarray:
        """Gradients, shape ``(steps, n)``, float64 (values of ``dtype``; may be non-finite)."""
        if isinstance(self.run.gradients, np.ndarray):
            return np.array(self.run.gradients)
        n = self.run.size
        return np.array([[float(g) for g in row] for row in self.run.gradients], dtype=np.float64).reshape(self.run.steps, n)

    def hyper_floats(self, k: int | None = None) -> dict[str, Any]:
        """Hyperparameters as Python floats (float64 roundings) and bools, as frameworks take them; with
        ``k``, those of step index k (``schedule_multiplier`` is then that step's eta_t, ``Run.config_at``)."""
        h = (self.run.config if k is None else self.run.config_at(k)).hyper
        return {
            "lr": float(h.lr), "beta1": float(h.beta1), "beta2": float(h.beta2), "eps": float(h.eps),
            "eps_root": float(h.eps_root), "weight_decay": float(h.weight_decay), "momentum": float(h.momentum),
            "dampening": float(h.dampening), "nesterov": h.nesterov, "schedule_multiplier": float(h.schedule_multiplier),
        }


@dataclass(frozen=True)
class Observation:
    """What an implementation produced for a case.

    ``params[k, i]`` is element i after step k+1. ``state`` may hold arrays named ``m``, ``v``,
    ``vmax`` (shape ``(n,)``, after the last step) when the implementation exposes them. ``error`` is set
    (and ``params`` may be partial or empty) when the implementation raised, hung or returned garbage.
    ``findings`` lists misbehaviour an adapter detected while the run otherwise completed.

    ``step_states`` is the implementation's own state after *every* step, when it exposes it (see
    :data:`STEP_STATE_KEYS`): ``m``, ``v``, ``vmax`` of shape ``(steps, n)`` (``step_states["m"][k, i]``
    is element i's first moment -- SGD's momentum buffer -- after step k+1) and ``step`` of shape
    ``(steps,)``, the step counter as the implementation holds it after each step (torch keeps it as a
    float32 tensor, optax as an int32, Keras as an int64 variable). The values are float64 arrays
    holding the exact numbers the implementation stored, in whatever format it stores them (float32
    state for bfloat16 parameters is fine). With them the judge re-syncs every step from the
    implementation's own state (:mod:`adamw_oracle.verify.resync`). Empty: not exposed.
    """

    params: np.ndarray
    state: Mapping[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    #: Misbehaviour the adapter saw itself while running the case (e.g. "gradient of step 3 modified
    #: in place"); the checker reports each as a finding. Empty for a well-behaved implementation.
    findings: tuple[str, ...] = ()
    step_states: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: The compensation buffer after every step (shape of ``params``, values of the parameter format)
    #: of an implementation that keeps its parameters with Kahan summation; None otherwise. The
    #: high-precision parameter is ``params + compensation`` (see contract.precision.ParamSummation).
    compensation: np.ndarray | None = None


STEP_STATE_KEYS = ("m", "v", "vmax", "step")
"""The names :attr:`Observation.step_states` may hold: per-element ``(steps, n)`` moments and the
``(steps,)`` step counter."""


def stack_step_states(rows: Mapping[str, list[Any]], steps: int, n: int) -> dict[str, np.ndarray]:
    """Per-step state rows collected by an adapter (``{"m": [row after step 1, ...], "step": [...]}``)
    as :attr:`Observation.step_states` arrays; a name with a row of the wrong size or a missing row is
    dropped (the judge then judges the whole trajectory)."""
    out: dict[str, np.ndarray] = {}
    for key, values in rows.items():
        if len(values) != steps:
            continue
        shape = (steps,) if key == "step" else (steps, n)
        try:
            array = np.array([np.asarray(v, dtype=np.float64).reshape(-1) for v in values], dtype=np.float64)
        except ValueError:  # ragged rows
            continue
        if array.size == int(np.prod(shape)):
            out[key] = array.reshape(shape)
    return out


@runtime_checkable
class Implementation(Protocol):
    """Anything that can be checked: a name and a ``run(case) -> Observation`` method."""

    name: str

    def run(self, case: Case) -> Observation: ...
