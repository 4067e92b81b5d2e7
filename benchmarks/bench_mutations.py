"""Benchmark 4: time for ``check`` to detect each deliberately broken implementation.

For every mutation in :data:`adamw_oracle.verify.mutations.MUTATIONS`, the wall time of
:func:`adamw_oracle.check.check_target` (float32, seed 0, up to ``examples`` cases, shrinking included)
until it returns a report, and whether that report is a failure (detected). The convention ``check``
is told to expect is the first preset (in the contract's order, Adam-family presets first, AMSGrad
form included) for which the mutation's ``applies`` says the bug changes the result; the SGD-only
mutations thus run with ``expect="torch.SGD"`` and ``check`` draws SGD cases (momentum, dampening,
nesterov). A mutation no preset exposes would be listed as not applicable. Target: median < 2 s, every
one < 30 s.
"""
from __future__ import annotations

import statistics
import time

from benchmarks.common import BenchResult

EXAMPLES = {"full": 400, "tiny": 2}
TIME_BUDGET = 30.0


def expected_preset(mutation: object) -> str | None:
    """The first preset whose conventions (plain, then with its AMSGrad form) the bug affects (the contract
    lists the Adam-family presets first, so an SGD-only mutation gets ``torch.SGD``)."""
    from adamw_oracle.contract.conventions import AmsGrad
    from adamw_oracle.contract.presets import PRESETS

    applies = mutation.applies
    for name, spec in PRESETS.items():
        variants = [spec.conventions]
        if spec.amsgrad_form is not None and spec.amsgrad_form is not AmsGrad.OFF:
            variants.append(spec.conventions.replace(amsgrad=spec.amsgrad_form))
        if any(applies(conv) for conv in variants):
            return name
    return None


def run(size: str = "full") -> BenchResult:
    result = BenchResult(4, "time to detect each mutation with check", baseline="targets only (no baseline)",
                         target="median < 2 s, every one < 30 s (until the report, shrinking included), every one detected (search budget: up to 400 cases, 30 s)")
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
        first_failure: list[float] = []
        start = time.perf_counter()

        def progress(line: str) -> None:
            if "FAIL" in line and not first_failure:
                first_failure.append(time.perf_counter() - start)

        report = check_target(mutation, expect=expect, dtype="float32", examples=EXAMPLES[size], seed=0,
                              time_budget=TIME_BUDGET, progress=progress)
        seconds = time.perf_counter() - start
        rows[mutation.name] = {"expect": expect, "seconds": seconds, "detected": not report.passed,
                               "first_failing_case_seconds": first_failure[0] if first_failure else None,
                               "cases_run": int(report.cases_run), "shrink_runs": int(report.shrink_runs)}
    if not rows:
        result.gap = "no mutation applies to a preset"
        return result
    times = [r["seconds"] for r in rows.values()]
    median = statistics.median(times)
    undetected = [name for name, r in rows.items() if not r["detected"]]
    slow = [name for name, r in rows.items() if r["seconds"] >= 30]
    result.measurements = {**{f"{name} (expect {r['expect']})": {k: v for k, v in r.items() if k != "expect"}
                              for name, r in rows.items()},
                           "median_seconds": median, "max_seconds": max(times),
                           "not applicable to check (no preset exposes the bug)": ", ".join(not_applicable) or "none"}
    result.ratios = {"median seconds / 2 s": median / 2, "max seconds / 30 s": max(times) / 30,
                     "detected / applicable": (len(rows) - len(undetected)) / len(rows)}
    result.target_met = median < 2 and not slow and not undetected
    gaps = []
    firsts = [r["first_failing_case_seconds"] for r in rows.values() if r["first_failing_case_seconds"] is not None]
    if firsts:
        result.measurements["median_first_failing_case_seconds"] = statistics.median(firsts)
    if median >= 2:
        shrink = statistics.median(r["shrink_runs"] for r in rows.values() if r["detected"]) if firsts else 0
        gaps.append(f"median {median:.2f} s >= 2 s; shrinking the counterexample (median {shrink:.0f} extra runs, "
                    "each judged against the reference) takes most of it: the first failing case is found after a "
                    f"median {statistics.median(firsts) if firsts else float('nan'):.2f} s")
    if slow:
        gaps.append("30 s or more: " + ", ".join(slow))
    if undetected:
        gaps.append(f"not detected within {EXAMPLES[size]} cases or {TIME_BUDGET:g} s: " + ", ".join(undetected))
    if "bfloat16_step_counter" in undetected:
        gaps.append(f"bfloat16_step_counter: check draws runs of at most {_check_default('max_steps')} steps from a zero state "
                    "(check/cases.py: long_runs=False, seeded=False), so a bug that only bites past step 256 "
                    "cannot show up in check; the three-way fuzz, which seeds states near step 256, is where "
                    "such a mutation is caught")
    result.gap = "; ".join(gaps)
    result.notes = ("seconds = until check_target returns, shrinking of the counterexample included (the report "
                    "the user sees); first_failing_case_seconds = until the first failing case was judged")
    return result


def _check_default(name: str) -> object:
    import inspect

    from adamw_oracle.check import check_target

    return inspect.signature(check_target).parameters[name].default
