"""Shared helpers of the benchmarks: best-of timing, the machine description, result records.

Every benchmark returns a :class:`BenchResult`: its measurements (seconds or rates, named), the
baseline they are divided by (measured in the same run), the target and whether it was met, and --
when it was not, or could not be measured here -- the gap and what stands in the way.
"""
from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class BenchResult:
    """One benchmark's outcome. ``target_met`` is None when the benchmark could not run here."""

    number: int
    name: str
    baseline: str
    target: str
    measurements: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    target_met: bool | None = None
    gap: str = ""
    notes: str = ""
    measured: str = ""  # when and under what load average (set by benchmarks.run)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_seconds(function: Callable[[], Any], repeat: int) -> float:
    """The smallest wall time of ``repeat`` calls (the least disturbed by other load on the machine)."""
    best = math.inf
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def best_seconds_interleaved(functions: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best of ``repeat`` timings of each function, taking turns so that they share the same load."""
    best = {name: math.inf for name in functions}
    for _ in range(max(1, repeat)):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, Python and library versions."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    from importlib import metadata

    versions = {}
    # read installed versions from package metadata: importing keras here would fix its backend
    for distribution in ("numpy", "mpmath", "gmpy2", "python-flint", "torch", "jax", "optax", "keras", "numba",
                         "cupy-cuda13x", "matplotlib"):
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    info["versions"] = versions
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None
