"""Judge a training loop tensor by tensor against its exact reference.

A loop's exact reference is one :class:`~adamw_oracle.contract.run.Run` per tensor
(:meth:`~adamw_oracle.contract.loop.Loop.tensor_run`, equation in :mod:`adamw_oracle.contract.loop`).
For tensor i with present steps k_1 < ... < k_n:

* the rows of the observation at the present steps are judged as that Run by the vectorized judge
  (:func:`~adamw_oracle.verify.vectorized.judge_vectorized`: per-element rigorous bound, per dtype);
* at an absent step the tensor must be *bit-for-bit* what it was after its previous step (or its initial
  value): a parameter without a gradient is untouched (torch skips it: no decay, no update).

A failure names the tensor, its group and the loop step (1-based), so a crossed group or a schedule
ignored from step 2 on points at where it happens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.loop import LoopCase, LoopObservation
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.verify.judge import SLACK, Judgement
from adamw_oracle.verify.vectorized import judge_vectorized


@dataclass(frozen=True)
class LoopFailure:
    """Where a loop first went wrong: tensor, group, loop step (1-based) and what was seen."""

    tensor: int
    group: int
    step: int
    element: int
    message: str
    kind: str = "value"  # "value": the tensor's Run is judged outside bound; "untouched": it moved without a gradient

    def describe(self) -> str:
        return f"tensor {self.tensor} (group {self.group}), loop step {self.step}, element {self.element}: {self.message}"


@dataclass(frozen=True)
class LoopJudgement:
    """The verdict of a loop: per-tensor judgements (None for a tensor that never had a gradient),
    summed counts, the first failure in loop-step order and every failure (``failures``)."""

    passed: bool
    counts: dict[str, int]
    tensors: tuple[Judgement | None, ...]
    failure: LoopFailure | None
    error: str | None = None
    failures: tuple[LoopFailure, ...] = ()

    @property
    def inconclusive(self) -> bool:
        """No parameter element-step was within or outside a bound and nothing failed (every tensor
        empty or set aside): no PASS, as :attr:`adamw_oracle.verify.judge.Judgement.inconclusive`."""
        return self.passed and self.counts["within"] + self.counts["outside"] == 0

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``INCONCLUSIVE``."""
        return "FAIL" if not self.passed else "INCONCLUSIVE" if self.inconclusive else "PASS"


def judge_loop(case: LoopCase, observation: LoopObservation, precision: PrecisionModel | None = None, *,
               slack: float = SLACK) -> LoopJudgement:
    """Judge every tensor of ``case`` (see the module docstring)."""
    loop = case.loop
    precision = precision or PrecisionModel.conservative(case.dtype)
    counts = {"within": 0, "outside": 0, "ill_conditioned": 0, "untouched": 0}
    if observation.error is not None:
        return LoopJudgement(False, counts, (), None, observation.error)
    if len(observation.params) != len(loop.tensors):
        return LoopJudgement(False, counts, (), None,
                             f"the observation has {len(observation.params)} tensors, the loop {len(loop.tensors)}")
    failures: list[LoopFailure] = []
    verdicts: list[Judgement | None] = []
    for i, tensor in enumerate(loop.tensors):
        group = loop.group_of(i)
        rows = np.asarray(observation.params[i], dtype=np.float64)
        if rows.shape != (loop.steps, tensor.size):
            return LoopJudgement(False, counts, tuple(verdicts), None,
                                 f"tensor {i}: shape {rows.shape}, expected {(loop.steps, tensor.size)}")
        present = tensor.present_steps
        previous = case.initial_params(i)
        for k in range(loop.steps):
            if tensor.gradients[k] is None:
                changed = ~((rows[k] == previous) | (np.isnan(rows[k]) & np.isnan(previous)))
                if np.any(changed):
                    e = int(np.argmax(changed))
                    failures.append(LoopFailure(i, group, k + 1, e, f"no gradient at this step, yet the parameter "
                                                f"changed from {previous[e]!r} to {rows[k, e]!r}", "untouched"))
                counts["untouched"] += tensor.size
            previous = rows[k]
        run = loop.tensor_run(i)
        if run is None:
            verdicts.append(None)
            continue
        verdict = judge_vectorized(Case(run, case.dtype), Observation(rows[list(present)]), precision, slack=slack)
        verdicts.append(verdict)
        for name in ("within", "outside", "ill_conditioned"):
            counts[name] += verdict.counts.get(name, 0)
        if not verdict.passed:
            if verdict.first_failure is not None:
                f = verdict.first_failure
                failures.append(LoopFailure(i, group, present[f.step - 1] + 1, f.element,
                                            f"observed {f.observed!r}, exact {float(f.exact)!r}, allowed error "
                                            f"{f.bound:.3g} ({f.fraction_of_bound:.3g} of the bound)"))
            else:
                failures.append(LoopFailure(i, group, present[0] + 1, 0, verdict.error or "not judgeable"))
    first = min(failures, key=lambda f: (f.step, f.tensor)) if failures else None
    return LoopJudgement(not failures, counts, tuple(verdicts), first, failures=tuple(failures))
