"""The thorough false-alarm campaign: ``check`` (the real adapters) over every correct target, per dtype.

Issue 12's target: 0 false alarms for torch (every path), optax and Keras (Adam, AdamW, SGD), the numpy
implementations and the GPU host build over 10,000 cases per dtype, drawn from ``check``'s case space (sizes up to 65,537
elements, seeded states and long runs, the gradient patterns) plus a share of training loops
(``check --loops``: several tensors, groups, schedules, missing gradients, resume points).

Usage::

    nice -n 19 python -m benchmarks.false_alarms                       # the full campaign (hours here)
    nice -n 19 python -m benchmarks.false_alarms --cases-per-dtype 200 --out /tmp/pilot   # a pilot
    python -m benchmarks.false_alarms --workers 8                      # a local Dask cluster of 8
    python -m benchmarks.false_alarms --scheduler tcp://10.0.0.5:8786  # a running Dask cluster

Why a script and not only a test: on this 2-core machine the campaign takes hours, so it must survive
being stopped and continue where it was, and its product is a results file (what was judged, what was
set aside and why, the findings) rather than one pass/fail. ``tests/test_false_alarms.py`` runs the same
code on a few cases in the default suite (plan, resume, summary) and the whole campaign under the
``thorough`` marker.

* **Plan.** :func:`plan` splits ``cases_per_dtype`` over the targets by :data:`SPLIT` (largest
  remainders, so the shares add up exactly) and cuts each target's share into shards of ``shard_size``
  cases. A shard's seed is SHA-256 of ``"adamw-oracle/false-alarms/{seed}/{key}"`` (its key names dtype,
  target, kind and index), so the plan and every shard's cases depend only on the arguments. Shards are
  ordered round by round (shard 0 of every target and dtype, then shard 1, ...), so a partial run covers
  every target and dtype about equally.
* **Shards** run on :class:`adamw_oracle.verify.distributed.Engine` (``--workers`` / ``--scheduler``;
  serial in this process by default). A ``check`` shard is one :func:`~adamw_oracle.check.check_target`
  call (one hypothesis search of ``shard_size`` cases; a finding stops the shard and is shrunk); a loop
  shard is one :func:`~adamw_oracle.check.loops.check_loops` call.
* **Resumable.** After every finished shard the results file (JSON) and its markdown summary are
  replaced atomically (:func:`adamw_oracle.atomic.write_atomically`): an interruption loses at most the
  shards in flight, never leaves a half-written file, and the next run with the same arguments skips the
  finished shards. A results file of another plan is refused (``--fresh`` starts over). SIGTERM or
  Ctrl-C stops a serial run after the shard in progress (a second one at once); exit status 130.
* **Known findings** (declared in :mod:`adamw_oracle.adapters.targets`) are counted as known, per id;
  anything else a shard reports is a *finding to investigate* and is listed with its counterexample.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FORMAT = "adamw-oracle false-alarm campaign 1"
DEFAULT_OUT = Path(__file__).resolve().parent / "false_alarms"
DEFAULT_SEED = 20261201
DEFAULT_CASES = 10_000
DEFAULT_SHARD = 50
DTYPES = ("float64", "float32", "float16", "bfloat16")
TORCH = [f"torch.{o}{p}" for o in ("Adam", "AdamW", "SGD") for p in ("", "[forloop]", "[fused]")]
NUMPY_VARIANTS = 8  # adamw_oracle.verify.numpy_impl.CORRECT_VARIANTS (checked against it in the tests)
HOST_BUILDS = ("gpu-host-build", "gpu-host-build[float32-arithmetic]", "gpu-host-build[stochastic-rounding]",
               "gpu-host-build[kahan]")
NUMPY_PRESETS = ("torch.AdamW", "torch.Adam", "optax.adamw", "optax.adam", "keras.Adam", "keras.AdamW",
                 "tfa.AdamW", "paper.AdamW", "hf.AdamW", "mlx.AdamW", "torch.SGD", "sgdw")
"""The conventions the numpy implementations and the host build (which implement every convention) are
checked against, one per shard in turn."""

SPLIT: tuple[tuple[str, str, int], ...] = (
    *((name, "check", 600) for name in TORCH),
    *((name, "check", 450) for name in ("optax.adam", "optax.adamw", "keras.Adam", "keras.AdamW", "optax.sgd", "keras.SGD")),
    *((f"numpy:{i}", "check", 75) for i in range(NUMPY_VARIANTS)),
    *((name, "check", 100) for name in HOST_BUILDS),
    *((name, "loops", 60) for name in TORCH),
    *((name, "loops", 90) for name in ("optax.adam", "optax.adamw", "keras.Adam", "keras.AdamW")),
)
"""(target, kind, cases of 10,000 per dtype): 9,100 ``check`` cases (torch 9 x 600, optax and Keras
6 x 450 -- Adam, AdamW and SGD --, numpy 8 x 75, host build 4 x 100) and 900 training loops (torch 9 x 60,
optax and Keras Adam/AdamW 4 x 90; their loop adapters are Adam-family only). Another ``cases_per_dtype``
scales every share (each at least 1)."""


KAHAN_NOTE = ("the Kahan-compensated targets (numpy:7, gpu-host-build[kahan]) are checked without check's "
              "tensor-sized cases: their judge (adamw_oracle.verify.kahan) is the per-element scalar one, about "
              "0.25 ms per element-step, so one 65,537-element case takes a minute or more here")


@dataclass(frozen=True)
class Item:
    """One shard of the campaign (plain data: it travels to a worker, which resolves the target)."""

    key: str
    target: str
    kind: str  # "check" or "loops"
    dtype: str
    index: int
    examples: int
    seed: int
    expect: str | None = None  # the preset a numpy / host-build shard is checked against


def shares(total: int, split: Sequence[tuple[str, str, int]] = SPLIT) -> list[int]:
    """``total`` cases split in the proportions of ``split`` (largest remainders; each share >= 1)."""
    weights = [w for _, _, w in split]
    exact = [total * w / sum(weights) for w in weights]
    out = [max(1, math.floor(x)) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (exact[i] - math.floor(exact[i]), -i), reverse=True)
    for i in order[:max(0, total - sum(out))]:
        out[i] += 1
    return out


def item_seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"adamw-oracle/false-alarms/{seed}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def plan(cases_per_dtype: int = DEFAULT_CASES, seed: int = DEFAULT_SEED, shard_size: int = DEFAULT_SHARD,
         dtypes: Sequence[str] = DTYPES, split: Sequence[tuple[str, str, int]] = SPLIT) -> list[Item]:
    """Every shard of the campaign, round by round (see the module docstring)."""
    rounds: dict[int, list[Item]] = {}
    counts = shares(cases_per_dtype, split)
    for dtype in dtypes:
        for position, ((target, kind, _), count) in enumerate(zip(split, counts)):
            for index in range(math.ceil(count / shard_size)):
                key = f"{dtype}/{target}/{kind}/{index}"
                expect = None
                if target.startswith(("numpy:", "gpu-host-build", "mutation:")):
                    expect = NUMPY_PRESETS[(index + position) % len(NUMPY_PRESETS)]
                rounds.setdefault(index, []).append(Item(key, target, kind, dtype, index,
                                                         min(shard_size, count - index * shard_size),
                                                         item_seed(seed, key), expect))
    return [item for index in sorted(rounds) for item in rounds[index]]


def plan_fingerprint(items: Sequence[Item]) -> str:
    text = json.dumps([asdict(i) for i in items], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- one shard (runs in a worker) --------------------------------------------------------------------------

def resolve(target: str) -> Any:
    """The implementation of a campaign target name (a built-in name is resolved by ``check`` itself).

    ``mutation:NAME`` is a deliberately broken numpy step of :mod:`adamw_oracle.verify.mutations`: not part
    of the campaign, it shows that the campaign reports what it should find (tests/test_false_alarms.py)."""
    if target.startswith("mutation:"):
        from adamw_oracle.verify import mutations  # heavy

        return getattr(mutations, target.split(":", 1)[1])()
    if target.startswith("numpy:"):
        from adamw_oracle.verify.numpy_impl import CORRECT_VARIANTS, NumpyImplementation  # heavy

        impl = NumpyImplementation(CORRECT_VARIANTS[int(target.split(":", 1)[1])])
        if impl.variant.kahan:
            impl.tensor_cases = False  # type: ignore[attr-defined]  # see KAHAN_NOTE
        return impl
    if target.startswith("gpu-host-build"):
        from adamw_oracle.gpu.host_impl import HostBuildImplementation  # heavy, needs a C++ compiler

        options = {"gpu-host-build": {}, "gpu-host-build[float32-arithmetic]": {"arithmetic": "float32"},
                   "gpu-host-build[stochastic-rounding]": {"rounding": "stochastic"},
                   "gpu-host-build[kahan]": {"summation": "kahan"}}[target]
        host = HostBuildImplementation(**options)
        if target == "gpu-host-build[kahan]":
            host.tensor_cases = False  # type: ignore[attr-defined]  # see KAHAN_NOTE
        return host
    return target


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def _ratio(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.3g}"


def _reason(text: str) -> str:
    """A set-aside reason without its case-specific details (what it is counted under)."""
    return text.split(":", 1)[0]


def run_item(item: Item) -> dict[str, Any]:
    """Run one shard and summarise it as plain JSON data."""
    if item.target.startswith("torch."):
        try:
            import torch  # torch's intra-op threads would take every core of the machine

            torch.set_num_threads(1)
        except ImportError:
            pass
    start = time.perf_counter()
    out: dict[str, Any] = {"key": item.key, "target": item.target, "kind": item.kind, "dtype": item.dtype,
                           "seed": item.seed, "examples": item.examples, "expect": item.expect}
    if item.kind == "loops":
        from adamw_oracle.check.loops import check_loops  # heavy

        loop = check_loops(item.target, dtype=item.dtype, examples=item.examples, seed=item.seed, shrink_runs=40)
        failure = None
        if not loop.passed:
            failure = {"kind": "loop_failure" if loop.failure is not None else "loop_error",
                       "message": loop.failure.describe() if loop.failure is not None else str(loop.error)}
        out.update(
            target_label=loop.target, cases=loop.loops, counts=dict(loop.counts), state_counts={},
            ill_reasons={}, max_fraction=0.0, known=dict(loop.known),
            cases_set_aside=loop.set_aside, set_aside=_count_reasons(loop.set_aside_reasons[:loop.set_aside]),
            findings=[failure] if failure else [], counterexample=loop.counterexample,
            versions={}, judge_modes={"loop": loop.loops})
    else:
        from adamw_oracle.check import check_target  # heavy

        clean = _CleanTally()
        report = check_target(resolve(item.target), expect=item.expect, dtype=item.dtype, examples=item.examples,
                              seed=item.seed, shard_size=item.examples, shrink_runs=60, shrink_seconds=30.0,
                              on_case=clean.on_case)
        out.update(
            target_label=report.target, cases=report.cases_run, counts=clean.counts,
            state_counts=clean.state_counts, ill_reasons=clean.ill_reasons,
            max_fraction=_finite(clean.max_fraction), known=dict(report.known_counts),
            known_counts=clean.known_counts, max_fraction_known=_finite(clean.max_fraction_known),
            cases_set_aside=report.cases_set_aside, set_aside=_count_reasons(report.set_aside_reasons),
            findings=[{"kind": f.kind, "message": f.describe()} for f in report.findings],
            counterexample=report.counterexample.as_dict() if report.counterexample is not None else None,
            versions=dict(report.versions), judge_modes=dict(report.judge_modes))
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


class _CleanTally:
    """The verdicts of the cases without any finding (``check``'s own counts also hold the element-steps of
    cases that showed a known finding, where the known misbehaviour puts elements outside their bound),
    and apart from them those of the known cases."""

    def __init__(self) -> None:
        self.counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
        self.known_counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
        self.state_counts: dict[str, int] = {}
        self.ill_reasons: dict[str, int] = {}
        self.max_fraction = 0.0
        self.max_fraction_known = 0.0

    def on_case(self, phase: str, done: int, total: int, result: Any) -> None:
        judgement = result.judgement
        if phase != "search" or judgement is None or result.set_aside or result.findings:
            return
        if result.known:
            for key in self.known_counts:
                self.known_counts[key] += judgement.counts.get(key, 0)
            self.max_fraction_known = max(self.max_fraction_known, judgement.max_fraction_of_bound)
            return
        for key in self.counts:
            self.counts[key] += judgement.counts.get(key, 0)
        for into, counts in ((self.state_counts, getattr(judgement, "state_counts", {})),
                             (self.ill_reasons, getattr(judgement, "ill_reasons", {}))):
            for key, count in counts.items():
                into[key] = into.get(key, 0) + count
        self.max_fraction = max(self.max_fraction, judgement.max_fraction_of_bound)


def _count_reasons(reasons: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[_reason(reason)] = counts.get(_reason(reason), 0) + 1
    return counts


# -- the results file ----------------------------------------------------------------------------------

def _load(path: Path, header: dict[str, Any], fresh: bool) -> dict[str, Any]:
    from adamw_oracle.errors import InvalidArgumentError

    if path.exists() and not fresh:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("plan") != header:
            raise InvalidArgumentError("--out", str(path), "a results file of this plan (same --cases-per-dtype, "
                                       "--seed, --shard-size, --dtypes), or --fresh to start over",
                                       f"it holds the plan {data.get('plan')}")
        return data
    return {"format": FORMAT, "plan": header, "started": _now(), "updated": _now(), "load": [], "items": {}}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def summarize(data: dict[str, Any], items: Sequence[Item]) -> dict[str, Any]:
    """Totals per dtype and per (dtype, target) over the finished shards."""
    def empty() -> dict[str, Any]:
        return {"shards": 0, "cases": 0, "planned": 0, "loops": 0, "within": 0, "outside": 0, "ill_conditioned": 0,
                "state_within": 0, "state_outside": 0, "ill_reasons": {}, "cases_set_aside": 0, "set_aside": {},
                "max_fraction": 0.0, "known": {}, "known_element_steps": 0, "known_outside": 0,
                "max_fraction_known": 0.0, "findings": 0, "seconds": 0.0}

    per_dtype: dict[str, dict[str, Any]] = {}
    per_target: dict[str, dict[str, Any]] = {}
    findings: list[dict[str, Any]] = []
    for item in items:
        for bucket in (per_dtype.setdefault(item.dtype, empty()),
                       per_target.setdefault(f"{item.dtype} {item.target} {item.kind}", empty())):
            bucket["planned"] += item.examples
    for item in items:
        done = data["items"].get(item.key)
        if done is None:
            continue
        for bucket in (per_dtype[item.dtype], per_target[f"{item.dtype} {item.target} {item.kind}"]):
            bucket["shards"] += 1
            bucket["cases"] += done["cases"]
            if item.kind == "loops":
                bucket["loops"] += done["cases"]
            for key in ("within", "outside", "ill_conditioned"):
                bucket[key] += done["counts"].get(key, 0)
            bucket["state_within"] += done["state_counts"].get("within", 0)
            bucket["state_outside"] += done["state_counts"].get("outside", 0)
            for field_name, into in (("ill_reasons", bucket["ill_reasons"]), ("set_aside", bucket["set_aside"]),
                                     ("known", bucket["known"])):
                for reason, count in done[field_name].items():
                    into[reason] = into.get(reason, 0) + count
            bucket["cases_set_aside"] += done["cases_set_aside"]
            bucket["max_fraction"] = max(bucket["max_fraction"], float(done["max_fraction"]))
            known_counts = done.get("known_counts", {})
            bucket["known_element_steps"] += sum(known_counts.values())
            bucket["known_outside"] += known_counts.get("outside", 0)
            bucket["max_fraction_known"] = max(bucket["max_fraction_known"], float(done.get("max_fraction_known", 0.0)))
            bucket["findings"] += len(done["findings"])
            bucket["seconds"] += done["seconds"]
        for finding in done["findings"]:
            findings.append({"shard": item.key, "target": done.get("target_label", item.target), "seed": item.seed,
                             "expect": item.expect, **finding,
                             "counterexample": done.get("counterexample")})
    for bucket in (*per_dtype.values(), *per_target.values()):
        for name in ("max_fraction", "max_fraction_known"):  # an infinite ratio is kept, as "inf"
            bucket[name] = _finite(bucket[name])
    return {"per_dtype": per_dtype, "per_target": per_target, "findings": findings,
            "shards_done": sum(1 for i in items if i.key in data["items"]), "shards_planned": len(items)}


def render_markdown(data: dict[str, Any], summary: dict[str, Any]) -> str:
    plan_header = data["plan"]
    lines = ["# The false-alarm campaign (issue 12)", "",
             f"`python -m benchmarks.false_alarms --cases-per-dtype {plan_header['cases_per_dtype']} "
             f"--seed {plan_header['seed']} --shard-size {plan_header['shard_size']}`: "
             f"{summary['shards_done']} of {summary['shards_planned']} shards finished "
             f"(started {data['started']}, updated {data['updated']}).", "", f"Note: {KAHAN_NOTE}.", "",
             "Cases with a declared known finding are counted apart (their element-steps, of which outside their "
             "bound, and their largest error/bound); every other column is over the cases without any finding. "
             "Loops count as cases; their element-steps are those of the loops that passed.", "",
             "| dtype | cases (of planned) | loops | element-steps judged | set aside (ill-conditioned) | "
             "cases set aside | largest error/bound | known: cases | known: element-steps (outside) | "
             "known: largest error/bound | findings |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for dtype, b in summary["per_dtype"].items():
        judged = b["within"] + b["outside"]
        lines.append(f"| {dtype} | {b['cases']:,} ({b['planned']:,}) | {b['loops']:,} | {judged:,} | "
                     f"{b['ill_conditioned']:,} | {b['cases_set_aside']:,} | {_ratio(b['max_fraction'])} | "
                     f"{sum(b['known'].values()):,} | {b['known_element_steps']:,} ({b['known_outside']:,}) | "
                     f"{_ratio(b['max_fraction_known'])} | {b['findings']} |")
    lines += ["", "## Per target", "",
              "| dtype | target | kind | cases | judged | set aside | largest error/bound | known | findings | s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, b in summary["per_target"].items():
        if not b["shards"]:
            continue
        dtype, target, kind = name.split(" ")
        known = ", ".join(f"{k} {n}" for k, n in sorted(b["known"].items())) or "-"
        lines.append(f"| {dtype} | {target} | {kind} | {b['cases']} | {b['within'] + b['outside']:,} | "
                     f"{b['ill_conditioned']:,} | {_ratio(b['max_fraction'])} | {known} | {b['findings']} | "
                     f"{b['seconds']:.0f} |")
    reasons: dict[str, int] = {}
    cases_aside: dict[str, int] = {}
    for b in summary["per_dtype"].values():
        for reason, count in b["ill_reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
        for reason, count in b["set_aside"].items():
            cases_aside[reason] = cases_aside.get(reason, 0) + count
    lines += ["", "## Set aside", "", "Element-steps set aside as ill-conditioned, per reason (all dtypes):", ""]
    lines += [f"* {reason}: {count:,}" for reason, count in sorted(reasons.items())] or ["* none"]
    lines += ["", "Whole cases set aside, per reason:", ""]
    lines += [f"* {reason}: {count:,}" for reason, count in sorted(cases_aside.items())] or ["* none"]
    lines += ["", "## Findings to investigate", ""]
    if not summary["findings"]:
        lines.append("None: every finding the shards reported is a declared known finding.")
    for f in summary["findings"]:
        lines.append(f"* `{f['shard']}` ({f['target']}, seed {f['seed']}"
                     + (f", expect {f['expect']}" if f["expect"] else "") + f"): {f['kind']}: "
                     + f["message"].replace("\n", " ")[:400])
    lines += ["", "## Load", "", "Load average (1 min) when shards finished: "
              + (", ".join(f"{t} {x}" for t, x in data["load"][-12:]) or "-"), ""]
    return "\n".join(lines)


def write_results(path: Path, data: dict[str, Any], items: Sequence[Item]) -> dict[str, Any]:
    from adamw_oracle.atomic import write_atomically

    data["updated"] = _now()
    summary = summarize(data, items)
    data["summary"] = summary
    write_atomically(path.with_suffix(".json"), json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")
    write_atomically(path.with_suffix(".md"), render_markdown(data, summary))
    return summary


# -- the campaign ----------------------------------------------------------------------------------

def run_campaign(out: Path = DEFAULT_OUT, *, cases_per_dtype: int = DEFAULT_CASES, seed: int = DEFAULT_SEED,
                 shard_size: int = DEFAULT_SHARD, dtypes: Sequence[str] = DTYPES, workers: int | None = None,
                 scheduler: str | None = None, engine: Any = None, fresh: bool = False, limit: int | None = None,
                 split: Sequence[tuple[str, str, int]] = SPLIT,
                 progress: Callable[[str], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run (or continue) the campaign into ``out``.json / ``out``.md; returns the summary.

    ``limit``: finish at most this many more shards, then stop (the file can be continued later).
    ``engine``: an open :class:`~adamw_oracle.verify.distributed.Engine` to use instead of ``workers`` /
    ``scheduler``. ``stop``: asked after every finished shard (whose results are written by then); True
    raises :class:`StopRequested`."""
    from adamw_oracle.verify.distributed import Engine

    items = plan(cases_per_dtype, seed, shard_size, dtypes, split)
    header = {"cases_per_dtype": cases_per_dtype, "seed": seed, "shard_size": shard_size, "dtypes": list(dtypes),
              "split": [list(s) for s in split], "fingerprint": plan_fingerprint(items)}
    path = Path(out)
    data = _load(path.with_suffix(".json"), header, fresh)
    todo = [i for i in items if i.key not in data["items"]]
    if limit is not None:
        todo = todo[:limit]
    started = time.perf_counter()
    finished = [0]

    def record(item: Item, result: dict[str, Any]) -> None:
        data["items"][item.key] = result
        finished[0] += 1
        if hasattr(os, "getloadavg"):
            data["load"].append([_now()[11:19], round(os.getloadavg()[0], 2)])
            data["load"] = data["load"][-200:]
        summary = write_results(path, data, items)
        if progress is not None:
            rate = (time.perf_counter() - started) / finished[0]
            status = ("FINDING " + result["findings"][0]["kind"] if result["findings"] else
                      "known " + ",".join(result["known"]) if result["known"] else "ok")
            progress(f"[{summary['shards_done']}/{len(items)}] {item.key}: {result['cases']} cases, {status} "
                     f"({result['seconds']:.1f} s; {len(summary['findings'])} findings so far; "
                     f"{rate * (len(todo) - finished[0]) / 3600:.1f} h left at this rate)")
        if stop is not None and stop():
            raise StopRequested(f"stopped after {summary['shards_done']} of {len(items)} shards")

    if progress is not None:
        progress(f"{len(data['items'])} of {len(items)} shards already done; "
                 f"running {len(todo)}")
    if todo and engine is not None:
        engine.run(run_item, todo, on_result=record)
    elif todo:
        with Engine(workers, scheduler) as opened:
            opened.run(run_item, todo, on_result=record)
    return write_results(path, data, items)


class StopRequested(Exception):
    """Raised after the shard that finished when a stop was asked for (its results are written)."""


class _StopSignal:
    """SIGTERM / SIGINT in a serial run: the first asks the campaign to stop after the shard in progress
    (raising in the middle of a shard can land in a callback that swallows it, e.g. a gc callback of
    hypothesis); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt(f"signal {signum}")
        self.requested = True
        print(f"signal {signum}: stopping after the shard in progress (again to stop at once)", file=sys.stderr,
              flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.false_alarms", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file stem (.json and .md)")
    parser.add_argument("--cases-per-dtype", type=int, default=DEFAULT_CASES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD)
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--limit", type=int, default=None, help="finish at most this many more shards")
    parser.add_argument("--fresh", action="store_true", help="start over (ignore an existing results file)")
    args = parser.parse_args(argv)
    from adamw_oracle.errors import InvalidArgumentError

    for name in ("cases_per_dtype", "shard_size"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}", file=sys.stderr)
            return 2
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not dtypes or any(d not in DTYPES for d in dtypes):
        print(f"error: --dtypes {args.dtypes!r}: a comma-separated list of {', '.join(DTYPES)}", file=sys.stderr)
        return 2
    stop = _StopSignal()
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        summary = run_campaign(args.out, cases_per_dtype=args.cases_per_dtype, seed=args.seed,
                               shard_size=args.shard_size, dtypes=dtypes, workers=args.workers,
                               scheduler=args.scheduler, fresh=args.fresh, limit=args.limit, progress=say,
                               stop=lambda: stop.requested)
    except InvalidArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, StopRequested) as exc:
        print(f"interrupted ({exc}): the finished shards are in {args.out.with_suffix('.json')}; the same "
              "command continues the campaign", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"{summary['shards_done']} of {summary['shards_planned']} shards; {len(summary['findings'])} findings "
          f"to investigate; results in {args.out.with_suffix('.md')}")
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    # one thread per process for the frameworks' own pools (set before they are imported): the campaign
    # must not take every core of a shared machine
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_name, "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    sys.exit(main())
