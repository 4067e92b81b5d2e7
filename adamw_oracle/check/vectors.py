"""``check TARGET --vectors [PRESET]``: replay the committed test vectors against a target.

A deterministic regression run: every vector of the preset's files (one per dtype) is run through the
target and judged by the files' own rule (:mod:`adamw_oracle.vectors.replay`): a valid element must lie
within its tolerance of the correctly rounded exact value, an acceptable one must be finite. Vectors
the target cannot be asked (a seeded state, an option it lacks, a schedule multiplier) are skipped and
counted with the reason; exceptions, hangs and garbage are failures, never raised.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import unsupported_reason
from adamw_oracle.adapters.registry import builtin_preset, known_findings, resolve_target
from adamw_oracle.adapters.targets import VALUE_FINDINGS, KnownFinding
from adamw_oracle.check.runner import _versions, declared_precision, run_case
from adamw_oracle.check.subnormal import subnormal_intermediates
from adamw_oracle.contract.case import Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.presets import get_preset
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.vectors.catalogue import DTYPES
from adamw_oracle.vectors.replay import LoadedVector, Mismatch, check_observation, vectors_of
from adamw_oracle.verify import judge

MAX_SHOWN = 10


@dataclass(frozen=True)
class VectorFailure:
    """A vector the target failed: its label, flags, and the first mismatches (or the error)."""

    label: str
    flags: tuple[str, ...]
    error: str | None
    mismatches: tuple[Mismatch, ...]

    def describe(self) -> str:
        head = f"{self.label} [{', '.join(self.flags)}]"
        if self.error:
            return f"{head}: {self.error}"
        return head + "".join(f"\n      {m.describe()}" for m in self.mismatches[:3])


@dataclass
class VectorReport:
    """The result of :func:`replay_vectors`; ``passed`` needs at least one vector run and none failed."""

    target: str
    versions: dict[str, str]
    preset: str
    dtypes: tuple[Dtype, ...]
    run: int = 0
    passed_vectors: int = 0
    failures: list[VectorFailure] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: precision models the target declares where they differ from the files' conservative model
    declared: dict[str, str] = field(default_factory=dict)
    #: vectors failed only in ways a declared known finding of the target explains, by finding id
    known: dict[str, int] = field(default_factory=dict)
    #: vectors outside the files' bounds whose parameters pass the judge under the declared precision model
    within_declared: int = 0

    @property
    def passed(self) -> bool:
        """At least one vector run and none failed (known findings and declared-precision passes aside)."""
        return self.run > 0 and not self.failures

    def describe(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        rows = [("result", "PASS" if self.passed else ("INCONCLUSIVE (no vector could be run)" if not self.run else "FAIL")),
                ("vectors run", str(self.run)), ("vectors passed", str(self.passed_vectors)),
                ("vectors failed", str(len(self.failures))), ("vectors skipped", str(sum(self.skipped.values()))),
                ("vectors failed as known", str(sum(self.known.values()))),
                ("passed under declared precision only", str(self.within_declared)),
                ("seconds", f"{self.seconds:.1f}")]
        width = max(len(k) for k, _ in rows)
        line = "+" + "-" * (width + 2) + "+" + "-" * 40 + "+"
        table = [line, *(f"| {k.ljust(width)} | {v.ljust(38)} |" for k, v in rows), line]
        parts = [f"target:     {self.target}", f"versions:   {versions}",
                 f"vectors:    {self.preset} ({get_preset(self.preset).summary})",
                 f"dtypes:     {', '.join(d.value for d in self.dtypes)}",
                 *(f"precision:  {d}: the target declares {text}; the vectors' bounds assume {d} arithmetic and "
                   f"storage (vectors outside them that the judge passes under the declaration are counted apart)"
                   for d, text in self.declared.items()),
                 *table]
        if self.known:
            parts.append("known findings (not held against the target; --strict to hold them):\n"
                         + "\n".join(f"  - {n} x {kid}" for kid, n in sorted(self.known.items())))
        if self.skipped:
            parts.append("skipped:\n" + "\n".join(f"  - {n} x {why}" for why, n in sorted(self.skipped.items())))
        if self.failures:
            parts.append("failed vectors:\n" + "\n".join(f"  - {f.describe()}" for f in self.failures[:MAX_SHOWN]))
            if len(self.failures) > MAX_SHOWN:
                parts.append(f"  ... and {len(self.failures) - MAX_SHOWN} more")
        return "\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "versions": self.versions, "preset": self.preset,
                "dtypes": [d.value for d in self.dtypes], "passed": self.passed, "vectors_run": self.run,
                "vectors_passed": self.passed_vectors, "skipped": self.skipped, "seconds": self.seconds,
                "declared_precision": self.declared, "known": self.known, "within_declared": self.within_declared,
                "failures": [{"vector": f.label, "flags": list(f.flags), "error": f.error,
                              "mismatches": [m.describe() for m in f.mismatches]} for f in self.failures]}


def skip_reason(impl: Any, vector: LoadedVector) -> str | None:
    """Why ``impl`` cannot be asked ``vector`` (None when it can)."""
    case = vector.case()
    if case.run.config.hyper.schedule_multiplier != 1:
        return "a schedule multiplier (frameworks take one learning rate)"
    capabilities = getattr(impl, "capabilities", None)
    if capabilities is None:
        return None
    family = case.run.config.conventions.family
    reason = unsupported_reason(case, frozenset(capabilities), family=family)
    if reason and reason.startswith("the target is an"):
        return None  # the adapter reports a family mismatch itself; it is a failure, not a skip
    return reason


def replay_vectors(target: Any, preset: str | None = None, *, dtypes: Sequence[Dtype | str] | None = None,
                   directory: Any = None, case_timeout: float | None = 60.0,
                   progress: Callable[[str], None] | None = None, strict: bool = False) -> VectorReport:
    """Run the vectors of ``preset`` (default: the built-in target's own preset) through ``target``.

    A failure that one of a built-in target's declared known findings explains (its condition holds and,
    for a value finding, the observation passes the judge under the precision model the finding states)
    is counted as known, not failed, unless ``strict``.
    """
    name = target if isinstance(target, str) else getattr(target, "name", type(target).__name__)
    if preset is None:
        preset = builtin_preset(target) if isinstance(target, str) else None
        if preset is None:
            raise InvalidArgumentError("--vectors", None, "a preset name (the target is not a built-in one)")
    preset = get_preset(preset).name
    kinds = tuple(Dtype.parse(d) for d in dtypes) if dtypes else DTYPES
    impl = resolve_target(target)
    report = VectorReport(str(name), _versions(impl), preset, kinds)
    start = time.perf_counter()
    for dtype in kinds:
        declared = declared_precision(impl, dtype)
        if declared is not None and declared != PrecisionModel.conservative(dtype):
            report.declared[dtype.value] = declared.describe()
        known = () if strict else known_findings(target, dtype)
        for vector in vectors_of(preset, dtype, directory):
            why = skip_reason(impl, vector)
            if why is not None:
                report.skipped[why] = report.skipped.get(why, 0) + 1
                continue
            failure, observation = _run_one(impl, vector, case_timeout)
            if failure is not None and getattr(impl, "flushes_subnormals", False) and subnormal_intermediates(vector.case()):
                why = "a subnormal intermediate on a flush-to-zero target (set aside after running)"
                report.skipped[why] = report.skipped.get(why, 0) + 1
                continue
            report.run += 1
            status = "ok"
            if failure is not None:
                explained = _explained_by(known, vector, failure, observation) if observation else None
                if explained is not None:
                    report.known[explained] = report.known.get(explained, 0) + 1
                    status = f"known ({explained})"
                elif observation is not None and declared is not None and _finite_misses(failure) and \
                        judge(vector.case(), observation, precision=declared).passed:
                    report.within_declared += 1
                    status = "within the declared precision only"
                else:
                    report.failures.append(failure)
                    status = "FAIL"
            else:
                report.passed_vectors += 1
            if progress is not None:
                progress(f"{vector.label}: {status}")
    report.seconds = time.perf_counter() - start
    return report


def _run_one(impl: Any, vector: LoadedVector, timeout: float | None) -> tuple[VectorFailure | None, Observation | None]:
    """(the failure or None, the observation when it has the right shape)."""
    case = vector.case()
    flags = tuple(vector.vector["flags"])
    obs = run_case(impl, case, timeout=timeout)
    if obs.error is not None:
        return VectorFailure(vector.label, flags, obs.error, ()), None
    params = np.asarray(obs.params, dtype=np.float64)
    if params.shape != (case.run.steps, case.run.size):
        shape = f"params has shape {params.shape}, expected {(case.run.steps, case.run.size)}"
        return VectorFailure(vector.label, flags, shape, ()), None
    mismatches = check_observation(vector.vector, vector.dtype, params, obs.state)
    return (VectorFailure(vector.label, flags, None, tuple(mismatches)) if mismatches else None), obs


def _finite_misses(failure: VectorFailure) -> bool:
    """Every mismatch is a finite value outside its tolerance (no NaN/inf, no acceptable element)."""
    return all(m.ulps is not None and math.isfinite(m.observed) for m in failure.mismatches)


def _explained_by(known: Sequence[KnownFinding], vector: LoadedVector, failure: VectorFailure,
                  observation: Observation) -> str | None:
    """The id of a known value finding that accounts for the vector's failure, if one does: only finite
    values outside their tolerance can be (a NaN or inf is never explained by a precision model)."""
    if not _finite_misses(failure):
        return None
    case = vector.case()
    for k in known:
        if not (k.kinds & VALUE_FINDINGS) or case.dtype not in k.dtypes or not k.occurs(case):
            continue
        if k.explained_by is None or judge(case, observation, precision=k.explained_by(case.dtype)).passed:
            return k.id
    return None
