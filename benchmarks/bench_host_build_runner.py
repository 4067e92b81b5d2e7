"""Benchmark 5: the GPU layer's host build, as measured by the GPU developer's ``bench_host_build.py``.

This module only runs that script in a subprocess and reads the JSON it prints as its last line of
output. The script, its baselines (torch fused CPU AdamW, a numba fused loop, the machine's copy
bandwidth) and its target are the GPU layer's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import BenchResult

SCRIPT = Path(__file__).with_name("bench_host_build.py")


def run(size: str = "full") -> BenchResult:
    result = BenchResult(5, "GPU layer host build bandwidth (bench_host_build.py)",
                         baseline="torch fused CPU AdamW and a numba fused loop; copy bandwidth as ceiling",
                         target="host build at or above torch fused")
    if not SCRIPT.exists():
        result.gap = "benchmarks/bench_host_build.py (the GPU layer's script) is not present"
        return result
    command = [sys.executable, str(SCRIPT)] + (["--tiny"] if size == "tiny" else [])
    root = SCRIPT.parent.parent
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONPATH": str(root)})
    if done.returncode != 0:
        result.gap = f"bench_host_build.py exited {done.returncode}: {done.stderr.strip().splitlines()[-1:] }"
        return result
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        result.gap = "bench_host_build.py printed no JSON summary on its last line"
        result.notes = done.stdout[-2000:]
        return result
    result.measurements = data.get("measurements", data)
    result.ratios = data.get("ratios", {})
    result.target_met = data.get("target_met")
    result.gap = data.get("gap", "")
    result.notes = data.get("notes", "")
    return result
