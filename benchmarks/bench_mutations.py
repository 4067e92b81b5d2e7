"""Benchmark 4: time for ``check`` to detect each deliberately broken implementation.

For every mutation in :data:`adamw_oracle.verify.mutations.MUTATIONS`, the wall time of
:func:`adamw_oracle.check.check_target` (float32, seed 0, up to ``examples`` cases, shrinking included)
until it returns a report, and whether that report is a failure (detected). The convention ``check``
is told to expect is the first Adam-family preset (in the contract's order, AMSGrad form included)
for which the mutation's ``applies`` says the bug changes the result. ``check`` drives Adam-family
optimizers only, so SGD-only mutations are listed as not applicable. Target: median < 2 s, every one
< 30 s.
"""
from __future__ import annotations

import statistics
import time

from benchmarks.common import BenchResult

EXAMPLES = {"full": 50, "tiny": 2}
TIME_BUDGET = 30.0


def expected_preset(mutation: object) -> str | None:
    """The first Adam-family preset whose conventions (plain, then with its AMSGrad form) the bug affects."""
    from adamw_oracle.contract.conventions import AmsGrad, Family
    from adamw_oracle.contract.presets import PRESETS

    applies = getattr(mutation, "applies")
    for name, spec in PRESETS.items():
        if spec.conventions.family is not Family.ADAM:
            continue
        variants = [spec.conventions]
        if spec.amsgrad_form is not None and spec.amsgrad_form is not AmsGrad.OFF:
            variants.append(spec.conventions.replace(amsgrad=spec.amsgrad_form))
        if any(applies(conv) for conv in variants):
            return name
    return None


def run(size: str = "full") -> BenchResult:
    result = BenchResult(4, "time to detect each mutation with check", baseline="targets only (no baseline)",
                         target="median < 2 s, every one < 30 s, every one detected")
    try:
        from adamw_oracle.check import check_target
        from adamw_oracle.verify.mutations import MUTATIONS
    except ImportError as exc:
        result.gap = f"cannot run here: {exc}"
        return result
    mutations = list(MUTATIONS)[:2] if size == "tiny" else list(MUTATIONS)
    rows: dict[str, dict] = {}
    not_applicable = []
    for mutation in mutations:
        expect = expected_preset(mutation)
        if expect is None:
            not_applicable.append(mutation.name)
            continue
        start = time.perf_counter()
        report = check_target(mutation, expect=expect, dtype="float32", examples=EXAMPLES[size], seed=0,
                              time_budget=TIME_BUDGET)
        seconds = time.perf_counter() - start
        rows[mutation.name] = {"expect": expect, "seconds": seconds, "detected": not report.passed,
                               "cases_run": int(report.cases_run)}
    if not rows:
        result.gap = "no mutation applies to an Adam-family preset"
        return result
    times = [r["seconds"] for r in rows.values()]
    median = statistics.median(times)
    undetected = [name for name, r in rows.items() if not r["detected"]]
    slow = [name for name, r in rows.items() if r["seconds"] >= 30]
    result.measurements = {**{f"{name} (expect {r['expect']})": {k: v for k, v in r.items() if k != "expect"}
                              for name, r in rows.items()},
                           "median_seconds": median, "max_seconds": max(times),
                           "not applicable to check (SGD family)": ", ".join(not_applicable) or "none"}
    result.target_met = median < 2 and not slow and not undetected
    gaps = []
    if median >= 2:
        gaps.append(f"median {median:.2f} s >= 2 s")
    if slow:
        gaps.append("30 s or more: " + ", ".join(slow))
    if undetected:
        gaps.append("not detected within the budget: " + ", ".join(undetected))
    result.gap = "; ".join(gaps)
    return result
