"""The main job: ``adamw-oracle`` with no subcommand.

Runs a fixed list of named sections, each wrapping one public function of another part of the
toolkit, shows progress on stderr and prints one summary table (or ``--json``):

* golden traces  -- :func:`adamw_oracle.traces.compare_all` (committed traces vs a fresh certified run)
* proofs         -- :func:`adamw_oracle.symbolic.prove_all`
* three-way fuzz -- :func:`adamw_oracle.verify.three_way_fuzz` (reference vs symbolic vs host build)
* check TARGET   -- :func:`adamw_oracle.check.check_target` for each torch, optax and Keras optimizer
  that :func:`adamw_oracle.check.installed_targets` reports

Verdicts: ``passed``, ``known``, ``failed``, ``error`` (the section raised) and ``skipped: <reason>`` (its
component is absent: a framework not installed, a module not present). ``known`` is a check whose only
findings are the target's declared known findings (:mod:`adamw_oracle.adapters.targets`); each is also
reproduced from its own triggering case, so the verdict does not depend on whether the seed draws it.
A known section counts as run and does not fail the job. A skipped section never counts as passed
and never fails the job. Exit status 1 if any section failed or raised, or if every section was
skipped (nothing was checked); else 0.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from adamw_oracle import __version__
from adamw_oracle.cli.jsonout import dumps
from adamw_oracle.errors import InvalidArgumentError

SECTION_KINDS = ("traces", "proofs", "fuzz", "check")
FRAMEWORKS = ("torch", "optax", "keras")
PASSED, KNOWN, FAILED, ERROR, SKIPPED = "passed", "known", "failed", "error", "skipped"
CHECK_DTYPE = "float32"


@dataclass(frozen=True)
class MainJobOptions:
    """Budgets of the main job. ``quick`` shrinks the fuzz and the checks to about a minute in total."""

    fuzz_examples: int = 200
    check_examples: int = 40
    seed: int = 0
    kinds: tuple[str, ...] = SECTION_KINDS

    @classmethod
    def from_cli(cls, *, quick: bool = False, seed: int = 0, only: str | None = None) -> MainJobOptions:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidArgumentError("--seed", seed, "an int >= 0")
        kinds: tuple[str, ...] = SECTION_KINDS
        if only is not None:
            kinds = tuple(k.strip() for k in only.split(",") if k.strip())
            bad = [k for k in kinds if k not in SECTION_KINDS]
            if bad or not kinds:
                raise InvalidArgumentError("--only", only, "a comma-separated subset of " + ",".join(SECTION_KINDS))
        if quick:
            return cls(fuzz_examples=25, check_examples=6, seed=seed, kinds=kinds)
        return cls(seed=seed, kinds=kinds)


@dataclass
class SectionResult:
    """One row of the summary table."""

    name: str
    checked: str
    verdict: str
    cases: int | None = None
    seconds: float = 0.0
    detail: str = ""

    @property
    def counts_as_failure(self) -> bool:
        return self.verdict in (FAILED, ERROR)


@dataclass
class MainJobSummary:
    """Every section's result plus the overall verdict (skipped sections neither pass nor fail it)."""

    sections: list[SectionResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ran(self) -> int:
        """How many sections ran (were not skipped)."""
        return sum(1 for s in self.sections if not s.verdict.startswith(SKIPPED))

    @property
    def passed(self) -> bool:
        """No section failed or raised, and at least one ran (a job of skips proves nothing)."""
        return self.ran > 0 and not any(s.counts_as_failure for s in self.sections)


class SectionSkipped(Exception):
    """Raised by a section body when its component is genuinely absent; the message is the reason."""


@dataclass(frozen=True)
class Section:
    """A named unit of the main job. ``body`` returns ``(passed, cases, detail)``; ``passed`` is
    :data:`KNOWN` for a check that found only declared known findings."""

    kind: str
    name: str
    checked: str
    body: Callable[[], tuple[bool | str, int | None, str]]


def require(module: str, attribute: str) -> Any:
    """``module.attribute``, or :class:`SectionSkipped` naming what is absent.

    Only the absence of ``module`` itself (or of the attribute) is a skip: an import error raised
    from inside an existing module is a real error and propagates.
    """
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            raise SectionSkipped(f"{module} is not present") from exc
        raise
    if not hasattr(loaded, attribute):
        raise SectionSkipped(f"{module}.{attribute} is not present")
    return getattr(loaded, attribute)


def _traces_body() -> tuple[bool, int | None, str]:
    compare_all = require("adamw_oracle.traces", "compare_all")
    directory = require("adamw_oracle.traces", "default_traces_dir")()
    differences = list(compare_all())
    count = _count_traces()
    if differences:
        first = differences[0]
        text = first.describe() if hasattr(first, "describe") else str(first)
        return False, count, f"{len(differences)} difference(s) in {directory}; first: {text}"
    return True, count, f"every committed trace in {directory} matches its certified regeneration"


def _count_traces() -> int | None:
    try:
        traces = importlib.import_module("adamw_oracle.traces")
        directory = traces.default_traces_dir()
        return sum(1 for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    except Exception:  # the count is informative only; compare_all's verdict is what matters
        return None


def _proofs_body() -> tuple[bool, int | None, str]:
    prove_all = require("adamw_oracle.symbolic", "prove_all")
    results = list(prove_all())
    failed = [r for r in results if not r.held]
    if not results:
        return False, 0, "prove_all returned no theorems"
    if failed:
        return False, len(results), "not proved: " + ", ".join(f"{r.name} (residual {r.residual})" for r in failed)
    return True, len(results), f"{len(results)} identities hold"


def _fuzz_body(options: MainJobOptions) -> Callable[[], tuple[bool, int | None, str]]:
    def body() -> tuple[bool, int | None, str]:
        three_way_fuzz = require("adamw_oracle.verify", "three_way_fuzz")
        summary = three_way_fuzz(examples=options.fuzz_examples, seed=options.seed)
        detail = f"{summary.failures} failure(s), {summary.ill_conditioned} ill-conditioned element-steps set aside"
        skipped = getattr(summary, "skipped", None)
        if skipped:
            detail += "; layers not run: " + ", ".join(f"{k} ({v})" for k, v in skipped.items())
        details = getattr(summary, "failure_details", None)
        if details:
            detail += "; first: " + details[0].splitlines()[0]
        return bool(summary.passed), int(summary.cases), detail

    return body


def _check_body(target: str, options: MainJobOptions) -> Callable[[], tuple[bool | str, int | None, str]]:
    def body() -> tuple[bool | str, int | None, str]:
        check_target = require("adamw_oracle.check", "check_target")
        report = check_target(target, examples=options.check_examples, seed=options.seed, dtype=CHECK_DTYPE)
        if not report.passed:
            finding = report.findings[0] if getattr(report, "findings", None) else None
            text = str(finding) if finding is not None else "counterexample found"
            return False, int(report.cases_run), text.splitlines()[0] if text else "failed"
        present, gone = _reproduce_known(target, report)
        if present:
            return KNOWN, int(report.cases_run), ("conforms to its preset apart from known finding(s): " + ", ".join(present)
                                                  + (f"; no longer reproduced: {', '.join(gone)}" if gone else ""))
        if gone:
            return True, int(report.cases_run), ("conforms to its preset; declared known finding(s) no longer reproduced "
                                                 f"(fixed upstream? update adamw_oracle/adapters/targets.py): {', '.join(gone)}")
        degenerate = getattr(report, "degenerate_share", 0.0)
        weak = (f" (weak: {report.set_aside_share:.0%} set aside" + (f", {degenerate:.0%} degenerate" if degenerate else "")
                + ")") if getattr(report, "weak", False) else ""
        return True, int(report.cases_run), "conforms to its preset within the error model" + weak

    return body


def _reproduce_known(target: str, report: Any) -> tuple[list[str], list[str]]:
    """Ids of the target's declared known findings that its triggering cases still show, and of those
    that they no longer show (seen in the drawn cases counts as shown)."""
    reproduce = require("adamw_oracle.check.known", "reproduce")
    resolve_target = require("adamw_oracle.adapters.registry", "resolve_target")
    impl = resolve_target(target)
    present, gone = [], []
    for known in report.known:
        if known.id in report.known_counts or reproduce(impl, known, report.dtype):
            present.append(known.id)
        else:
            gone.append(known.id)
    return present, gone


def _skip_body(reason: str) -> Callable[[], tuple[bool, int | None, str]]:
    def body() -> tuple[bool, int | None, str]:
        raise SectionSkipped(reason)

    return body


def check_sections(options: MainJobOptions) -> list[Section]:
    """One section per installed third-party optimizer target; a skipped row per absent framework."""
    try:
        installed_targets = require("adamw_oracle.check", "installed_targets")
        targets = list(installed_targets())
    except SectionSkipped as exc:
        return [Section("check", "check frameworks", "torch, optax and Keras optimizers", _skip_body(str(exc)))]
    sections = []
    for framework in FRAMEWORKS:
        mine = [t for t in targets if t.split(".", 1)[0].lower() == framework]
        if not mine:
            reason = (f"{framework} is not installed" if importlib.util.find_spec(framework) is None
                      else f"adamw_oracle.check reports no {framework} target")
            sections.append(Section("check", f"check {framework}", f"{framework} optimizers", _skip_body(reason)))
        for target in mine:
            sections.append(Section("check", f"check {target}", f"{target} against its preset, {CHECK_DTYPE}",
                                    _check_body(target, options)))
    return sections


def build_sections(options: MainJobOptions) -> list[Section]:
    """The job's sections, in order, restricted to ``options.kinds``."""
    sections: list[Section] = []
    if "traces" in options.kinds:
        sections.append(Section("traces", "golden traces", "committed trace files vs certified regeneration", _traces_body))
    if "proofs" in options.kinds:
        sections.append(Section("proofs", "proofs", "symbolic identities (sympy)", _proofs_body))
    if "fuzz" in options.kinds:
        sections.append(Section("fuzz", "three-way fuzz", "reference vs symbolic vs host build", _fuzz_body(options)))
    if "check" in options.kinds:
        sections.extend(check_sections(options))
    return sections


def run_section(section: Section) -> SectionResult:
    """Run one section, turning a skip or an exception into its verdict."""
    start = time.perf_counter()
    try:
        passed, cases, detail = section.body()
        verdict = KNOWN if passed == KNOWN else PASSED if passed is True else FAILED
    except SectionSkipped as exc:
        verdict, cases, detail = f"{SKIPPED}: {exc}", None, str(exc)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a crashing component is a failure of the job, reported, not hidden
        last = traceback.extract_tb(exc.__traceback__)[-1]
        verdict, cases = ERROR, None
        detail = f"{type(exc).__name__}: {exc} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    return SectionResult(section.name, section.checked, verdict, cases, time.perf_counter() - start, detail)


def run_main_job(options: MainJobOptions, progress: TextIO | None = None) -> MainJobSummary:
    """Run every section in order, writing one progress line per section to ``progress``."""
    start = time.perf_counter()
    summary = MainJobSummary()
    sections = build_sections(options)
    for index, section in enumerate(sections, 1):
        if progress is not None:
            print(f"[{index}/{len(sections)}] {section.name}: {section.checked} ...", file=progress, flush=True)
        result = run_section(section)
        summary.sections.append(result)
        if progress is not None:
            print(f"[{index}/{len(sections)}] {section.name}: {result.verdict} ({result.seconds:.1f} s)",
                  file=progress, flush=True)
            if result.verdict in (ERROR, FAILED, KNOWN):
                print(f"    {result.detail}", file=progress, flush=True)
    summary.seconds = time.perf_counter() - start
    return summary


def format_table(summary: MainJobSummary) -> str:
    """The summary as a fixed-width text table with a verdict line."""
    header = ("section", "what was checked", "cases", "verdict", "time")
    rows = [
        (s.name, s.checked, "-" if s.cases is None else str(s.cases), s.verdict, f"{s.seconds:.1f} s")
        for s in summary.sections
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    out.append(line)
    failed = [s.name for s in summary.sections if s.counts_as_failure]
    skipped = len(summary.sections) - summary.ran
    verdict = "FAILED: " + ", ".join(failed) if failed else ("PASSED" if summary.passed else "NOTHING RAN")
    known = [s.name for s in summary.sections if s.verdict == KNOWN]
    if known and not failed and summary.passed:
        verdict += f" with {len(known)} known finding(s): " + ", ".join(known)
    out.append(f"{verdict} ({summary.ran} section(s) run, {skipped} skipped, {summary.seconds:.1f} s)")
    for s in summary.sections:
        if s.counts_as_failure or s.verdict == KNOWN:
            out.append(f"  {s.name}: {s.detail}")
    return "\n".join(out)


def summary_as_dict(summary: MainJobSummary, options: MainJobOptions | None = None) -> dict[str, Any]:
    """JSON-ready summary: overall verdict, the budgets used, total seconds and one object per section."""
    return {
        "tool": f"adamw-oracle {__version__}",
        "passed": summary.passed,
        "options": asdict(options) if options is not None else None,
        "seconds": round(summary.seconds, 3),
        "sections": [{**asdict(s), "seconds": round(s.seconds, 3)} for s in summary.sections],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the main job's options to the top-level parser (they apply when no subcommand is given)."""
    group = parser.add_argument_group("main job (no subcommand)")
    group.add_argument("--json", action="store_true", help="print the summary as JSON on stdout (progress stays on stderr)")
    group.add_argument("--quick", action="store_true", help="smaller fuzz and check budgets")
    group.add_argument("--seed", type=int, default=0, help="seed of the fuzz and the checks (default 0)")
    group.add_argument("--only", metavar="KINDS", default=None,
                       help="comma-separated section kinds to run, among " + ",".join(SECTION_KINDS) + " (default: all)")
    group.add_argument("--no-progress", action="store_true", help="do not print progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run the main job from parsed arguments; returns 0 when it passed (see :attr:`MainJobSummary.passed`), else 1."""
    options = MainJobOptions.from_cli(
        quick=bool(getattr(args, "quick", False)), seed=getattr(args, "seed", 0), only=getattr(args, "only", None),
    )
    progress = None if getattr(args, "no_progress", False) else sys.stderr
    summary = run_main_job(options, progress=progress)
    if getattr(args, "json", False):
        print(dumps(summary_as_dict(summary, options)))
    else:
        print(format_table(summary))
    return 0 if summary.passed else 1
