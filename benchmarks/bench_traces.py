"""Benchmark 2: regeneration of every golden trace, certified, written to a scratch directory.

Measured: wall time of :func:`adamw_oracle.traces.write_all` into an empty temporary directory (every
trace certified by interval arithmetic, rendered to JSON and Markdown, the errata included), best of
``repeat``. Baseline: none besides the target (< 10 s on this machine); the number of traces and files
is reported with it.
"""
from __future__ import annotations

import tempfile

from benchmarks.common import BenchResult, best_seconds

TARGET_SECONDS = 10.0
REPEAT = {"full": 3, "tiny": 1}


def run(size: str = "full") -> BenchResult:
    result = BenchResult(2, "regenerate every golden trace, certified", baseline="target: 10 s wall time",
                         target=f"< {TARGET_SECONDS:g} s")
    try:
        from adamw_oracle.traces import catalogue, write_all
    except ImportError as exc:
        result.gap = f"adamw_oracle.traces is not importable here: {exc}"
        return result
    if size == "tiny":
        # the smoke run exercises the path on the first trace only
        from adamw_oracle.traces import certify_trace

        spec = catalogue()[0]
        seconds = best_seconds(lambda: certify_trace(spec), 1)
        result.measurements = {"traces": 1, "seconds": seconds}
        result.target_met = None
        result.notes = "tiny run: one trace certified, the full regeneration is not timed"
        return result
    files: list[int] = []

    def regenerate() -> None:
        with tempfile.TemporaryDirectory(prefix="adamw-traces-") as scratch:
            files.append(len(write_all(scratch)))

    seconds = best_seconds(regenerate, REPEAT[size])
    result.measurements = {"traces": len(catalogue()), "files_written": files[-1], "seconds": seconds}
    result.ratios = {"seconds / target": seconds / TARGET_SECONDS}
    result.target_met = seconds < TARGET_SECONDS
    if not result.target_met:
        result.gap = f"{seconds:.1f} s against {TARGET_SECONDS:g} s"
    return result
