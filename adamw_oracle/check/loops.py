"""``check_loops``: drive an optimizer through generated training loops and judge every tensor.

Each drawn :class:`~adamw_oracle.contract.loop.Loop` (:func:`adamw_oracle.verify.loop_strategies.loops`:
several tensors, parameter groups, a schedule, missing gradients, resume points -- only the features the
target declares in ``loop_capabilities``) runs through the target's loop adapter
(:class:`~adamw_oracle.adapters.torch_loop.TorchLoopImplementation` for torch's built-in targets; any
:class:`~adamw_oracle.contract.loop.LoopImplementation`), and each tensor is judged against its own exact
Run by the vectorized judge (:func:`adamw_oracle.verify.loop_judge.judge_loop`). The first failure is
shrunk by hypothesis and reported with the tensor, group and loop step where it happened and the loop
as JSON (:meth:`Loop.as_dict`) for a reproduction. A failure that a declared known finding of the
target explains is reported as known and the search goes on: the target's loop findings (``known``,
e.g. torch's fused SGD on late first gradients) and a built-in target's single-run known findings,
applied tensor by tensor (:mod:`adamw_oracle.check.loop_known`; e.g. torch.SGD's float16 lr rounding,
Keras's half-precision scalars). ``strict=True`` holds them all. ``on_loop`` reports progress; on a
KeyboardInterrupt the partial report (marked interrupted) travels on the exception.

From the command line: ``adamw-oracle check torch.AdamW --loops`` (``--max-tensors``, ``--max-groups``,
``--strict``; progress lines on stderr, the partial report on Ctrl-C, exit 130).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from adamw_oracle.adapters.registry import BUILTIN_TARGETS, known_findings
from adamw_oracle.check.cases import fit_to_target, target_conventions
from adamw_oracle.check.expected import expected_convention
from adamw_oracle.check.loop_known import explained_loop, flushed_loop
from adamw_oracle.check.runner import declared_precision
from adamw_oracle.contract.capabilities import LoopCapability, capabilities_of, capability_names
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.loop import Loop, LoopCase, LoopImplementation
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.distributed import Engine, Shard, draws_independent_of_imports, plan_shards
from adamw_oracle.verify.loop_judge import LoopFailure, LoopJudgement, judge_loop
from adamw_oracle.verify.loop_strategies import loops

LOOP_FRAMEWORKS = ("torch", "optax", "keras")
"""The frameworks whose built-in targets have a loop adapter."""


def loop_target(target: Any) -> LoopImplementation:
    """A loop implementation from a built-in target name (``torch.AdamW``, ``torch.Adam[fused]``,
    ``torch.SGD[forloop]``, ``optax.adamw``, ``keras.AdamW``, ...) or a :class:`LoopImplementation` object.

    Raises:
        InvalidArgumentError: another name, or an object without ``run_loop``.
    """
    if isinstance(target, LoopImplementation):
        return target
    builtin = BUILTIN_TARGETS.get(target) if isinstance(target, str) else None
    if builtin is not None and builtin.info.framework == "torch":
        from adamw_oracle.adapters.torch_loop import TorchLoopImplementation  # optional dependency (torch)

        return TorchLoopImplementation(builtin.info.name.split(".", 1)[1], builtin.path)
    if builtin is not None and builtin.info.framework == "optax":
        from adamw_oracle.adapters.optax_loop import OptaxLoopImplementation  # optional dependency (optax)

        return OptaxLoopImplementation(builtin.info.name)
    if builtin is not None and builtin.info.framework == "keras":
        from adamw_oracle.adapters.keras_loop import KerasLoopImplementation  # optional dependency (keras)

        return KerasLoopImplementation(builtin.info.name.split(".", 1)[1])
    names = [n for n, t in BUILTIN_TARGETS.items() if t.info.framework in LOOP_FRAMEWORKS]
    raise InvalidArgumentError("target", target, "a loop target: " + ", ".join(names) + " or an object with "
                               "run_loop(LoopCase) and loop_capabilities")


@dataclass
class LoopReport:
    """The outcome of :func:`check_loops`."""

    target: str
    dtype: Dtype
    seed: int
    expected: str
    capabilities: list[str]
    missing: list[str]
    precision: str
    loops: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"within": 0, "outside": 0, "ill_conditioned": 0,
                                                            "untouched": 0})
    failure: LoopFailure | None = None
    error: str | None = None
    counterexample: dict[str, Any] | None = None
    known: dict[str, int] = field(default_factory=dict)
    applied_known: list[str] = field(default_factory=list)
    set_aside: int = 0
    set_aside_reasons: list[str] = field(default_factory=list)
    strict: bool = False
    interrupted: bool = False
    #: the shards the campaign was cut into (:func:`~adamw_oracle.verify.distributed.plan_shards`)
    shards: int = 1
    #: the loops run while shrinking the failure (included in ``loops``)
    shrink_loops: int = 0

    @property
    def passed(self) -> bool:
        return self.failure is None and self.error is None and not self.interrupted

    def describe(self) -> str:
        lines = [f"check --loops {self.target} in {self.dtype.value}, seed {self.seed}, expected {self.expected}",
                 f"  loop features drawn: {', '.join(self.capabilities) or 'none'}"
                 + (f"; declared missing: {', '.join(self.missing)}" if self.missing else ""),
                 f"  precision: {self.precision}",
                 "  known findings: " + ("held (--strict)" if self.strict else ", ".join(self.applied_known) or "none declared"),
                 f"  {self.loops} loops; element-steps within {self.counts['within']}, outside {self.counts['outside']}, "
                 f"ill-conditioned {self.counts['ill_conditioned']}; untouched (no gradient) {self.counts['untouched']}"]
        if self.set_aside:
            lines.append(f"  set aside: {self.set_aside} loops ({self.set_aside_reasons[0]}"
                         + (", ..." if self.set_aside > 1 else "") + ")")
        for name, count in sorted(self.known.items()):
            lines.append(f"  known finding {name}: {count} loops")
        if self.interrupted:
            lines.append(f"  INTERRUPTED after {self.loops} loops (a partial report: no verdict)")
        elif self.failure is not None:
            lines.append("  FAIL " + self.failure.describe())
        elif self.error is not None:
            lines.append("  FAIL " + self.error)
        else:
            lines.append("  PASS")
        if self.counterexample is not None:
            lines.append(f"  minimal loop: Loop.from_dict({self.counterexample!r})")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "dtype": self.dtype.value, "seed": self.seed, "expected": self.expected,
            "loop_capabilities": self.capabilities, "missing_loop_capabilities": self.missing,
            "precision": self.precision, "loops": self.loops, "counts": self.counts, "passed": self.passed,
            "failure": None if self.failure is None else {
                "tensor": self.failure.tensor, "group": self.failure.group, "step": self.failure.step,
                "element": self.failure.element, "message": self.failure.message},
            "error": self.error, "counterexample": self.counterexample, "known": self.known,
            "applied_known": self.applied_known, "set_aside": self.set_aside,
            "set_aside_reasons": self.set_aside_reasons, "strict": self.strict, "interrupted": self.interrupted,
            "shards": self.shards, "shrink_loops": self.shrink_loops,
        }


class _LoopFailed(Exception):
    """Raised inside the property so that hypothesis shrinks the failing loop."""


class _ShrinkSpent(BaseException):
    """Stops hypothesis once the shrink budget is spent (BaseException: not a failure to shrink)."""


def _fitter(capabilities: Any, dtype: Dtype) -> Any:
    def fit(config: OptimizerConfig) -> OptimizerConfig:
        return fit_to_target(Case(Run(config, (0,), ((0,),)), dtype), capabilities).run.config

    return fit


def check_loops(target: Any, *, expect: Any = None, dtype: Dtype | str = "float32", examples: int = 30, seed: int = 0,
                max_steps: int = 8, max_size: int = 17, max_tensors: int = 3, max_groups: int = 2,
                precision: PrecisionModel | None = None,
                loop_capabilities: frozenset[LoopCapability] | None = None, shrink_runs: int = 100,
                strict: bool = False, on_loop: Callable[[str, int, int, str], None] | None = None,
                workers: int | None = None, scheduler: str | None = None, engine: Engine | None = None,
                shard_size: int | None = None) -> LoopReport:
    """Check ``target``'s training loops (see the module docstring).

    Args:
        target: a built-in torch name or a :class:`LoopImplementation`.
        expect: the convention of every group (a preset name; default: a built-in target's own preset).
        loop_capabilities: draw only these loop features (default: all the target declares).
        shrink_runs: loops run while shrinking the first failure at most (0: report it unshrunk).
        strict: hold every known finding against the target (default: a failure that a declared known
            finding explains is counted as known; the single-run findings of a built-in target are
            applied per tensor, :mod:`adamw_oracle.check.loop_known`).
        on_loop: called after each loop as ``on_loop(phase, done, total, outcome)``, ``phase`` "search"
            (``done`` of ``examples``) or "shrink" (``done`` of at most ``shrink_runs``), ``outcome``
            "pass", "known", "set_aside" (a flush-to-zero target's subnormal loop) or "fail": what a
            progress bar needs.

        workers, scheduler, engine, shard_size: where the shards run, as for
            :func:`~adamw_oracle.check.runner.check_target` (a local Dask cluster of ``workers`` processes,
            the workers of the Dask scheduler at ``scheduler``, an open :class:`~adamw_oracle.verify.
            distributed.Engine`; default: serially, here) and the loops per shard. A target object must
            pickle to travel to workers; a built-in name is resolved in each worker.

    The ``examples`` are cut into shards seeded from ``seed`` (:func:`~adamw_oracle.verify.distributed.
    plan_shards`), searched in shard order; the first shard with a failure shrinks it (where it ran) and
    ends the search. The report is the same on every engine: serially, the same shards run one after
    the other. With workers, ``on_loop`` is called once per finished shard.

    A KeyboardInterrupt (Ctrl-C, or the CLI's SIGTERM) propagates with the partial report, marked
    ``interrupted``, as its ``partial_report`` attribute.

    Raises:
        InvalidArgumentError: an unknown target, no expected convention for a non-built-in target, or a
            bad count.
    """
    impl = loop_target(target)
    dt = Dtype.parse(dtype, "dtype")
    for name, value, low in (("examples", examples, 1), ("max_steps", max_steps, 1), ("max_size", max_size, 0),
                             ("max_tensors", max_tensors, 1), ("max_groups", max_groups, 1), ("seed", seed, 0),
                             ("shrink_runs", shrink_runs, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InvalidArgumentError(name, value, f"an int >= {low}")
    if expect is None:
        builtin = BUILTIN_TARGETS.get(target) if isinstance(target, str) else None
        if builtin is None:
            raise InvalidArgumentError("expect", None, "a preset name (the target is not built in)")
        expect = builtin.info.preset
    expected = expected_convention(expect)
    declared = frozenset(getattr(impl, "loop_capabilities", frozenset()))
    drawn = declared if loop_capabilities is None else declared & frozenset(loop_capabilities)
    caps = capabilities_of(impl)  # the switches (weight decay, AMSGrad, ...) of every group
    if precision is None:
        builtin = BUILTIN_TARGETS.get(target) if isinstance(target, str) else None
        precision = builtin.info.precision_for(dt) if builtin is not None else declared_precision(impl, dt)
    loop_known = () if strict else tuple(getattr(impl, "known", ()))
    flushes = bool(getattr(impl, "flushes_subnormals", False))
    single_known = () if strict else known_findings(target, dt)
    report = LoopReport(impl.name, dt, seed, expected.label, capability_names(drawn),
                        capability_names(frozenset(LoopCapability) - declared),
                        (precision or PrecisionModel.conservative(dt)).describe(),
                        applied_known=[k.id for k in (*single_known, *loop_known)], strict=strict)
    conventions = target_conventions(expected, caps)
    spec = LoopShardSpec(target if isinstance(target, str) else None, impl, conventions, dt, drawn, caps, precision,
                         loop_known, single_known, flushes, max_steps, max_size, max_tensors, max_groups, shrink_runs)
    plan = plan_shards(examples, seed, shard_size)
    arrived: dict[int, LoopReport] = {}  # shard index -> report, as the shards finish (any order with workers)
    searched = [0, 0]  # search loops of the finished shards, of the running one (serial progress)

    def seen(phase: str, done: int, total: int, outcome: str) -> None:
        if phase == "search":
            searched[1] = done
        if on_loop is not None:
            on_loop(phase, searched[0] + done if phase == "search" else done,
                    examples if phase == "search" else total, outcome)

    def finished(shard: Shard, part: LoopReport) -> None:
        arrived[shard.index] = part
        searched[0] += part.loops - part.shrink_loops
        searched[1] = 0
        if on_loop is not None and not run_here:  # a worker's loops are reported shard by shard
            on_loop("search", searched[0], examples, "fail" if not part.passed else "pass")

    with contextlib.ExitStack() as stack:
        if engine is None:
            engine = stack.enter_context(Engine(workers, scheduler))
        elif workers is not None or scheduler is not None:
            raise InvalidArgumentError("engine", engine.describe(), "no engine together with workers or scheduler")
        run_here = engine.serial
        shard_fn = (functools.partial(loop_shard, spec, on_loop=seen) if run_here else
                    functools.partial(loop_shard, dataclasses.replace(spec, impl=None) if spec.target is not None else spec))
        try:
            parts = engine.run(shard_fn, plan, stop=lambda part: not part.passed, on_result=finished)
        except KeyboardInterrupt as exc:
            done = list(itertools.takewhile(lambda i: i in arrived, range(len(plan))))  # the shards in order
            partial = getattr(exc, "partial_report", None)
            merged = _merge(report, [*(arrived[i] for i in done), *([partial] if partial is not None else [])], len(plan))
            merged.interrupted = True
            exc.partial_report = merged  # type: ignore[attr-defined]
            raise
    return _merge(report, parts, len(plan))


@dataclass(frozen=True)
class LoopShardSpec:
    """What one shard of :func:`check_loops` needs, resolved once by the caller; it travels to the
    workers (``impl`` None: the built-in ``target`` is resolved by name there)."""

    target: str | None
    impl: LoopImplementation | None
    conventions: list[Any]
    dtype: Dtype
    drawn: frozenset[LoopCapability]
    capabilities: frozenset[Any]
    precision: PrecisionModel | None
    loop_known: tuple[Any, ...]
    single_known: tuple[Any, ...]
    flushes: bool
    max_steps: int
    max_size: int
    max_tensors: int
    max_groups: int
    shrink_runs: int


def _merge(header: LoopReport, parts: list[LoopReport], shards: int) -> LoopReport:
    """The campaign's report from its shard reports, in shard order: counts add up, the failure and its
    minimal loop are those of the failing shard (the last one kept, as the search stops there)."""
    out = dataclasses.replace(header, counts=dict(header.counts), known={}, set_aside_reasons=[], shards=shards)
    for part in parts:
        out.loops += part.loops
        out.shrink_loops += part.shrink_loops
        for name, count in part.counts.items():
            out.counts[name] = out.counts.get(name, 0) + count
        for kid, count in part.known.items():
            out.known[kid] = out.known.get(kid, 0) + count
        out.set_aside += part.set_aside
        out.set_aside_reasons = (out.set_aside_reasons + part.set_aside_reasons)[:5]
        if part.failure is not None or part.error is not None:
            out.failure, out.error, out.counterexample = part.failure, part.error, part.counterexample
    return out


def loop_shard(spec: LoopShardSpec, shard: Shard, *, on_loop: Callable[[str, int, int, str], None] | None = None
               ) -> LoopReport:
    """Search one shard: ``shard.examples`` loops drawn with ``shard.seed``, stopping at the first failure,
    which hypothesis shrinks here (in the process that runs the shard). A KeyboardInterrupt propagates
    with this shard's partial report as its ``partial_report``."""
    impl = spec.impl if spec.impl is not None else loop_target(spec.target)
    dt, precision, examples = spec.dtype, spec.precision, shard.examples
    loop_known, single_known, shrink_runs = spec.loop_known, spec.single_known, spec.shrink_runs
    report = LoopReport(impl.name, dt, shard.seed, "", [], [], "")
    strategy = loops(spec.conventions, dt, spec.drawn, max_tensors=spec.max_tensors, max_groups=spec.max_groups,
                     max_size=spec.max_size, max_steps=spec.max_steps, fit=_fitter(spec.capabilities, dt))
    last: dict[str, Any] = {}

    @hypothesis_seed(shard.seed)
    @settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=False, print_blob=False)
    @given(strategy)
    def prop(loop: Loop) -> None:
        if "failure" in last:
            last["shrinks"] = last.get("shrinks", 0) + 1
            if last["shrinks"] > shrink_runs:
                raise _ShrinkSpent
        case = LoopCase(loop, dt)
        observation = impl.run_loop(case)
        verdict = judge_loop(case, observation, precision)
        last["loops"] = last.get("loops", 0) + 1
        report.loops = last["loops"]
        searching = "failure" not in last
        ids: list[str] = []
        aside: str | None = None
        if not verdict.passed:
            ids = [k.id for k in loop_known if k.occurs(case)] or list(explained_loop(case, observation, verdict,
                                                                                      single_known) or ())
            aside = None if ids or not spec.flushes else flushed_loop(case, observation, verdict)
        if on_loop is not None:
            outcome = "pass" if verdict.passed else "known" if ids else "set_aside" if aside else "fail"
            on_loop("search" if searching else "shrink", last["loops"] if searching else last["shrinks"],
                    examples if searching else shrink_runs, outcome)
        if verdict.passed:
            if searching:
                for name, count in verdict.counts.items():
                    report.counts[name] += count
            return
        if ids:
            if searching:
                for kid in ids:
                    report.known[kid] = report.known.get(kid, 0) + 1
            return
        if aside:
            if searching:
                report.set_aside += 1
                if len(report.set_aside_reasons) < 5:
                    report.set_aside_reasons.append(aside)
            return
        last["failure"] = (loop, verdict)
        raise _LoopFailed(verdict.failure.describe() if verdict.failure else verdict.error)

    try:
        with draws_independent_of_imports():  # a seed draws the same loops whatever is imported
            prop()
    except KeyboardInterrupt as exc:
        report.loops = last.get("loops", 0)
        report.shrink_loops = min(last.get("shrinks", 0), shrink_runs)
        if "failure" in last:
            _record_failure(report, *last["failure"])
        exc.partial_report = report  # type: ignore[attr-defined]
        raise
    except (_LoopFailed, _ShrinkSpent):
        _record_failure(report, *last["failure"])
    report.loops = last.get("loops", 0)  # shrinking runs included
    report.shrink_loops = min(last.get("shrinks", 0), shrink_runs)
    return report


def _record_failure(report: LoopReport, loop: Loop, verdict: LoopJudgement) -> None:
    report.failure = verdict.failure
    report.error = None if verdict.failure is not None else verdict.error
    report.counterexample = loop.as_dict()
