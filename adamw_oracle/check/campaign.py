"""Merging the shard reports of one ``check`` campaign into its report.

:func:`~adamw_oracle.check.runner.check_target` searches a campaign shard by shard
(:mod:`adamw_oracle.verify.distributed`) and stops after the first shard with a finding; the shard
reports arrive here in shard order, so the merged report is the same on every engine:

* counts (cases, shrink runs, per-element verdicts, findings per kind, known findings, cases set aside,
  set-aside reasons, stored-state verdicts, cases per judge mode) add up;
* ``max_fraction_of_bound`` is the largest over the shards; a time budget reached in any shard counts;
* findings and the counterexample are those of the failing shard (the last one, when there is one),
  whose failure was shrunk in the process that ran it;
* the versions are this process's; a worker that reports different ones is named under ``workers``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adamw_oracle.check.outcome import CheckReport


def merge_reports(parts: Sequence[CheckReport], *, examples: int, seed: int, versions: dict[str, str],
                  seconds: float) -> CheckReport:
    """The campaign's report from its shard reports ``parts`` (in shard order, at least one)."""
    if not parts:
        raise ValueError("merge_reports needs at least one shard report")
    first = parts[0]
    merged = dataclasses.replace(
        first, versions=dict(versions), seed=seed, examples=examples, cases_run=0, shrink_runs=0,
        counts={k: 0 for k in first.counts}, finding_counts={k: 0 for k in first.finding_counts}, findings=[],
        counterexample=None, max_fraction_of_bound=0.0, seconds=seconds, stopped_by_budget=False,
        cases_set_aside=0, set_aside_reasons=[], known_counts={}, shards=len(parts), ill_reasons={},
        state_counts={k: 0 for k in first.state_counts}, judge_modes={}, outside_evidence={}, degenerate={})
    differing: list[str] = []
    for index, part in enumerate(parts):
        merged.cases_run += part.cases_run
        merged.shrink_runs += part.shrink_runs
        for key, count in part.counts.items():
            merged.counts[key] = merged.counts.get(key, 0) + count
        for kind, count in part.finding_counts.items():
            merged.finding_counts[kind] = merged.finding_counts.get(kind, 0) + count
        merged.findings.extend(part.findings)
        if merged.counterexample is None:
            merged.counterexample = part.counterexample
        merged.max_fraction_of_bound = max(merged.max_fraction_of_bound, part.max_fraction_of_bound)
        merged.stopped_by_budget = merged.stopped_by_budget or part.stopped_by_budget
        for kid, count in part.known_counts.items():
            merged.known_counts[kid] = merged.known_counts.get(kid, 0) + count
        for into, counts in ((merged.ill_reasons, part.ill_reasons), (merged.state_counts, part.state_counts),
                             (merged.judge_modes, part.judge_modes), (merged.degenerate, part.degenerate)):
            for key, count in counts.items():
                into[key] = into.get(key, 0) + count
        for kid, text in part.outside_evidence.items():
            merged.outside_evidence.setdefault(kid, text)
        merged.cases_set_aside += part.cases_set_aside
        merged.set_aside_reasons.extend(part.set_aside_reasons)
        other = {k: v for k, v in part.versions.items() if versions.get(k) != v}
        if other:
            differing.append(f"shard {index + 1}: " + ", ".join(f"{k} {v}" for k, v in other.items()))
    if differing:
        merged.versions["workers"] = "differ from this process: " + "; ".join(differing)
    merged.passed = not merged.findings and not merged.inconclusive
    return merged
