"""Rendering a :class:`~adamw_oracle.check.outcome.CheckReport`: header, result table, JSON."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from adamw_oracle.check.findings import KINDS
from adamw_oracle.contract.capabilities import SGD_ONLY, Capability
from adamw_oracle.contract.conventions import Family

if TYPE_CHECKING:
    from adamw_oracle.check.outcome import CheckReport


def report_header(r: CheckReport) -> str:
    """What was tested, exactly: target, versions, expected convention, dtype, seed, examples."""
    versions = ", ".join(f"{k} {v}" for k, v in r.versions.items())
    seeded = Capability.SEEDED_STATE.value
    return "\n".join([
        f"target:     {r.target}",
        f"versions:   {versions}",
        f"convention: {r.expected.describe()}",
        f"dtype:      {r.dtype.value}   seed: {r.seed}   examples: {r.examples}",
        *([f"precision:  {r.precision}"] if r.precision else []),
        *([f"options:    {', '.join(c for c in r.capabilities if c != seeded) or 'none'} "
           f"(lacks {', '.join(lacking)}: no case needs it)"]
          if r.capabilities is not None and (lacking := [c.value for c in Capability
                                                         if c.value not in r.capabilities and c.value != seeded
                                                         and (r.expected.family is Family.SGD or c not in SGD_ONLY)])
          else []),
        *([("state:      seeded states injected (long states near steps 2^8 ... 10^12)" if seeded in r.capabilities
            else "state:      fresh optimizer only (genuinely long runs instead of seeded states)")]
          if r.capabilities is not None else []),
        f"restricted: {'; '.join(r.restrictions) if r.restrictions else 'nothing (the whole case space)'}",
        *([f"known:      {', '.join(k.id for k in r.known)} (declared in adamw_oracle.adapters.targets)"] if r.known else []),
    ])


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    values = max([30, *(len(v) for _, v in rows)])
    line = "+" + "-" * (width + 2) + "+" + "-" * (values + 2) + "+"
    body = [f"| {k.ljust(width)} | {v.ljust(values)} |" for k, v in rows]
    return "\n".join([line, *body, line])


def render_report(r: CheckReport) -> str:
    """The full human-readable report: header, result table, findings, counterexample."""
    verdict = {"KNOWN": "KNOWN (declared findings only)", "OUTSIDE_CONTRACT": "OUTSIDE THE CONTRACT",
               "INCONCLUSIVE": "INCONCLUSIVE (nothing could be judged)"}.get(r.verdict, r.verdict)
    if r.weak:
        verdict = f"weak {verdict}: {r.set_aside_share:.0%} set aside" + (
            f", {r.degenerate_share:.0%} degenerate" if r.degenerate else "")
    rows = [
        ("result", verdict),
        ("cases run", f"{r.cases_run}" + (" (time budget reached)" if r.stopped_by_budget else "")),
        ("judged", ", ".join(f"{n} {mode}" for mode, n in sorted(r.judge_modes.items())) or "-"),
        ("elements within bound", str(r.counts["within"])),
        *([("  of which degenerate (checked exactly)", f"{sum(r.degenerate.values())} ({r.degenerate_share:.1%})")]
          if r.degenerate else []),
        *[(f"    {reason}", str(n)) for reason, n in sorted(r.degenerate.items())],
        ("elements outside bound", str(r.counts["outside"])),
        ("ill-conditioned (set aside)", f"{r.counts['ill_conditioned']} ({r.set_aside_share:.1%})"),
        *[(f"  {reason}", str(n)) for reason, n in sorted(r.ill_reasons.items())],
        ("max error / bound", "inf" if math.isinf(r.max_fraction_of_bound) else f"{r.max_fraction_of_bound:.3g}"),
    ]
    if sum(r.state_counts.values()):
        s = r.state_counts
        rows.append(("stored state (per-step)", f"{s['within']} within, {s['outside']} outside, {s['ill_conditioned']} set aside"))
    if r.cases_set_aside:
        rows.append(("cases set aside (flush-to-zero)", str(r.cases_set_aside)))
    rows += [(f"cases with {k}", str(n)) for k, n in r.finding_counts.items() if n]
    rows += [(f"cases with known {k}", str(n)) for k, n in r.known_counts.items()]
    rows += [("shrink runs", str(r.shrink_runs)), ("seconds", f"{r.seconds:.1f}")]
    parts = [report_header(r), _table(rows)]
    if r.findings:
        parts.append("findings:\n" + "\n".join(f"  - {f.describe()}" for f in r.findings))
    outside = r.outside_contract
    if outside:
        parts.append("outside the contract (neither verified nor failed; no convention or precision model expresses it):\n"
                     + "\n".join(f"  - {k.id}: {k.summary}" + (f"\n    source: {k.evidence}" if k.evidence else "")
                                 + (f"\n    observed: {r.outside_evidence[k.id]}" if k.id in r.outside_evidence else "")
                                 for k in outside))
    seen = [k for k in r.known if k.id in r.known_counts and not k.outside_contract]
    if seen:
        parts.append("known findings seen (not held against the target):\n"
                     + "\n".join(f"  - {k.id}: {k.summary}" for k in seen))
    if r.counterexample is not None:
        parts.append(r.counterexample.describe())
    return "\n".join(parts)


def report_dict(r: CheckReport) -> dict[str, Any]:
    """JSON-ready report (``adamw-oracle check --json``)."""
    return {
        "target": r.target, "versions": r.versions,
        "expected": {"label": r.expected.label, "conventions": r.expected.conventions.as_dict(),
                     "amsgrad_form": r.expected.amsgrad_form.value if r.expected.amsgrad_form else None},
        "dtype": r.dtype.value, "seed": r.seed, "examples": r.examples, "precision": r.precision,
        "capabilities": None if r.capabilities is None else list(r.capabilities),
        "restrictions": list(r.restrictions),
        "passed": r.passed, "verdict": r.verdict, "inconclusive": r.inconclusive,
        "known": [k.id for k in r.known], "known_counts": dict(r.known_counts),
        "outside_contract": [{"id": k.id, "summary": k.summary, "source": k.evidence,
                              "observed": r.outside_evidence.get(k.id)} for k in r.outside_contract], "cases_run": r.cases_run, "shrink_runs": r.shrink_runs,
        "counts": dict(r.counts), "finding_counts": {k: r.finding_counts.get(k, 0) for k in KINDS},
        "max_fraction_of_bound": None if math.isinf(r.max_fraction_of_bound) else r.max_fraction_of_bound,
        "findings": [f.as_dict() for f in r.findings],
        "counterexample": r.counterexample.as_dict() if r.counterexample else None,
        "seconds": r.seconds, "stopped_by_budget": r.stopped_by_budget,
        "cases_set_aside": r.cases_set_aside, "set_aside_reasons": list(r.set_aside_reasons), "shards": r.shards,
        "strength": r.strength(),
    }
