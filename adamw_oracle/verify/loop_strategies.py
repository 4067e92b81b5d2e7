"""Hypothesis strategies for training loops (:class:`~adamw_oracle.contract.loop.Loop`).

A drawn loop uses only the loop features in ``capabilities`` (what the target declares), so a target
is never asked for one it lacks:

* ``SEVERAL_TENSORS``: 1 to ``max_tensors`` tensors of sizes from
  :func:`~adamw_oracle.verify.strategies.sizes` (around vector widths), else one;
* ``PARAM_GROUPS``: 1 to ``max_groups`` groups, each with its own configuration drawn from
  :func:`~adamw_oracle.verify.strategies.configs` (no per-config schedule multiplier: the loop's
  schedule is the only one), every group non-empty;
* ``SCHEDULE``: a per-step multiplier from :data:`MULTIPLIERS` (warm-up-like rises, decays, a jump
  back to 1), else all 1;
* ``MISSING_GRADS``: a tensor has no gradient at a step with probability about 1/4, and sometimes only
  from a later step on (the first-gradient-arrives-late case);
* ``RESUME``: up to two resume points.

Gradients and initial parameters are the public strategies' (values of the dtype). ``fit`` adapts each
group's configuration to the target (e.g. :func:`adamw_oracle.check.cases.fit_to_target`'s rules).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction

from hypothesis import strategies as st

from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions, Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.loop import Loop, LoopTensor, ParamGroup
from adamw_oracle.verify.strategies import configs, gradient_sequences, parameter_vectors, sizes

MULTIPLIERS = (1.0, 0.5, 0.25, 0.1, 2.0, 1.0 / 3.0, 0.01)
"""Schedule multipliers drawn per step (binary floats, taken as their exact values)."""


@st.composite
def loops(draw: st.DrawFn, conventions: Iterable[Conventions], dtype: Dtype,
          capabilities: frozenset[LoopCapability] = frozenset(LoopCapability), *, max_tensors: int = 3,
          max_groups: int = 2, max_size: int = 17, max_steps: int = 8,
          fit: Callable[[OptimizerConfig], OptimizerConfig] | None = None) -> Loop:
    """A loop over ``conventions`` in ``dtype`` that needs only ``capabilities`` (module docstring)."""
    pool = list(conventions)
    n_tensors = draw(st.integers(1, max_tensors)) if LoopCapability.SEVERAL_TENSORS in capabilities else 1
    n_groups = draw(st.integers(1, min(max_groups, n_tensors))) if LoopCapability.PARAM_GROUPS in capabilities else 1
    steps = draw(st.integers(1, max_steps))
    group_configs = []
    for _ in range(n_groups):
        config = draw(configs(pool, schedules=False))
        group_configs.append(fit(config) if fit is not None else config)
    owner = [i if i < n_groups else draw(st.integers(0, n_groups - 1)) for i in range(n_tensors)]
    tensors = []
    for i in range(n_tensors):
        size = draw(sizes(max_size))
        conv = group_configs[owner[i]].conventions
        eps = float(group_configs[owner[i]].hyper.eps) if conv.family is Family.ADAM else 1e-8
        params = draw(parameter_vectors(dtype, size))
        rows: list[tuple[Fraction, ...] | None] = list(draw(gradient_sequences(dtype, size, steps, eps)))
        if LoopCapability.MISSING_GRADS in capabilities:
            late = draw(st.integers(0, steps - 1)) if draw(st.integers(0, 3)) == 0 else 0
            for k in range(steps):
                if k < late or draw(st.integers(0, 3)) == 0:
                    rows[k] = None
        tensors.append(LoopTensor(params, rows, name=f"t{i}"))
    schedule: list[float] = [1.0] * steps
    if LoopCapability.SCHEDULE in capabilities and draw(st.integers(0, 4)):
        schedule = [draw(st.sampled_from(MULTIPLIERS)) for _ in range(steps)]
    resume: list[int] = []
    if LoopCapability.RESUME in capabilities and steps >= 2:
        resume = draw(st.lists(st.integers(1, steps - 1), max_size=2, unique=True))
    groups = [ParamGroup(group_configs[g], tuple(i for i in range(n_tensors) if owner[i] == g)) for g in range(n_groups)]
    return Loop(tensors, groups, schedule, resume, name="drawn")
