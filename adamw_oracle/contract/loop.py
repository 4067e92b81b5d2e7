"""A training loop: several tensors in parameter groups, a learning-rate schedule, missing gradients and
checkpoint resumes, as one optimizer sees them.

A :class:`Loop` of ``steps`` steps holds

* ``tensors``: each a :class:`LoopTensor` with its initial parameters and, per loop step, a gradient
  row or ``None`` (the tensor has no gradient at that step: torch's ``p.grad is None``);
* ``groups``: :class:`ParamGroup` s, each a configuration and the indices of its tensors (every tensor
  in exactly one group), as torch's ``param_groups``;
* ``schedule``: one multiplier per loop step, shared by every group (torch's ``LambdaLR``: each group's
  ``lr`` is its base lr times the multiplier); all 1 by default;
* ``resume_after``: loop steps after which the optimizer's state is saved, a fresh optimizer is built and
  loaded from it, and the loop continues.

The exact reference of a loop decomposes into one :class:`~adamw_oracle.contract.run.Run` per tensor.
For tensor i of group g, with present steps K_i = {k : gradients_i[k] is not None} = {k_1 < ... < k_n}::

    Run_i = Run(config_g, initial_params_i, (grad_i[k_1], ..., grad_i[k_n]),
                schedule=(eta[k_1], ..., eta[k_n]))
    p_i after loop step k = p of Run_i after its j-th step,  j = |{k' in K_i : k' <= k}|
                            (the initial parameters when j = 0)

so a tensor's step counter t_i counts only its present steps (torch advances ``state['step']`` only for
a parameter that has a gradient), a tensor without a gradient is left untouched (no decay, no moment
decay), and a resume changes nothing (a checkpoint restores the exact state: the judged trajectory is
the uninterrupted one). A framework whose step counter is global (Keras' ``iterations``) implements
another convention for missing gradients and declares :attr:`LoopCapability.MISSING_GRADS` missing.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

import numpy as np

from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.exact import ExactInput, ExactOrNonFinite, to_exact
from adamw_oracle.contract.hyperparameters import exact_str
from adamw_oracle.contract.run import MAX_STEPS, Run, _value_str
from adamw_oracle.errors import InvalidArgumentError

_ONE = Fraction(1)


@dataclass(frozen=True, init=False)
class LoopTensor:
    """One parameter tensor of a loop: exact initial values and, per loop step, a row or ``None``."""

    initial_params: tuple[Fraction, ...]
    gradients: tuple[tuple[ExactOrNonFinite, ...] | None, ...]
    name: str = ""

    def __init__(self, initial_params: Sequence[ExactInput], gradients: Sequence[Sequence[ExactInput] | None],
                 name: str = "") -> None:
        params = tuple(to_exact(x, "initial_params") for x in initial_params)
        rows: list[tuple[ExactOrNonFinite, ...] | None] = []
        for k, row in enumerate(gradients):
            if row is None:
                rows.append(None)
                continue
            if len(row) != len(params):
                raise InvalidArgumentError(f"gradients[{k}]", f"{len(row)} values", f"{len(params)} values (one per parameter) or None")
            rows.append(tuple(to_exact(x, f"gradients[{k}]", allow_nonfinite=True) for x in row))
        object.__setattr__(self, "initial_params", params)
        object.__setattr__(self, "gradients", tuple(rows))
        object.__setattr__(self, "name", name)

    @property
    def size(self) -> int:
        return len(self.initial_params)

    @property
    def present_steps(self) -> tuple[int, ...]:
        """Loop step indices (0-based) at which the tensor has a gradient."""
        return tuple(k for k, row in enumerate(self.gradients) if row is not None)


@dataclass(frozen=True)
class ParamGroup:
    """A parameter group: one configuration for the tensors ``tensors`` (indices into ``Loop.tensors``)."""

    config: OptimizerConfig
    tensors: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.config, OptimizerConfig):
            raise InvalidArgumentError("config", self.config, "an OptimizerConfig")
        object.__setattr__(self, "tensors", tuple(self.tensors))
        if not self.tensors:
            raise InvalidArgumentError("tensors", (), "at least one tensor index (torch refuses an empty group)")


@dataclass(frozen=True, init=False)
class Loop:
    """A training loop (see the module docstring); construction validates every part."""

    tensors: tuple[LoopTensor, ...]
    groups: tuple[ParamGroup, ...]
    schedule: tuple[Fraction, ...]
    resume_after: tuple[int, ...] = ()
    name: str = ""

    def __init__(self, tensors: Sequence[LoopTensor], groups: Sequence[ParamGroup],
                 schedule: Sequence[ExactInput] | None = None, resume_after: Sequence[int] = (), name: str = "") -> None:
        tensors, groups = tuple(tensors), tuple(groups)
        if not tensors:
            raise InvalidArgumentError("tensors", (), "at least one LoopTensor")
        steps = len(tensors[0].gradients)
        if not 1 <= steps <= MAX_STEPS:
            raise InvalidArgumentError("tensors[0].gradients", f"{steps} rows", f"1 to {MAX_STEPS} steps")
        for i, tensor in enumerate(tensors):
            if len(tensor.gradients) != steps:
                raise InvalidArgumentError(f"tensors[{i}].gradients", f"{len(tensor.gradients)} rows",
                                           f"{steps} rows (every tensor has one entry per loop step)")
        owners: dict[int, int] = {}
        families = {g.config.conventions.family for g in groups}
        if len(families) > 1:
            raise InvalidArgumentError("groups", sorted(f.value for f in families), "groups of one optimizer family")
        for g, group in enumerate(groups):
            for i in group.tensors:
                if not isinstance(i, int) or not 0 <= i < len(tensors):
                    raise InvalidArgumentError(f"groups[{g}].tensors", i, f"tensor indices in [0, {len(tensors) - 1}]")
                if i in owners:
                    raise InvalidArgumentError(f"groups[{g}].tensors", i, f"a tensor not already in group {owners[i]}")
                owners[i] = g
        missing = [i for i in range(len(tensors)) if i not in owners]
        if missing:
            raise InvalidArgumentError("groups", f"no group for tensors {missing}", "every tensor in exactly one group")
        multipliers = tuple(_ONE for _ in range(steps)) if schedule is None else tuple(to_exact(x, "schedule") for x in schedule)
        if len(multipliers) != steps:
            raise InvalidArgumentError("schedule", f"{len(multipliers)} multipliers", f"{steps} (one per loop step)")
        for k, s in enumerate(multipliers):
            if s < 0:
                raise InvalidArgumentError(f"schedule[{k}]", exact_str(s), "a multiplier >= 0")
        points = tuple(sorted(set(resume_after)))
        for r in points:
            if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r < steps:
                raise InvalidArgumentError("resume_after", r, f"loop steps in [1, {steps - 1}] (resume after step r)")
        object.__setattr__(self, "tensors", tensors)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "schedule", multipliers)
        object.__setattr__(self, "resume_after", points)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_owner", owners)

    @property
    def steps(self) -> int:
        return len(self.schedule)

    def group_of(self, i: int) -> int:
        """The index of tensor i's group."""
        owners: dict[int, int] = self.__dict__["_owner"]
        return owners[i]

    def tensor_run(self, i: int) -> Run | None:
        """Tensor i's exact reference as one Run (module docstring); None when it never has a gradient."""
        tensor = self.tensors[i]
        present = tensor.present_steps
        if not present:
            return None
        rows = tuple(row for row in tensor.gradients if row is not None)
        config = self.groups[self.group_of(i)].config
        multipliers = tuple(self.schedule[k] for k in present)
        schedule = None if all(s == 1 for s in multipliers) else multipliers
        return Run(config, tensor.initial_params, rows, schedule=schedule, name=tensor.name or f"tensor {i}")

    def required_capabilities(self) -> frozenset[LoopCapability]:
        """What a target needs to run this loop as written."""
        need = set()
        if len(self.tensors) > 1:
            need.add(LoopCapability.SEVERAL_TENSORS)
        if len(self.groups) > 1:
            need.add(LoopCapability.PARAM_GROUPS)
        if any(s != 1 for s in self.schedule):
            need.add(LoopCapability.SCHEDULE)
        if any(row is None for t in self.tensors for row in t.gradients):
            need.add(LoopCapability.MISSING_GRADS)
        if self.resume_after:
            need.add(LoopCapability.RESUME)
        return frozenset(need)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description with exact strings (reproductions, reports)."""
        return {
            "name": self.name,
            "tensors": [{"name": t.name, "initial_params": [_value_str(x) for x in t.initial_params],
                         "gradients": [None if row is None else [_value_str(x) for x in row] for row in t.gradients]}
                        for t in self.tensors],
            "groups": [{"config": g.config.as_dict(), "tensors": list(g.tensors)} for g in self.groups],
            "schedule": [exact_str(s) for s in self.schedule],
            "resume_after": list(self.resume_after),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Loop:
        tensors = [LoopTensor(t["initial_params"], t["gradients"], t.get("name", "")) for t in data["tensors"]]
        groups = [ParamGroup(OptimizerConfig.from_dict(g["config"]), tuple(g["tensors"])) for g in data["groups"]]
        return cls(tensors, groups, data.get("schedule"), data.get("resume_after", ()), data.get("name", ""))


@dataclass(frozen=True)
class LoopCase:
    """A loop in one dtype, as handed to a loop implementation (every value a value of ``dtype``)."""

    loop: Loop
    dtype: Dtype

    def __post_init__(self) -> None:
        if not isinstance(self.loop, Loop):
            raise InvalidArgumentError("loop", type(self.loop).__name__, "a Loop")
        object.__setattr__(self, "dtype", Dtype.parse(self.dtype, "dtype"))

    def initial_params(self, i: int) -> np.ndarray:
        return np.array([float(x) for x in self.loop.tensors[i].initial_params], dtype=np.float64)

    def gradient(self, i: int, k: int) -> np.ndarray | None:
        """Tensor i's gradient at loop step k as float64 (None: no gradient at that step)."""
        row = self.loop.tensors[i].gradients[k]
        return None if row is None else np.array([float(g) for g in row], dtype=np.float64)


@dataclass(frozen=True)
class LoopObservation:
    """What a loop implementation produced: ``params[i][k]`` is tensor i after loop step k+1 (shape
    ``(steps, n_i)``, float64 holding values of the dtype), or ``error`` (params may be partial)."""

    params: tuple[np.ndarray, ...]
    error: str | None = None
    findings: tuple[str, ...] = field(default=())


@runtime_checkable
class LoopImplementation(Protocol):
    """Anything whose training loops can be checked: a name, the loop features it supports and
    ``run_loop(case) -> LoopObservation``."""

    name: str
    loop_capabilities: frozenset[LoopCapability]

    def run_loop(self, case: LoopCase) -> LoopObservation: ...
