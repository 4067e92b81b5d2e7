"""Deliberately broken training loops, each modelled on a real reported bug.

Each is a :class:`~adamw_oracle.verify.loop_impl.NumpyLoopImplementation` with one loop hook broken;
its single-tensor steps are correct, so the default single-tensor ``check`` (one tensor, one group, a
fixed learning rate, no resume) cannot see it, and only the loop check
(:mod:`adamw_oracle.check.loops`) with the capability named in ``needs`` catches it. ``models`` cites
the real report.
"""
from __future__ import annotations

from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.loop import Loop, LoopCase
from adamw_oracle.verify.loop_impl import NumpyLoopImplementation, TensorState


class LoopMutation(NumpyLoopImplementation):
    """A broken loop: ``name``, the real report it imitates (``models``), the capability that exposes it."""

    name = "loop-mutation"
    models = ""
    summary = ""
    needs: LoopCapability = LoopCapability.RESUME

    def __init__(self) -> None:
        super().__init__(name=type(self).name)


class StepCounterResetOnResume(LoopMutation):
    name = "step_counter_reset_on_resume"
    summary = "loading a checkpoint restores m and v but restarts every step counter at 0 (bias correction restarts)"
    models = ("deepspeedai/DeepSpeed#564: cpu-adam kept its own step count, which was not restored from the checkpoint "
              "on load; pytorch/FBGEMM#2884: the optimizer's iteration counter was not checkpointed and was reset to "
              "zero after a preemption")
    needs = LoopCapability.RESUME

    def restore(self, saved: list[TensorState | None]) -> list[TensorState | None]:
        restored = super().restore(saved)
        for state in restored:
            if state is not None:
                state.step = 0
        return restored


class ScheduleIgnoredAfterFirstStep(LoopMutation):
    name = "schedule_ignored_after_first_step"
    summary = "the learning rate of the first step is kept: changes made by the schedule afterwards have no effect"
    models = ("pytorch/examples#64: adjust_learning_rate wrote the new lr into optimizer.state_dict()['param_groups'], "
              "a copy, so the optimizer kept its first lr; NVIDIA/apex#766: LARC's param_groups went stale after "
              "load_state_dict and lr schedulers had no effect on the wrapped optimizer")
    needs = LoopCapability.SCHEDULE

    def multiplier(self, loop: Loop, k: int) -> float:
        return float(loop.schedule[0])


class ParamGroupsCrossed(LoopMutation):
    name = "param_group_hyperparameters_crossed"
    summary = "the first two parameter groups swap lr and weight decay (each group's tensors see the other's)"
    models = ("LiyuanLucasLiu/RAdam#24: a step size cached across parameter groups made every group train with the "
              "first group's learning rate; ArrowLuo/CLIP4Clip#11: weight decay given to the no-decay group and not "
              "to the decay group")
    needs = LoopCapability.PARAM_GROUPS

    def group_hyper(self, case: LoopCase, g: int) -> dict[str, object]:
        hyper = super().group_hyper(case, g)
        if len(case.loop.groups) < 2 or g > 1:
            return hyper
        other = super().group_hyper(case, 1 - g)
        return dict(hyper, lr=other["lr"], weight_decay=other["weight_decay"])


LOOP_MUTATIONS: tuple[type[LoopMutation], ...] = (StepCounterResetOnResume, ScheduleIgnoredAfterFirstStep, ParamGroupsCrossed)
"""Every loop mutation, in a fixed order."""
