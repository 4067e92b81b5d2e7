"""A run: configuration, initial parameters, initial state and the gradient of every step.

Gradients are a fixed sequence (one vector per step), not a function of the parameters: this is what
makes a run reproducible across implementations, since every implementation is fed the same numbers.

A tensor-sized run (say 10**6 elements) would take minutes and gigabytes as tuples of Fractions: pass
``initial_params`` (shape ``(n,)``) and ``gradients`` (shape ``(steps, n)``) as float64 numpy arrays
instead (:meth:`Run.from_arrays`). Their values are taken as the exact binary numbers they hold (as for
any float input); the arrays are copied and made read-only. The vectorized judge and the adapters read
them as arrays.

A learning-rate schedule is a per-step multiplier: ``schedule[k]`` is the factor of step k+1, so the
step's effective multiplier is eta_t = ``config.hyper.schedule_multiplier * schedule[k]`` and its
configuration is :meth:`Run.config_at` ``(k)``; with ``schedule=None`` (the default) every step uses
``config`` itself (eta_t = ``schedule_multiplier``). Every layer that computes a step takes its
configuration from :meth:`Run.config_at`, so a framework's ``group['lr'] = base_lr * schedule[k]``
set between steps is checked as the contract's lr_t = lr * eta_t.

The step number t of step k+1 is ``initial_state.step + k + 1``. ``counter`` overrides it: ``counter[k]``
is the t that step k+1 computes its bias corrections (and SGD's first-step test) with, for describing
what an implementation with a step counter that cannot count (torch's float32 ``state['step']`` stalls
at 2**24) really computes: :meth:`Run.t_at`. The moments' recurrences do not involve t, so only the
per-step scalars change. The judges of record (``verify.judge``, the vectorized and fused judges) and the
reference trajectory read it; ``None`` (the default) is the contract's own count.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, cast

import numpy as np

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.exact import ExactInput, ExactOrNonFinite, to_exact
from adamw_oracle.contract.hyperparameters import exact_str
from adamw_oracle.contract.state import OptimizerState, exact_state, zero_state
from adamw_oracle.errors import InvalidArgumentError

MAX_STEPS = 100_000
"""Most steps in one run (a certified run of this length already takes minutes)."""


@dataclass(frozen=True, init=False)
class Run:
    """One run: ``len(gradients)`` steps over ``len(initial_params)`` elements.

    ``initial_params`` are exact rationals; ``gradients[k][i]`` is the gradient of element i at step k+1
    (exact, or a non-finite float). ``initial_state`` defaults to the zero state.
    """

    config: OptimizerConfig
    initial_params: tuple[Fraction, ...]
    gradients: tuple[tuple[ExactOrNonFinite, ...], ...]
    initial_state: OptimizerState[tuple[Fraction, ...]] | None = None
    name: str = ""
    description: str = ""
    schedule: tuple[Fraction, ...] | None = None
    counter: tuple[int, ...] | None = None

    def __init__(
        self,
        config: OptimizerConfig,
        initial_params: Sequence[ExactInput],
        gradients: Sequence[Sequence[ExactInput]],
        initial_state: OptimizerState[tuple[Fraction, ...]] | None = None,
        name: str = "",
        description: str = "",
        schedule: Sequence[ExactInput] | None = None,
        counter: Sequence[int] | None = None,
    ) -> None:
        """Make every value exact (``"0.001"`` is 1/1000, a float its binary value) and validate.

        ``schedule``: one multiplier >= 0 per step (see the module docstring), or None for none.
        ``counter``: the step number t of every step (ints >= 1), or None for ``initial_state.step + k + 1``.
        """
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "initial_state", initial_state)
        if not isinstance(config, OptimizerConfig):
            hint = "build one with preset(name) or OptimizerConfig(...)" if isinstance(config, str) else None
            raise InvalidArgumentError("config", config, "an OptimizerConfig", hint=hint)
        for argument, given in (("initial_params", initial_params), ("gradients", gradients)):
            if isinstance(given, (str, bytes)) or not (hasattr(given, "__len__") and hasattr(given, "__iter__")):
                raise InvalidArgumentError(argument, given, "a sequence (tuple or list)" + (
                    " of numbers" if argument == "initial_params" else " of gradient rows, one per step"))
        if not 1 <= len(gradients) <= MAX_STEPS:
            raise InvalidArgumentError("gradients", f"{len(gradients)} rows",
                                       f"1 to {MAX_STEPS} rows (one gradient vector per step)")
        self._init_schedule(schedule, len(gradients))
        self._init_counter(counter, len(gradients))
        if isinstance(initial_params, np.ndarray) or isinstance(gradients, np.ndarray):
            self._init_arrays(initial_params, gradients)
            return
        params = tuple(to_exact(x, "initial_params") for x in initial_params)
        object.__setattr__(self, "initial_params", params)
        grads = []
        for k, row in enumerate(gradients):
            if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
                raise InvalidArgumentError(f"gradients[{k}]", row, f"a sequence of {len(params)} numbers")
            if len(row) != len(params):
                raise InvalidArgumentError(f"gradients[{k}]", f"{len(row)} values", f"{len(params)} values (one per parameter)")
            grads.append(tuple(to_exact(x, f"gradients[{k}]", allow_nonfinite=True) for x in row))
        object.__setattr__(self, "gradients", tuple(grads))
        if self.initial_state is None:
            object.__setattr__(self, "initial_state", zero_state(len(params)))
        elif len(self.initial_state.m) != len(params):
            raise InvalidArgumentError("initial_state", f"{len(self.initial_state.m)} elements", f"{len(params)} elements")

    def _init_schedule(self, schedule: Sequence[ExactInput] | None, steps: int) -> None:
        """Validate the per-step multipliers and build the configuration of each distinct one."""
        configs: dict[Fraction, OptimizerConfig] = {}
        if schedule is None:
            object.__setattr__(self, "schedule", None)
            object.__setattr__(self, "_configs", configs)
            return
        if isinstance(schedule, (str, bytes)) or not hasattr(schedule, "__len__"):
            raise InvalidArgumentError("schedule", schedule, f"a sequence of {steps} multipliers (one per step) or None")
        if len(schedule) != steps:
            raise InvalidArgumentError("schedule", f"{len(schedule)} multipliers", f"{steps} (one per step)")
        values = tuple(to_exact(x, "schedule") for x in schedule)
        for k, value in enumerate(values):
            if value < 0:
                raise InvalidArgumentError(f"schedule[{k}]", exact_str(value), "a multiplier >= 0")
        hyper = self.config.hyper
        for value in set(values):
            changed = hyper.replace(schedule_multiplier=hyper.schedule_multiplier * value)
            configs[value] = OptimizerConfig(self.config.conventions, changed, self.config.name)
        object.__setattr__(self, "schedule", values)
        object.__setattr__(self, "_configs", configs)

    def _init_counter(self, counter: Sequence[int] | None, steps: int) -> None:
        if counter is None:
            object.__setattr__(self, "counter", None)
            return
        if isinstance(counter, (str, bytes)) or not hasattr(counter, "__len__") or len(counter) != steps:
            raise InvalidArgumentError("counter", counter, f"a sequence of {steps} step numbers (one per step) or None")
        for k, t in enumerate(counter):
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
                raise InvalidArgumentError(f"counter[{k}]", t, "an int >= 1 (the step number t of that step)")
        object.__setattr__(self, "counter", tuple(int(t) for t in counter))

    def t_at(self, k: int) -> int:
        """The step number t of step index ``k`` (0-based): ``counter[k]``, or ``initial_state.step + k + 1``."""
        if self.counter is not None:
            return self.counter[k]
        assert self.initial_state is not None
        return self.initial_state.step + k + 1

    def config_at(self, k: int) -> OptimizerConfig:
        """The configuration of step index ``k`` (0-based): ``config`` with eta_t =
        ``schedule_multiplier * schedule[k]`` (``config`` itself without a schedule)."""
        if self.schedule is None:
            return self.config
        configs: dict[Fraction, OptimizerConfig] = self.__dict__["_configs"]
        return configs[self.schedule[k]]

    def multiplier_at(self, k: int) -> Fraction:
        """eta_t of step index ``k``: ``schedule_multiplier * schedule[k]`` (or ``schedule_multiplier``)."""
        return self.config_at(k).hyper.schedule_multiplier

    def _init_arrays(self, initial_params: Any, gradients: Any) -> None:
        """Array mode (see the module docstring): validate shapes and finiteness, freeze copies."""
        params = np.array(initial_params, dtype=np.float64)
        grads = np.array(gradients, dtype=np.float64)
        if params.ndim != 1:
            raise InvalidArgumentError("initial_params", f"an array of shape {params.shape}", "a 1-d array")
        if not np.all(np.isfinite(params)):
            raise InvalidArgumentError("initial_params", "an array with inf/nan", "finite values")
        if grads.ndim != 2 or grads.shape[1] != params.shape[0]:
            raise InvalidArgumentError("gradients", f"an array of shape {grads.shape}",
                                       f"shape (steps, {params.shape[0]}): one row of {params.shape[0]} values per step")
        params.setflags(write=False)
        grads.setflags(write=False)
        object.__setattr__(self, "initial_params", params)
        object.__setattr__(self, "gradients", grads)
        if self.initial_state is None:
            object.__setattr__(self, "initial_state", zero_state(len(params)))
        elif len(self.initial_state.m) != len(params):
            raise InvalidArgumentError("initial_state", f"{len(self.initial_state.m)} elements", f"{len(params)} elements")

    @classmethod
    def from_arrays(cls, config: OptimizerConfig, initial_params: np.ndarray, gradients: np.ndarray,
                    initial_state: OptimizerState[tuple[Fraction, ...]] | None = None, name: str = "") -> Run:
        """An array-mode run: ``initial_params`` of shape ``(n,)``, ``gradients`` of shape ``(steps, n)``."""
        return cls(config, cast(Any, initial_params), cast(Any, gradients), initial_state, name)

    @property
    def is_array(self) -> bool:
        """True when the run holds its inputs as float64 arrays (a tensor-sized run)."""
        return isinstance(self.initial_params, np.ndarray)

    @property
    def steps(self) -> int:
        return len(self.gradients)

    @property
    def size(self) -> int:
        return len(self.initial_params)

    def replace(self, **changes: Any) -> Run:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description with exact strings (used by the subprocess protocol and traces)."""
        state = self.initial_state
        assert state is not None
        out: dict[str, Any] = {
            "name": self.name,
            "config": self.config.as_dict(),
            "initial_params": [_value_str(x) for x in self.initial_params],
            "gradients": [[_value_str(x) for x in row] for row in self.gradients],
            "initial_state": {
                "step": state.step,
                "m": [exact_str(x) for x in state.m],
                "v": [exact_str(x) for x in state.v],
                "vmax": [exact_str(x) for x in state.vmax],
            },
        }
        if self.schedule is not None:  # absent without a schedule: documents written before it stay valid
            out["schedule"] = [exact_str(x) for x in self.schedule]
        if self.counter is not None:  # likewise
            out["counter"] = list(self.counter)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        st = data.get("initial_state")
        state = exact_state(st["step"], st["m"], st["v"], st.get("vmax")) if st else None
        return cls(OptimizerConfig.from_dict(data["config"]), tuple(data["initial_params"]),
                   tuple(tuple(r) for r in data["gradients"]), state, data.get("name", ""),
                   schedule=data.get("schedule"), counter=data.get("counter"))


def _value_str(value: ExactOrNonFinite) -> str:
    if isinstance(value, Fraction):
        return exact_str(value)
    value = float(value)  # a float or an element of an array-mode run
    return exact_str(Fraction(value)) if math.isfinite(value) else repr(value)


def constant_gradients(values: Sequence[Any], steps: int) -> tuple[tuple[Any, ...], ...]:
    """The same gradient vector at every one of ``steps`` steps (1 to :data:`MAX_STEPS`)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise InvalidArgumentError("steps", steps, f"an int in [1, {MAX_STEPS}]")
    row = tuple(values)
    return (row,) * steps
