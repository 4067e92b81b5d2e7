"""The power of ``check``: run it, with its default case options, against a deliberately broken step.

:func:`check_hunt` is what benchmark 4 and the mutation meta-tests measure: whether ``check`` (50
cases, the default case space of :mod:`adamw_oracle.check.cases`, the mutation's declared precision)
reports a failure, and how long the first failing case took. Shrinking is skipped (``shrink_runs=0``):
it does not change whether a bug is detected.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from adamw_oracle.check.runner import check_target
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.meta import expected_preset
from adamw_oracle.verify.mutations import Mutation


@dataclass(frozen=True)
class CheckHunt:
    """Outcome of one ``check`` run against a mutation (shrinking skipped: detection only)."""

    mutation: Mutation
    dtype: str
    seed: int
    detected: bool
    seconds_to_detect: float | None  # until the first failing case was judged
    seconds: float  # until check_target returned
    cases_run: int


def check_hunt(mutation: Mutation, dtype: str = "float32", seed: int = 0, *, examples: int = 50,
               judge_mode: str = "auto") -> CheckHunt:
    """Run ``check`` with its default case options (``examples`` cases, no shrinking) against ``mutation``,
    expecting :func:`expected_preset`; ``judge_mode`` as in :func:`~adamw_oracle.check.check_target`
    (``auto``: per step when the mutation shows its state per step, else the whole trajectory).

    Raises:
        InvalidArgumentError: no preset exposes the mutation.
    """
    expect = expected_preset(mutation)
    if expect is None:
        raise InvalidArgumentError("mutation", mutation.name, "a mutation some preset exposes")
    first: list[float] = []
    start = time.perf_counter()

    def progress(line: str) -> None:
        if "FAIL" in line and not first:
            first.append(time.perf_counter() - start)

    report = check_target(mutation, expect=expect, dtype=dtype, examples=examples, seed=seed, shrink_runs=0,
                          progress=progress, judge_mode=judge_mode)
    return CheckHunt(mutation, dtype, seed, not report.passed, first[0] if first else None,
                     time.perf_counter() - start, int(report.cases_run))
