"""``check_target``: drive an optimizer with generated cases, judge each against the reference, and shrink
the first failure to a minimal counterexample.

Each case is run through the target's adapter and judged by the vectorized judge
(:func:`adamw_oracle.verify.vectorized.judge_vectorized`: the error model's exact trajectory plus a
per-element, per-dtype rounding-error bound, on whole arrays; ``judge_engine="mpmath"`` selects the
mpmath judge of record, :func:`adamw_oracle.verify.judge`, for cross-checking). Explicit cases
(``cases=[...]``, e.g. :func:`~adamw_oracle.check.tensor_cases.tensor_case` of 10**6 elements) are
judged as given instead of drawn ones. A case *fails* when
it has any finding (:mod:`adamw_oracle.check.findings`); hypothesis then shrinks it to a minimal
failing case, which is reported with a copy-paste reproduction. Elements the error model cannot judge
are counted as ill-conditioned, never passed.

Guarantees:

* the checker never raises because of the optimizer under test: its exceptions, hangs and garbage
  become findings;
* a per-case timeout applies to every target (subprocesses are killed; an in-process call that hangs
  is abandoned in its daemon thread and reported);
* the same ``seed`` draws the same cases.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import platform
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from adamw_oracle import __version__
from adamw_oracle.adapters.registry import builtin_preset, declared_precision_for, known_findings, resolve_target
from adamw_oracle.adapters.targets import KnownFinding
from adamw_oracle.check.campaign import merge_reports
from adamw_oracle.check.cases import ARRAY_PERCENT, target_cases, target_conventions, tensor_sized_cases
from adamw_oracle.check.expected import ExpectedConvention, expected_convention
from adamw_oracle.check.findings import KINDS, Finding, classify
from adamw_oracle.check.known import split_known
from adamw_oracle.check.outcome import CaseResult, CheckReport, Counterexample
from adamw_oracle.check.reproduction import reproduction
from adamw_oracle.check.space import CaseSpace
from adamw_oracle.check.subnormal import subnormal_intermediates
from adamw_oracle.contract.capabilities import Capability, capabilities_of, capability_names
from adamw_oracle.contract.case import MAX_SECONDS, Case, Implementation, Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.distributed import Engine, Shard, draws_independent_of_imports, plan_shards
from adamw_oracle.verify.interrupts import latched_interrupts

Progress = Callable[[str], None]
CaseProgress = Callable[[str, int, int, CaseResult], None]
"""``on_case(phase, done, total, result)`` after every case: phase ``"search"`` (``done`` of the
``examples`` cases) or ``"shrink"`` (``done`` of at most ``shrink_runs`` extra runs)."""

JUDGE_ENGINES = ("vectorized", "mpmath")
JUDGE_MODES = ("auto", "per-step", "trajectory")
"""How each case is judged: ``per-step`` re-syncs every step from the implementation's own state
(:mod:`adamw_oracle.verify.resync`; one-step bounds, the stored state judged too), ``trajectory`` judges
the parameters against the exact run from the initial state (black boxes), ``auto`` (the default)
per-step when the observation carries the per-step state the case needs, else trajectory."""


class _Failed(Exception):
    """Raised inside the property so that hypothesis shrinks; one subclass per finding kind."""


_FLUSHABLE = ("outside_bound", "nonfinite")
_FAILURE_TYPES = {kind: type(f"{kind.title().replace('_', '')}Finding", (_Failed,), {}) for kind in KINDS}


class _Abort(BaseException):
    """Stops hypothesis (time budget or shrink budget spent); BaseException so it is not a 'failure'."""


def in_calling_thread(impl: Any, timeout: float | None) -> bool:
    """Whether :func:`run_case` calls ``impl.run`` in the calling thread rather than a worker thread.

    It does when no timeout is needed: ``timeout`` is None, the implementation applies its own time
    limit (``enforces_timeout = True``: the subprocess adapter, which kills its process tree, and which
    an interruption must reach), or it is bound to the thread that created it (``thread_bound = True``,
    e.g. a library holding a SQLite connection; its cases then have no time limit).
    """
    return timeout is None or bool(getattr(impl, "enforces_timeout", False)) or bool(getattr(impl, "thread_bound", False))


class CaseWorker:
    """A daemon thread that runs one call at a time for :func:`run_case`, reused from case to case.

    Starting a thread per case cost about as much as running a small case; the worker is started once
    and handed each case through a queue. A call that does not answer in time is abandoned together with
    its worker (it stays busy in its daemon thread, as a per-case thread did), and the next case gets a
    fresh worker. Not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined when the
    interpreter exits, so one hung call would keep the process from ever exiting.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.busy = False  # a call is running (or was abandoned, e.g. its caller interrupted)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            self._jobs.get()()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, work: Callable[[], None], timeout: float | None) -> bool:
        """Run ``work()`` (which must not raise) in the worker; False when it did not finish in ``timeout`` s."""
        done = threading.Event()

        def job() -> None:
            try:
                work()
            finally:
                self.busy = False
                done.set()

        self.busy = True
        self._jobs.put(job)
        return done.wait(timeout)


_workers = threading.local()  # one CaseWorker per calling thread: concurrent callers never share one


def _case_worker(name: str) -> CaseWorker:
    worker = getattr(_workers, "worker", None)
    if worker is None or worker.busy or not worker.alive:  # none yet, one still busy, or a dead one in a forked child
        worker = _workers.worker = CaseWorker(name)
    return worker


def run_case(impl: Implementation, case: Case, *, timeout: float | None = None) -> Observation:
    """``impl.run(case)`` with a time limit; any escape of the implementation becomes ``error``.

    See :func:`in_calling_thread` for where it runs; otherwise it runs in a daemon worker thread
    (:class:`CaseWorker`, reused across cases), which is abandoned (and the case reported as a timeout)
    when it does not answer within ``timeout`` seconds.
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["obs"] = impl.run(case)
        except BaseException as exc:  # noqa: BLE001 - a misbehaving Implementation may raise anything
            box["exc"] = exc

    if in_calling_thread(impl, timeout):
        work()
    elif not _case_worker("adamw-oracle-case").call(work, timeout):
        _workers.worker = None  # still busy with the abandoned call: the next case gets a fresh worker
        return Observation(_empty(case), error=f"timeout: no answer within {timeout:g} s "
                                               "(the in-process call was abandoned in a daemon thread)")
    if "exc" in box:
        exc = box["exc"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        return Observation(_empty(case), error=f"{type(exc).__name__}: {exc}")
    obs = box.get("obs")
    if not isinstance(obs, Observation):
        return Observation(_empty(case), error=f"bad output: run() returned {type(obs).__name__}, expected an Observation")
    return obs


def declared_precision(impl: Any, dtype: Dtype) -> Any:
    """The precision model an implementation declares for ``dtype`` (``impl.precision_model(dtype)``),
    or None for the judge's default. A declaration states which formats the implementation really
    computes in (e.g. Keras holds its scalars in float32 whatever the weights' dtype); it is printed in
    the report header so a reader sees what was assumed."""
    declare = getattr(impl, "precision_model", None)
    if callable(declare):
        return declare(dtype)
    return declared_precision_for(impl.name, dtype)  # a third-party optimizer of the target table


def judge_case(case: Case, obs: Observation, precision: Any = None, engine: str = "vectorized",
               mode: str = "auto") -> Any:
    """The verdict on ``obs`` by the chosen judge and mode (see :data:`JUDGE_MODES`; every judge returns
    a :class:`~adamw_oracle.verify.Judgement`). The per-step judge is vectorized; with
    ``engine="mpmath"`` ``auto`` means trajectory."""
    if mode == "per-step" or (mode == "auto" and engine == "vectorized" and obs.error is None and obs.step_states):
        from adamw_oracle.verify.resync import can_resync, judge_resynced  # heavy or optional

        if mode == "per-step" or can_resync(case, obs):
            return judge_resynced(case, obs, precision)
    if engine == "mpmath":
        from adamw_oracle.verify import judge  # heavy or optional

        return judge(case, obs, precision=precision)
    from adamw_oracle.verify.vectorized import judge_vectorized  # heavy or optional

    return judge_vectorized(case, obs, precision)


def evaluate(impl: Implementation, case: Case, *, timeout: float | None = None, precision: Any = None,
             known: Sequence[KnownFinding] = (), judge_engine: str = "vectorized",
             judge_mode: str = "auto") -> CaseResult:
    """Run one case and judge it (never raises because of ``impl``); findings that one of ``known``
    explains are moved to ``CaseResult.known``."""
    start = time.perf_counter()
    obs = run_case(impl, case, timeout=timeout)
    verdict = None
    if obs.error is None:
        try:
            verdict = judge_case(case, obs, precision, judge_engine, judge_mode)
        except Exception as exc:  # noqa: BLE001 - reported as the checker's own problem, not the target's
            return CaseResult(case, obs, None, (Finding("checker_error", f"the judge failed: {type(exc).__name__}: {exc}"),),
                              time.perf_counter() - start)
    findings, known_ids = split_known(case, obs, classify(obs, verdict), known, getattr(verdict, "mode", "trajectory"),
                                      precision)
    set_aside = None
    if findings and getattr(impl, "flushes_subnormals", False) and all(f.kind in _FLUSHABLE for f in findings):

        first = getattr(verdict, "first_failure", None)  # only that element's subnormals can explain it
        subnormal = (subnormal_intermediates(case, element=first.element, step=first.step)
                     if first is not None and first.quantity != "step" else subnormal_intermediates(case))
        if subnormal:
            set_aside = "subnormal intermediate on a flush-to-zero target: " + ", ".join(subnormal)
            findings = ()
    return CaseResult(case, obs, verdict, findings, time.perf_counter() - start, set_aside, known_ids)


def check_target(
    target: Any,
    *,
    expect: Any = None,
    dtype: Dtype | str = "float32",
    examples: int = 50,
    seed: int = 0,
    time_budget: float | None = None,
    case_timeout: float | None = 60.0,
    max_steps: int = 6,
    max_size: int = 129,
    shrink_runs: int = 150,
    shrink_seconds: float = 60.0,
    progress: Progress | None = None,
    on_case: CaseProgress | None = None,
    precision: Any = None,
    known: Sequence[KnownFinding] | None = None,
    cases: Sequence[Case] | None = None,
    judge_engine: str = "vectorized",
    judge_mode: str = "auto",
    options: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    engine: Engine | None = None,
    shard_size: int | None = None,
    space: CaseSpace | Mapping[str, Any] | None = None,
    large_sizes: bool = False,
) -> CheckReport:
    """Check ``target`` against the reference under the error model.

    Args:
        target: a built-in name (``"torch.AdamW"``), ``"module:attribute"``, or an Implementation.
        expect: the convention it should implement (preset name, Conventions, dict of choices or an
            Identification), Adam or SGD family (an SGD-family expectation draws SGD cases).
            Default: the preset of a built-in target; otherwise what
            :func:`~adamw_oracle.check.identify` finds (Adam-family targets only).
        dtype: float64, float32, float16 or bfloat16.
        examples: number of generated cases (>= 1).
        seed: hypothesis seed (the same seed draws the same cases).
        time_budget: seconds after which no new case is started (None: no limit).
        case_timeout: seconds one case may take (None: no limit). Every duration is finite and at most
            :data:`MAX_SECONDS`; "no limit" is spelled None, not ``inf``.
        max_steps, max_size: the longest ordinary run and the largest exact element count drawn
            (tensor-sized cases of 65,535-65,537 elements, seeded states and long runs come on top;
            see :mod:`adamw_oracle.check.cases`).
        shrink_runs, shrink_seconds: shrinking a failure stops after this many extra runs or seconds
            (the smallest failing case found so far is reported).
        progress: called with short lines (e.g. ``print``): the identified convention, and one line per
            case unless ``on_case`` is given.
        on_case: called after every case with its phase, count and result (see :data:`CaseProgress`);
            what a progress bar needs.
        precision: a :class:`~adamw_oracle.verify.PrecisionModel` for the judge (default: the one the
            target declares, else the judge's default).
        known: known findings not held against the target (default: those declared for a built-in
            target name in :mod:`adamw_oracle.adapters.targets`; ``()`` holds every finding against it).
        cases: explicit cases to judge instead of drawn ones (any size, e.g. a 10**6-element
            :func:`~adamw_oracle.check.tensor_cases.tensor_case`); they are judged as given, in order,
            and a failing one is reported without shrinking. ``examples`` is then ``len(cases)``.
        judge_engine: ``"vectorized"`` (default, arrays) or ``"mpmath"`` (the judge of record, for
            cross-checking; far slower on large cases).
        judge_mode: ``"auto"`` (default: each step re-synced from the implementation's own state when
            the target exposes it per step, else the whole trajectory), ``"per-step"`` (require it; a
            case whose observation lacks it is a ``checker_error``) or ``"trajectory"``; see
            :data:`JUDGE_MODES`. ``per-step`` needs the vectorized engine.
        workers: run the shards on a local Dask cluster of this many worker processes (None or 1:
            serially, in this process). The target must pickle unless it is given by name.
        scheduler: run the shards on the workers of the Dask scheduler at this address instead.
        engine: an open :class:`~adamw_oracle.verify.distributed.Engine` to run the shards on (its
            cluster is reused across calls); excludes ``workers`` and ``scheduler``.
        shard_size: cases per shard (default :func:`~adamw_oracle.verify.distributed.default_shard_size`).
        space: restrict the drawn cases (a :class:`~adamw_oracle.check.space.CaseSpace` or a dict of its
            fields: hyperparameter ranges, lr > 0, maximize/AMSGrad off or only, the dtype's range);
            the report header states every restriction.
        large_sizes: also draw tensors of 2**20 +- 1 elements.

    The ``examples`` are cut into shards seeded from ``seed``
    (:func:`~adamw_oracle.verify.distributed.plan_shards`), searched in shard order; the first shard
    with a finding shrinks its failure and ends the search. The report is the same for every
    ``workers``/``scheduler`` (only ``seconds``, and which cases a time budget cuts off, can differ).

    Returns:
        A :class:`CheckReport`; ``counterexample`` is the shrunk failing case when one was found.
    """
    _require_int("examples", examples, 1)
    _require_int("seed", seed, 0)
    _require_int("max_steps", max_steps, 1)
    _require_int("max_size", max_size, 1)
    _require_int("shrink_runs", shrink_runs, 0)
    space = CaseSpace.of(space)
    if not isinstance(large_sizes, bool):
        raise InvalidArgumentError("large_sizes", large_sizes, "True or False")
    if judge_engine not in JUDGE_ENGINES:
        raise InvalidArgumentError("judge_engine", judge_engine, "one of " + ", ".join(JUDGE_ENGINES))
    if judge_mode not in JUDGE_MODES:
        raise InvalidArgumentError("judge_mode", judge_mode, "one of " + ", ".join(JUDGE_MODES))
    if judge_mode == "per-step" and judge_engine != "vectorized":
        raise InvalidArgumentError("judge_mode", judge_mode, "'auto' or 'trajectory' with judge_engine='mpmath' "
                                   "(the per-step judge is vectorized)")
    if cases is not None:
        cases = list(cases)
        if not cases or not all(isinstance(c, Case) for c in cases):
            raise InvalidArgumentError("cases", f"{len(cases)} items" if cases else "an empty list",
                                       "a non-empty sequence of Case objects")
        examples = len(cases)
    for name, value in (("time_budget", time_budget), ("case_timeout", case_timeout), ("shrink_seconds", shrink_seconds)):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and math.isfinite(value) and 0 < value <= MAX_SECONDS):
            raise InvalidArgumentError(name, value, f"a finite number of seconds in (0, {MAX_SECONDS:g}], or None (no limit)")
    dt = Dtype.parse(dtype)
    impl = resolve_target(target, options=options)
    supported = getattr(impl, "dtypes", None)
    if supported is not None and dt not in supported:
        raise InvalidArgumentError("dtype", dt.value, f"one of {', '.join(d.value for d in supported)} for {impl.name}")
    if expect is None:
        expect = builtin_preset(target) if isinstance(target, str) else None
        if expect is None:
            from adamw_oracle.check.identify import identify  # heavy or optional

            expect = identify(impl)
            if progress:
                progress(f"no expected convention given; identified: {expected_convention(expect).describe()}")
    expected = expected_convention(expect)
    families = getattr(impl, "families", None)
    if families is not None and expected.family not in families:
        allowed = " or ".join(sorted(f.value for f in families))
        raise InvalidArgumentError("expect", expected.label, f"a convention of the {allowed} family for {impl.name} "
                                   f"(it is {expected.family.value})")
    if precision is None:
        precision = declared_precision(impl, dt)
    known = tuple(known_findings(target if isinstance(target, str) else impl, dt, options) if known is None else known)
    caps = capabilities_of(impl)
    target_conventions(expected, caps, space)  # a restriction the target cannot honour fails here, once
    if cases is not None:  # explicit cases (any size) are judged in this process, in order, unsharded
        if workers is not None or scheduler is not None or engine is not None:
            raise InvalidArgumentError("cases", f"{len(cases)} cases", "no explicit cases together with workers, "
                                       "scheduler or engine (explicit cases are judged in this process)")
        report = CheckReport(impl.name, _versions(impl), expected, dt, seed, examples)
        report.precision = (precision.describe() if precision is not None
                            else "default: " + PrecisionModel.conservative(dt).describe())
        report.known = known
        report.capabilities = tuple(capability_names(caps))
        report.restrictions = tuple(space.describe(dt))
        return _check_cases(report, impl, target, cases, thread_timeout=_thread_timeout(impl, case_timeout),
                            precision=precision, known=known, judge_engine=judge_engine, time_budget=time_budget,
                            progress=progress, judge_mode=judge_mode)
    plan = plan_shards(examples, seed, shard_size)
    spec = ShardSpec(target, impl, expected, dt, precision, caps, known, max_size, max_steps, case_timeout, shrink_runs,
                     shrink_seconds, None if time_budget is None else time.time() + time_budget, judge_engine,
                     dict(options or {}), judge_mode, space, large_sizes)
    versions = _versions(impl)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if engine is None:
            engine = stack.enter_context(Engine(workers, scheduler))
        elif workers is not None or scheduler is not None:
            raise InvalidArgumentError("engine", engine.describe(), "no engine together with workers or scheduler")
        if engine.serial:
            searched = [0]  # cases of the shards already finished: on_case counts over the whole campaign

            def case_seen(phase: str, done: int, total: int, result: CaseResult) -> None:
                if on_case is not None:
                    on_case(phase, searched[0] + done if phase == "search" else done,
                            examples if phase == "search" else total, result)

            def shard_searched(_shard: Shard, part: CheckReport) -> None:
                searched[0] += part.cases_run

            parts = engine.run(functools.partial(check_shard, spec, progress=progress,
                                                 on_case=case_seen if on_case is not None else None),
                               plan, stop=_has_findings, on_result=shard_searched)
        else:
            remote = dataclasses.replace(spec, impl=None) if isinstance(target, str) else spec

            def shard_done(shard: Shard, part: CheckReport) -> None:
                if progress:
                    progress(f"[{shard}] {part.cases_run} cases: " + ("FAIL " + part.findings[0].kind if part.findings
                                                                       else "ok"))

            parts = engine.run(functools.partial(check_shard, remote), plan, stop=_has_findings, on_result=shard_done)
    return merge_reports(parts, examples=examples, seed=seed, versions=versions, seconds=time.perf_counter() - start)


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    """Everything one shard of :func:`check_target` needs, resolved once by the caller; it travels to
    the workers (``impl`` None: resolve ``target`` by name there)."""

    target: Any
    impl: Implementation | None
    expected: ExpectedConvention
    dtype: Dtype
    precision: Any
    capabilities: frozenset[Capability]
    known: tuple[KnownFinding, ...]
    max_size: int
    max_steps: int
    case_timeout: float | None
    shrink_runs: int
    shrink_seconds: float
    deadline: float | None  # time.time() after which no case is started (None: no time budget)
    judge_engine: str = "vectorized"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # fixed constructor arguments
    judge_mode: str = "auto"
    space: CaseSpace = dataclasses.field(default_factory=CaseSpace)
    large_sizes: bool = False


def _has_findings(report: CheckReport) -> bool:
    return bool(report.findings)


def check_shard(spec: ShardSpec, shard: Shard, *, progress: Progress | None = None,
                on_case: CaseProgress | None = None) -> CheckReport:
    """Search one shard: ``shard.examples`` cases drawn with ``shard.seed``, stopping at the first
    failure, which hypothesis shrinks here (in the process that runs the shard)."""
    from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings  # loaded only when cases are drawn
    from hypothesis import seed as hypothesis_seed  # hypothesis loads only when cases are drawn


    target, expected, dt, precision, caps = spec.target, spec.expected, spec.dtype, spec.precision, spec.capabilities
    known = spec.known
    impl = spec.impl if spec.impl is not None else resolve_target(target, options=spec.options)
    judge_engine = spec.judge_engine
    examples, seed = shard.examples, shard.seed
    max_size, max_steps, case_timeout = spec.max_size, spec.max_steps, spec.case_timeout
    shrink_runs, shrink_seconds = spec.shrink_runs, spec.shrink_seconds
    time_budget = None if spec.deadline is None else max(spec.deadline - time.time(), 1e-9)
    if progress is not None and shard.count > 1:
        progress = _prefixed(progress, f"[{shard}] ")
    report = CheckReport(impl.name, _versions(impl), expected, dt, seed, examples)
    report.precision = precision.describe() if precision is not None else "default: " + PrecisionModel.conservative(dt).describe()
    report.known = known
    report.capabilities = tuple(capability_names(caps))
    report.restrictions = tuple(spec.space.describe(dt))
    # exact cases are searched and shrunk by hypothesis; the tensor-sized share is drawn after them and
    # reported as drawn (shrinking a 65,537-element case mostly spends the budget on the generator seed)
    tensors = examples * ARRAY_PERCENT // 100 if getattr(impl, "tensor_cases", True) and not spec.space.ordinary_only else 0
    exact = target_cases(expected, dt, caps, max_size=max_size, max_steps=max_steps, space=spec.space,
                         tensor_cases=False)
    start = time.perf_counter()
    failures: list[CaseResult] = []
    failed_at = [0.0]
    thread_timeout = _thread_timeout(impl, case_timeout)

    def search(strategy: Any, count: int, shrink: bool, salt: int) -> None:
        # a search that does not shrink gains nothing from hypothesis's first example (every choice at its
        # simplest: it exists as a shrink target), which is the same case in every shard and seed (for the
        # tensor-sized cases: 65,535 elements x 1 step, lr = 0, generator seed 0), nor from a case drawn
        # twice; both are rejected (not counted), so the count is of distinct cases from the seed's draw
        drawn: set[tuple[Any, ...]] = set()
        @settings(max_examples=count, database=None, deadline=None, derandomize=False,
                  phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
                  verbosity=Verbosity.quiet)
        @hypothesis_seed(seed + salt)
        @given(strategy)
        def prop(case: Case) -> None:
            latch.check()  # a Ctrl-C swallowed during the last example (verify/interrupts.py)
            if not shrink:
                key = (case.run.name, repr(case.run.config), case.dtype, case.run.size, case.run.steps)
                fresh = bool(drawn) and key not in drawn
                drawn.add(key)
                assume(fresh)
            searching = not failures
            if searching and time_budget is not None and time.perf_counter() - start > time_budget:
                report.stopped_by_budget = True
                raise _Abort()
            if not searching and (report.shrink_runs >= shrink_runs
                                  or time.perf_counter() - failed_at[0] > shrink_seconds):
                raise _Abort()
            result = evaluate(impl, case, timeout=thread_timeout, precision=precision, known=known,
                              judge_engine=judge_engine, judge_mode=spec.judge_mode)
            if searching:
                _tally(report, result, None if on_case is not None else progress)
                if on_case is not None:
                    on_case("search", report.cases_run, examples, result)
            else:
                report.shrink_runs += 1
                if on_case is not None:
                    on_case("shrink", report.shrink_runs, shrink_runs, result)
            if result.failed:
                if not failures:
                    failed_at[0] = time.perf_counter()
                failures.append(result)
                raise _FAILURE_TYPES[result.findings[0].kind](result.findings[0].describe())

        try:
            with draws_independent_of_imports():  # a seed draws the same cases whatever is imported
                prop()
        except (_Failed, _Abort):
            pass
        except Exception as exc:  # noqa: BLE001 - e.g. hypothesis' Flaky on a non-deterministic target
            if not failures:
                report.findings.append(Finding("exception", f"the search stopped: {type(exc).__name__}: {exc}"))

    with latched_interrupts() as latch:
        search(exact, examples - tensors, True, 0)
        latch.check()
        if tensors and not failures and not report.findings and not report.stopped_by_budget:
            search(tensor_sized_cases(expected, dt, caps, space=spec.space, large_sizes=spec.large_sizes), tensors,
                   False, 1)
            latch.check()
    report.seconds = time.perf_counter() - start
    if failures:
        minimal = failures[-1]
        first_kinds: dict[str, Finding] = {}
        for res in failures[:1] + [minimal]:
            for f in res.findings:
                first_kinds.setdefault(f.kind, f)
        report.findings = list(first_kinds.values())
        verdict = minimal.judgement.describe() if minimal.judgement is not None else (minimal.observation.error or "")
        report.counterexample = _counterexample(minimal, target, impl, verdict)
    report.passed = not report.findings and not report.inconclusive
    return report


def _mode(result: CaseResult) -> str:
    """How ``result`` was judged (``per-step`` or ``trajectory``)."""
    return getattr(result.judgement, "mode", "trajectory") if result.judgement is not None else "trajectory"


def _thread_timeout(impl: Implementation, case_timeout: float | None) -> float | None:
    own_timeout = getattr(impl, "timeout", None)  # e.g. a subprocess adapter kills its process itself
    if not isinstance(own_timeout, (int, float)) or case_timeout is None:
        return case_timeout
    return max(case_timeout, own_timeout) + 5.0


def _tally(report: CheckReport, result: CaseResult, progress: Progress | None) -> None:
    """Add one case of the search phase to the report."""
    report.cases_run += 1
    if result.judgement is not None and not result.set_aside:
        for key in report.counts:
            report.counts[key] += result.judgement.counts.get(key, 0)
        report.max_fraction_of_bound = max(report.max_fraction_of_bound, result.judgement.max_fraction_of_bound)
        report.add_judgement(result.judgement)
    for f in result.findings:
        report.finding_counts[f.kind] += 1
    for kid in result.known:
        report.known_counts[kid] = report.known_counts.get(kid, 0) + 1
        if kid not in report.outside_evidence and any(k.id == kid and k.outside_contract for k in report.known):
            run = result.case.run
            seen = result.judgement.describe() if result.judgement is not None else (result.observation.error or "")
            report.outside_evidence[kid] = f"{run.size} elements x {run.steps} steps: {seen}"
    if result.set_aside:
        report.cases_set_aside += 1
        report.set_aside_reasons.append(result.set_aside)
    if progress:
        progress(_progress_line(report, result))


REPRODUCTION_LIMIT = 4096
"""Element-steps above which a counterexample's reproduction is not spelled out as JSON."""


def _check_cases(report: CheckReport, impl: Implementation, target: Any, cases: list[Case], *,
                 thread_timeout: float | None, precision: Any, known: Sequence[KnownFinding], judge_engine: str,
                 time_budget: float | None, progress: Progress | None, judge_mode: str = "auto") -> CheckReport:
    """``check_target`` on explicit cases: judge each as given; the first failing one is reported."""
    start = time.perf_counter()
    for case in cases:
        if time_budget is not None and time.perf_counter() - start > time_budget:
            report.stopped_by_budget = True
            break
        result = evaluate(impl, case, timeout=thread_timeout, precision=precision, known=known,
                          judge_engine=judge_engine, judge_mode=judge_mode)
        _tally(report, result, progress)
        if result.failed:
            report.findings = list(result.findings)
            verdict = result.judgement.describe() if result.judgement is not None else (result.observation.error or "")
            report.counterexample = _counterexample(result, target, impl, verdict)
            break
    report.seconds = time.perf_counter() - start
    report.passed = not report.findings and not report.inconclusive
    return report


def _counterexample(result: CaseResult, target: Any, impl: Implementation, verdict: str) -> Counterexample:
    """The reported counterexample; a tensor-sized one is described, not spelled out as JSON."""
    case = result.case
    run = case.run
    small = run.size * run.steps <= REPRODUCTION_LIMIT
    text = reproduction(case, target, impl, _mode(result)) if small else (
        f"# a {run.size}-element x {run.steps}-step case ({run.name or 'tensor-sized'}): rebuild it as it was "
        "built (adamw_oracle.verify.strategies.array_case), then call check_target(..., cases=[case])")
    observed = result.observation.params.tolist() if small else []
    return Counterexample(case, result.findings, verdict, text, observed)


def _prefixed(progress: Progress, prefix: str) -> Progress:
    def prefixed(line: str) -> None:
        progress(prefix + line)

    return prefixed


def _progress_line(report: CheckReport, result: CaseResult) -> str:
    run = result.case.run
    status = "FAIL " + result.findings[0].kind if result.failed else (
        "known: " + ", ".join(result.known) if result.known else
        "empty" if run.size == 0 else
        "set aside (subnormal intermediate; target flushes to zero)" if result.set_aside else
        "ok" if result.judgement is not None and result.judgement.counts.get("within", 0) else "set aside")
    return (f"[{report.cases_run}/{report.examples}] {run.size} elements x {run.steps} steps: {status} "
            f"({result.seconds:.2f} s)")


def _versions(impl: Implementation) -> dict[str, str]:

    out = {"adamw-oracle": __version__, "python": platform.python_version()}
    getter = getattr(impl, "versions", None)
    if callable(getter):
        try:
            out.update(getter())
        except Exception as exc:  # noqa: BLE001 - a version lookup must not stop the check
            out["versions"] = f"unavailable ({type(exc).__name__})"
    return out


def _require_int(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidArgumentError(name, value, f"an int >= {low}")


def _empty(case: Case):

    return np.zeros((0, case.run.size), dtype=np.float64)


