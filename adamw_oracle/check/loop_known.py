"""A built-in target's single-run known findings, applied to a failed training loop tensor by tensor.

A loop's exact reference is one Run per tensor (:meth:`~adamw_oracle.contract.loop.Loop.tensor_run`),
so tensor i of a loop with present steps k_1 < ... < k_n *is* a single-run case::

    Case(loop.tensor_run(i), dtype)   observed as   Observation(params[i][[k_1, ..., k_n]])

and a single-run :class:`~adamw_oracle.adapters.targets.KnownFinding` (its ``occurs(case)``, its kinds and,
for value findings, its ``explained_by`` precision model) decides for that tensor exactly as ``check``
decides for a case (:func:`adamw_oracle.check.known.split_known`). A failed loop is *known* when every
failure is a failing tensor that a known finding explains; a tensor that moved without a gradient (the
loop judge's ``untouched`` failure) or an error of the loop as a whole is never explained by a
single-run finding. :func:`flushed_loop` sets aside, likewise per tensor, a failed loop of a
flush-to-zero target whose failing tensors pass through the subnormal range.
"""
from __future__ import annotations

from collections.abc import Sequence

from adamw_oracle.adapters.targets import KnownFinding
from adamw_oracle.check.findings import classify
from adamw_oracle.check.known import split_known
from adamw_oracle.check.subnormal import subnormal_intermediates
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.loop import LoopCase, LoopObservation
from adamw_oracle.verify.loop_judge import LoopJudgement


def tensor_case(case: LoopCase, observation: LoopObservation, i: int) -> tuple[Case, Observation] | None:
    """Tensor i of a loop as a single-run case and its observation (None: it never had a gradient)."""
    run = case.loop.tensor_run(i)
    if run is None:
        return None
    present = list(case.loop.tensors[i].present_steps)
    return Case(run, case.dtype), Observation(observation.params[i][present])


def explained_loop(case: LoopCase, observation: LoopObservation, verdict: LoopJudgement,
                   known: Sequence[KnownFinding]) -> tuple[str, ...] | None:
    """The ids of the known findings that explain every failure of a failed loop, or None when some
    failure is not explained (module docstring)."""
    if not known or verdict.passed or verdict.error is not None or observation.error is not None:
        return None
    if not verdict.failures or any(f.kind != "value" for f in verdict.failures):
        return None
    ids: dict[str, None] = {}
    for i in sorted({f.tensor for f in verdict.failures}):
        judged = verdict.tensors[i] if i < len(verdict.tensors) else None
        single = tensor_case(case, observation, i)
        if judged is None or single is None:
            return None
        tcase, tobs = single
        remaining, found = split_known(tcase, tobs, classify(tobs, judged), known)
        if remaining or not found:
            return None
        ids.update(dict.fromkeys(found))
    return tuple(ids)


def flushed_loop(case: LoopCase, observation: LoopObservation, verdict: LoopJudgement) -> str | None:
    """Why a failed loop of a flush-to-zero target (``flushes_subnormals``: XLA on the CPU) is set aside,
    or None: as ``check`` does for a case (:mod:`adamw_oracle.check.subnormal`), every failure must be a
    value failure of a tensor whose single-run case has an exact intermediate in the subnormal range."""
    if verdict.passed or verdict.error is not None or observation.error is not None or not verdict.failures:
        return None
    if any(f.kind != "value" for f in verdict.failures):
        return None
    reasons: list[str] = []
    for i in sorted({f.tensor for f in verdict.failures}):
        single = tensor_case(case, observation, i)
        found = subnormal_intermediates(single[0]) if single is not None else []
        if not found:
            return None
        reasons.append(f"tensor {i}: " + ", ".join(found))
    return "subnormal intermediate on a flush-to-zero target: " + "; ".join(reasons)
