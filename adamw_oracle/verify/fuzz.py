"""The three-way fuzz: reference vs symbolic, and GPU host build + numpy vs the reference's error bound.

For each case drawn from :func:`adamw_oracle.strategies.cases` (every convention, every dtype):

1. reference (mpmath, interval) and symbolic (``symbolic.interval_step``) enclosures of every step
   quantity must overlap on the first two and the last step (:func:`layers.symbolic_disagreements`);
2. the GPU layer's host build (:class:`adamw_oracle.gpu.HostBuildImplementation`) and every correct
   numpy variant must stay within the error-model bound (:func:`adamw_oracle.verify.judge`).

A layer that cannot be imported is reported in ``skipped`` (never silently counted as passing).

:func:`fuzz_campaign` cuts a campaign into seeded shards (:mod:`adamw_oracle.verify.distributed`), runs
each shard as one :func:`three_way_fuzz` on an engine (serial, a local Dask cluster, or a remote
scheduler) and merges the shard summaries in shard order: the same examples and seed give the same
summary (apart from ``seconds``) on every engine.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from adamw_oracle.contract.case import Case, Implementation
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.distributed import Engine, Shard, draws_independent_of_imports, plan_shards
from adamw_oracle.verify.interrupts import latched_interrupts
from adamw_oracle.verify.layers import implementations_under_bound, symbolic_disagreements
from adamw_oracle.verify.numpy_impl import correct_implementations


@dataclass
class FuzzSummary:
    """Outcome of :func:`three_way_fuzz`.

    ``cases``: cases run; ``failures``: number of failing (case, layer) pairs, each described in
    ``failure_details`` (readable text with the case); ``ill_conditioned``: element-steps set aside by
    the judge; ``passed``: no failure. ``max_ratio`` holds, per implementation, the largest
    error / (unslackened bound) seen: the measured slack.
    """

    cases: int = 0
    failure_details: list[str] = field(default_factory=list)
    ill_conditioned: int = 0
    judged: int = 0
    symbolic_checks: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    max_ratio: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    per_dtype: dict[str, int] = field(default_factory=dict)
    shards: int = 1

    @property
    def failures(self) -> int:
        return len(self.failure_details)

    @property
    def passed(self) -> bool:
        return not self.failure_details

    def as_dict(self, *, timing: bool = True) -> dict[str, Any]:
        """Every field (and ``failures``, ``passed``); without ``seconds`` when ``timing`` is False, which
        is what two runs of the same campaign on different engines must agree on."""
        out = asdict(self)
        out.update(failures=self.failures, passed=self.passed)
        if not timing:
            del out["seconds"]
        return out

    def describe(self) -> str:
        lines = [
            f"three-way fuzz: {self.cases} cases ({', '.join(f'{k} {v}' for k, v in sorted(self.per_dtype.items()))}), "
            f"{self.failures} failures, {len(self.skipped)} layer{'' if len(self.skipped) == 1 else 's'} skipped, {self.judged} element-steps judged, {self.ill_conditioned} set aside "
            f"as ill-conditioned, {self.symbolic_checks} reference/symbolic step comparisons, {self.seconds:.1f} s",
        ]
        for name, ratio in sorted(self.max_ratio.items()):
            lines.append(f"  {name}: largest error/bound {ratio:.3g}")
        for name, reason in sorted(self.skipped.items()):
            lines.append(f"  skipped {name}: {reason}")
        lines.extend("  FAIL " + f.replace("\n", "\n       ") for f in self.failure_details[:10])
        if self.failures > 10:
            lines.append(f"  ... {self.failures - 10} more failures")
        return "\n".join(lines)


def default_implementations(summary: FuzzSummary) -> list[Implementation]:
    """The GPU host build (when it can be built here; also its float32 arithmetic for float64
    parameters, its stochastic rounding of bfloat16 parameters and its Kahan-compensated parameters)
    and every correct numpy variant."""
    impls: list[Implementation] = []
    try:
        reason = host_build_unavailable()
    except Exception as exc:  # noqa: BLE001 - the build itself failed: a failure, with its message
        summary.failure_details.append(f"gpu-host-build: {type(exc).__name__}: {exc}")
        return impls + correct_implementations()
    if reason is None:
        from adamw_oracle.gpu import HostBuildImplementation  # heavy or optional

        impls += [HostBuildImplementation(), HostBuildImplementation(arithmetic="float32"),
                  HostBuildImplementation(rounding="stochastic"), HostBuildImplementation(summation="kahan")]
    else:  # reported, never silently passed nor counted as a failure of every case
        summary.skipped["gpu-host-build"] = reason
    impls.extend(correct_implementations())
    return impls


def host_build_unavailable() -> str | None:
    """Why the GPU layer's host build cannot run here (None when it can): it is built (or found in
    the cache) and loaded once, so a missing compiler or missing kernel sources is known before any
    case is drawn. A failing build is raised (it is a failure, not a skip)."""
    try:
        from adamw_oracle.gpu.hostbuild import MissingSourcesError, NoCompilerError, load_library  # heavy or optional
    except Exception as exc:  # noqa: BLE001 - the layer itself cannot be imported
        return f"{type(exc).__name__}: {exc}"
    try:
        load_library()
    except NoCompilerError:
        return f"no compiler (CXX={os.environ.get('CXX', 'g++ (default)')})"
    except MissingSourcesError as exc:
        return "no kernel sources (" + ", ".join(str(m) for m in exc.missing) + ")"
    return None


def _symbolic_factory(summary: FuzzSummary) -> Any:
    try:
        from adamw_oracle.symbolic import interval_step  # heavy or optional

        return interval_step
    except Exception as exc:
        summary.skipped["symbolic"] = f"{type(exc).__name__}: {exc}"
        return None


def check_case(case: Case, implementations: Sequence[Implementation], summary: FuzzSummary, symbolic: Any = None) -> None:
    """Run both comparisons on one case and record the outcome in ``summary``."""
    summary.cases += 1
    summary.per_dtype[case.dtype.value] = summary.per_dtype.get(case.dtype.value, 0) + 1
    if symbolic is not None:
        try:
            found = symbolic_disagreements(case, symbolic(case.run.config), step_for=symbolic)
            summary.symbolic_checks += 1
        except Exception as exc:
            summary.failure_details.append(f"symbolic layer raised {type(exc).__name__}: {exc}\n{case!r}")
            found = []
        if found:
            summary.failure_details.append(found[0].describe() + f" ({len(found)} quantities)\n{case!r}")
    for impl, verdict in implementations_under_bound(case, implementations):
        summary.judged += verdict.counts["within"] + verdict.counts["outside"]
        summary.ill_conditioned += verdict.counts["ill_conditioned"]
        ratio = verdict.max_fraction_of_bound * verdict.slack
        summary.max_ratio[impl.name] = max(summary.max_ratio.get(impl.name, 0.0), ratio)
        if not verdict.passed:
            summary.failure_details.append(f"{impl.name}: {verdict.describe()}\n{case!r}")


def three_way_fuzz(examples: int, seed: int, *, implementations: Sequence[Implementation] | None = None,
                   symbolic: bool = True, strategy: Any = None,
                   on_case: Callable[[int, int, int], None] | None = None) -> FuzzSummary:
    """Draw ``examples`` cases with hypothesis seed ``seed`` and hold the three layers against each other.

    Args:
        examples: number of cases (>= 1).
        seed: hypothesis seed (the same seed draws the same cases).
        implementations: what to judge (default: GPU host build + correct numpy variants).
        symbolic: compare the reference with the symbolic layer too.
        strategy: the case strategy (default: ``adamw_oracle.strategies.cases()``).
        on_case: called after every case with (cases done, ``examples``, failures so far), e.g. to
            draw a progress bar.
    """
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
        raise InvalidArgumentError("examples", examples, "an int >= 1")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InvalidArgumentError("seed", seed, "an int >= 0")
    from hypothesis import HealthCheck, Phase, given, settings  # hypothesis loads only when cases are drawn
    from hypothesis import seed as hypothesis_seed  # hypothesis loads only when cases are drawn

    from adamw_oracle.verify.strategies import cases  # heavy or optional

    summary = FuzzSummary()
    impls = list(implementations) if implementations is not None else default_implementations(summary)
    sym = _symbolic_factory(summary) if symbolic else None
    strategy = strategy if strategy is not None else cases()
    start = time.perf_counter()

    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate], derandomize=False,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(strategy)
    def campaign(case: Case) -> None:
        latch.check()  # a Ctrl-C swallowed during the last example (verify/interrupts.py)
        check_case(case, impls, summary, sym)
        if on_case is not None:
            on_case(summary.cases, examples, summary.failures)

    with draws_independent_of_imports(), latched_interrupts() as latch:  # same draws whatever is imported
        campaign()
        latch.check()
    summary.seconds = time.perf_counter() - start
    return summary


def merge_summaries(parts: Sequence[FuzzSummary], seconds: float = 0.0) -> FuzzSummary:
    """One summary of the shard summaries ``parts``, taken in shard order: counts add up, failures are
    listed shard by shard, each ``max_ratio`` is the largest over the shards, ``skipped`` the union."""
    merged = FuzzSummary(seconds=seconds, shards=sum(p.shards for p in parts))
    for part in parts:
        merged.cases += part.cases
        merged.failure_details.extend(part.failure_details)
        merged.ill_conditioned += part.ill_conditioned
        merged.judged += part.judged
        merged.symbolic_checks += part.symbolic_checks
        for name, reason in part.skipped.items():
            merged.skipped.setdefault(name, reason)
        for name, ratio in part.max_ratio.items():
            merged.max_ratio[name] = max(merged.max_ratio.get(name, 0.0), ratio)
        for dtype, count in part.per_dtype.items():
            merged.per_dtype[dtype] = merged.per_dtype.get(dtype, 0) + count
    merged.max_ratio = dict(sorted(merged.max_ratio.items()))
    merged.per_dtype = dict(sorted(merged.per_dtype.items()))
    merged.skipped = dict(sorted(merged.skipped.items()))
    return merged


def fuzz_shard(shard: Shard, *, implementations: Sequence[Implementation] | None = None, symbolic: bool = True,
               strategy_factory: Callable[[], Any] | None = None) -> FuzzSummary:
    """One shard of :func:`fuzz_campaign`: :func:`three_way_fuzz` with the shard's examples and seed.
    Runs wherever the engine puts it, so the strategy travels as a factory (built in the worker)."""
    strategy = strategy_factory() if strategy_factory is not None else None
    return three_way_fuzz(shard.examples, shard.seed, implementations=implementations, symbolic=symbolic,
                          strategy=strategy)


def fuzz_campaign(examples: int, seed: int, *, workers: int | None = None, scheduler: str | None = None,
                  engine: Engine | None = None, shard_size: int | None = None,
                  implementations: Sequence[Implementation] | None = None, symbolic: bool = True,
                  strategy_factory: Callable[[], Any] | None = None,
                  on_shard: Callable[[Shard, FuzzSummary], None] | None = None) -> FuzzSummary:
    """The three-way fuzz of ``examples`` cases, seed ``seed``, in shards (see the module docstring).

    Args:
        examples: number of cases (>= 1), cut by :func:`~adamw_oracle.verify.distributed.plan_shards`.
        seed: campaign seed; shard ``i`` draws with ``shard_seed(seed, i)``.
        workers: shards on a local Dask cluster of this many processes (None or 1: serial, in process).
        scheduler: shards on the workers of the running Dask scheduler at this address.
        engine: an open :class:`~adamw_oracle.verify.distributed.Engine` to reuse instead (excludes both).
        shard_size: examples per shard (default: at least 10, at most 1024 shards).
        implementations, symbolic: as for :func:`three_way_fuzz` (implementations must pickle).
        strategy_factory: a picklable callable returning the case strategy (default ``cases()``), e.g.
            ``functools.partial(adamw_oracle.strategies.cases, dtypes_=[Dtype.FLOAT16])``.
        on_shard: called in this process with each shard and its summary as it arrives.
    """
    plan = plan_shards(examples, seed, shard_size)
    task = functools.partial(fuzz_shard, implementations=implementations, symbolic=symbolic,
                             strategy_factory=strategy_factory)
    start = time.perf_counter()
    if engine is None:
        with Engine(workers, scheduler) as own:
            parts = own.run(task, plan, on_result=on_shard)
    elif workers is not None or scheduler is not None:
        raise InvalidArgumentError("engine", engine.describe(), "no engine together with workers or scheduler")
    else:
        parts = engine.run(task, plan, on_result=on_shard)
    return merge_summaries(parts, time.perf_counter() - start)
