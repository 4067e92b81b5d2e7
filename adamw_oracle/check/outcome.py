"""What ``check`` produces: one case's result, the shrunk counterexample and the whole report."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adamw_oracle.adapters.targets import KnownFinding
from adamw_oracle.check.expected import ExpectedConvention
from adamw_oracle.check.findings import KINDS, Finding
from adamw_oracle.check.report import render_report, report_dict, report_header
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.verify.strategies import describe_case


@dataclass(frozen=True)
class CaseResult:
    """One case: what the target returned, the judge's verdict and the findings."""

    case: Case
    observation: Observation
    judgement: Any | None
    findings: tuple[Finding, ...]
    seconds: float
    set_aside: str | None = None  # why a failing case was not held against the target
    known: tuple[str, ...] = ()  # ids of the declared known findings the case showed (not held against it)

    @property
    def failed(self) -> bool:
        return bool(self.findings)


@dataclass(frozen=True)
class Counterexample:
    """The minimal failing case found by shrinking, with everything needed to act on it."""

    case: Case
    findings: tuple[Finding, ...]
    verdict: str
    reproduction: str
    observed: list[list[float]]

    def describe(self) -> str:
        lines = ["minimal counterexample:", _indent(describe_case(self.case))]
        lines += [f"  {f.describe()}" for f in self.findings]
        lines += ["  verdict: " + self.verdict.replace("\n", "\n  "), "reproduce with:", _indent(self.reproduction)]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"case": {"run": self.case.run.as_dict(), "dtype": self.case.dtype.value},
                "findings": [f.as_dict() for f in self.findings], "verdict": self.verdict,
                "observed": self.observed, "reproduction": self.reproduction}


WEAK_SHARE = 0.10
"""A pass that set aside more than this share of its element-steps as ill-conditioned is marked weak
("weak PASS: 41% set aside"): most of what it claims was not judged. Judging each step from the
target's own state (``judge_mode="per-step"``) keeps torch.AdamW's float16/bfloat16 long runs below 5%
(benchmarks/results.md, docs/error-model.md)."""


@dataclass
class CheckReport:
    """The result of :func:`check_target`.

    ``passed`` is True when no case had a finding and at least one element was judged within its bound.
    ``counts`` sums the judge's per-element verdicts (within / outside / ill_conditioned) over the cases
    of the search phase; ``finding_counts`` counts cases per finding kind. Findings explained by one of
    the target's declared known findings (``known``, see :mod:`adamw_oracle.check.known`) do not fail a
    case; ``known_counts`` counts the cases that showed each, and :attr:`verdict` is then ``KNOWN``.
    """

    target: str
    versions: dict[str, str]
    expected: ExpectedConvention
    dtype: Dtype
    seed: int
    examples: int
    passed: bool = True
    cases_run: int = 0
    shrink_runs: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"within": 0, "outside": 0, "ill_conditioned": 0})
    finding_counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    findings: list[Finding] = field(default_factory=list)
    counterexample: Counterexample | None = None
    max_fraction_of_bound: float = 0.0
    seconds: float = 0.0
    stopped_by_budget: bool = False
    cases_set_aside: int = 0
    set_aside_reasons: list[str] = field(default_factory=list)
    precision: str = ""
    #: the target's optional switches (names; None: not recorded); cases needing one it lacks are never drawn
    capabilities: tuple[str, ...] | None = None
    known: tuple[KnownFinding, ...] = ()
    known_counts: dict[str, int] = field(default_factory=dict)
    #: the user's restrictions of the case space, one phrase each (empty: the whole space)
    restrictions: tuple[str, ...] = ()
    shards: int = 1
    #: element-steps set aside, per reason (summed over the judged cases; the parameters'
    #: ``counts["ill_conditioned"]`` split by why: non-finite input, ill-conditioned divisor, possible overflow)
    ill_reasons: dict[str, int] = field(default_factory=dict)
    #: per-step judging: verdicts on the stored state (m, v, vmax elements and the step counter) after each step
    state_counts: dict[str, int] = field(default_factory=lambda: {"within": 0, "outside": 0, "ill_conditioned": 0})
    #: cases judged per mode (``per-step``: re-synced from the target's own state; ``trajectory``)
    judge_modes: dict[str, int] = field(default_factory=dict)
    #: per-step judging: element-steps counted within bound whose value is exactly determined (degenerate:
    #: a 0/0 the declared precision forces, a NaN parameter carried on), per reason
    degenerate: dict[str, int] = field(default_factory=dict)
    #: per outside-the-contract known finding seen, what the first case that showed it observed
    outside_evidence: dict[str, str] = field(default_factory=dict)

    def add_judgement(self, judgement: Any) -> None:
        """Add one judged case's reasons, state verdicts and mode (its ``counts`` are added by the caller)."""
        for reason, count in getattr(judgement, "ill_reasons", {}).items():
            self.ill_reasons[reason] = self.ill_reasons.get(reason, 0) + count
        for key, count in getattr(judgement, "state_counts", {}).items():
            self.state_counts[key] = self.state_counts.get(key, 0) + count
        for reason, count in getattr(judgement, "degenerate", {}).items():
            self.degenerate[reason] = self.degenerate.get(reason, 0) + count
        mode = getattr(judgement, "mode", "trajectory")
        self.judge_modes[mode] = self.judge_modes.get(mode, 0) + 1

    @property
    def set_aside_share(self) -> float:
        """The share of the parameters' element-steps set aside as ill-conditioned (0 when none ran)."""
        total = sum(self.counts.values())
        return self.counts["ill_conditioned"] / total if total else 0.0

    @property
    def degenerate_share(self) -> float:
        """The share of the parameters' element-steps that were degenerate (exactly determined; counted
        within bound, see :attr:`degenerate`)."""
        total = sum(self.counts.values())
        return sum(self.degenerate.values()) / total if total else 0.0

    @property
    def weak(self) -> bool:
        """A PASS (or KNOWN) that says little: more than :data:`WEAK_SHARE` of the element-steps were set
        aside unjudged or were degenerate (checked exactly, but a forced NaN says nothing of the
        optimizer's arithmetic; see :meth:`strength`)."""
        return self.passed and self.set_aside_share + self.degenerate_share > WEAK_SHARE

    def strength(self) -> dict[str, Any]:
        """How strong the verdict is: element-steps judged, set aside (with the reasons), the share set
        aside and whether that makes a pass weak, the state verdicts and the cases per judge mode."""
        judged = self.counts["within"] + self.counts["outside"]
        return {"elements_judged": judged, "set_aside": self.counts["ill_conditioned"],
                "set_aside_share": self.set_aside_share, "set_aside_reasons": dict(sorted(self.ill_reasons.items())),
                "degenerate": sum(self.degenerate.values()), "degenerate_share": self.degenerate_share,
                "degenerate_reasons": dict(sorted(self.degenerate.items())),
                "weak": self.weak, "weak_threshold": WEAK_SHARE, "state": dict(self.state_counts),
                "judge_modes": dict(sorted(self.judge_modes.items()))}

    @property
    def verdict(self) -> str:
        """``PASS``, ``KNOWN`` (passed, but declared known findings were seen), ``OUTSIDE_CONTRACT``
        (passed apart from cases showing a declared behaviour no convention or precision model of the
        contract expresses: not verified, not failed), ``FAIL`` or ``INCONCLUSIVE`` (a weak pass is
        still ``PASS``; :attr:`weak` and the rendered report mark it)."""
        if self.passed:
            if self.outside_contract:
                return "OUTSIDE_CONTRACT"
            return "KNOWN" if self.known_counts else "PASS"
        return "INCONCLUSIVE" if self.inconclusive and not self.findings else "FAIL"

    @property
    def inconclusive(self) -> bool:
        """No element could be judged (everything ill-conditioned or no case ran)."""
        return self.counts["within"] == 0 and self.counts["outside"] == 0 and not self.findings

    @property
    def outside_contract(self) -> tuple[KnownFinding, ...]:
        """The declared outside-the-contract behaviours that cases showed."""
        return tuple(k for k in self.known if k.outside_contract and k.id in self.known_counts)

    def header(self) -> str:
        return report_header(self)

    def describe(self) -> str:
        return render_report(self)

    def as_dict(self) -> dict[str, Any]:
        return report_dict(self)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
