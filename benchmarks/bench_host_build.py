"""Bandwidth of the GPU layer's host build: one fused AdamW step over n elements.

Compared in the same run, on the same machine, for n = 1e5, 1e6, 1e7 and float32/float64:

* ``host``: the kernels' header compiled by g++ (-O3, OpenMP, no contraction), through
  :func:`adamw_oracle.gpu.host.host_fused_step` (the public entry point, argument checks included);
* ``torch_fused``: ``torch.optim.AdamW(..., fused=True)`` on the CPU, ``opt.step()``;
* ``numba``: a ``numba.njit(parallel=True)`` fused loop with the same operations (no fastmath);
* ``copy``: the machine's copy bandwidth at the same byte count (best of numpy ``copyto`` and
  torch ``copy_``), the ceiling a memory-bound step can approach.

Rates are GB/s counting the 7 arrays a step touches (read p, g, m, v; write p, m, v), i.e.
``7 * n * itemsize / seconds``; the copy counts its read and its write. Each figure is the best of
several timed repetitions of ``STEPS`` steps. Target: host >= torch fused at every size and dtype.

Usage: ``python benchmarks/bench_host_build.py [--tiny]`` prints a table and, on its last line, a
JSON summary (read by ``benchmarks/bench_host_build_runner.py``); ``run(results)`` fills a dict.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

import numpy as np

SIZES = (10**5, 10**6, 10**7)
TINY_SIZES = (10**5,)
DTYPES = ("float32", "float64")
ARRAYS_TOUCHED = 7
HYPER = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2}


def _best(fn: Callable[[], None], steps: int, repeats: int) -> float:
    """Smallest seconds per call over ``repeats`` timings of ``steps`` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def _plan(n: int) -> tuple[int, int]:
    steps = max(1, min(200, 2 * 10**7 // n))
    return steps, 5 if n <= 10**6 else 4


def _inputs(n: int, dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "p": rng.normal(size=n).astype(dtype), "g": (rng.normal(size=n) * 1e-2).astype(dtype),
        "m": np.zeros(n, dtype), "v": np.zeros(n, dtype),
    }


def time_host(n: int, dtype: str) -> float:
    from adamw_oracle.contract import preset
    from adamw_oracle.gpu.codes import flags_for
    from adamw_oracle.gpu.host import host_fused_step
    from adamw_oracle.gpu.scalars import step_scalars

    config = preset("torch.AdamW", **{k: str(v) for k, v in {"lr": HYPER["lr"], "weight_decay": HYPER["weight_decay"]}.items()})
    flags = flags_for(config)
    a = _inputs(n, dtype)
    # the per-step scalars of one step (their host cost is part of a real step, included below)
    counter = [0]

    def step() -> None:
        counter[0] += 1
        host_fused_step(dtype, flags, step_scalars(config, counter[0]), a["p"], a["g"], a["m"], a["v"], None)

    return _best(step, *_plan(n))


def time_torch_fused(n: int, dtype: str) -> float:
    import torch

    a = _inputs(n, dtype)
    p = torch.from_numpy(a["p"]).requires_grad_(True)
    p.grad = torch.from_numpy(a["g"])
    opt = torch.optim.AdamW([p], lr=HYPER["lr"], betas=(HYPER["beta1"], HYPER["beta2"]), eps=HYPER["eps"],
                            weight_decay=HYPER["weight_decay"], fused=True)
    return _best(opt.step, *_plan(n))


_numba_kernels: dict[str, Any] = {}


def _numba_step() -> Any:
    if "step" not in _numba_kernels:
        import numba

        @numba.njit(parallel=True, fastmath=False, cache=False)
        def adamw_step(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, bc1, bc2, lr, eps, decay):  # pragma: no cover
            for i in numba.prange(p.shape[0]):
                gi = g[i]
                mi = beta1 * m[i] + one_minus_beta1 * gi
                vi = beta2 * v[i] + one_minus_beta2 * (gi * gi)
                m[i] = mi
                v[i] = vi
                update = (lr * (mi / bc1)) / (np.sqrt(vi / bc2) + eps)
                p[i] = (p[i] - decay * p[i]) - update

        _numba_kernels["step"] = adamw_step
    return _numba_kernels["step"]


def time_numba(n: int, dtype: str) -> float:
    kernel = _numba_step()
    a = _inputs(n, dtype)
    ct = np.dtype(dtype).type
    counter = [0]

    def step() -> None:
        counter[0] += 1
        t = counter[0]
        bc1, bc2 = 1.0 - HYPER["beta1"] ** t, 1.0 - HYPER["beta2"] ** t
        kernel(a["p"], a["g"], a["m"], a["v"], ct(HYPER["beta1"]), ct(1 - HYPER["beta1"]), ct(HYPER["beta2"]),
               ct(1 - HYPER["beta2"]), ct(bc1), ct(bc2), ct(HYPER["lr"]), ct(HYPER["eps"]),
               ct(HYPER["lr"] * HYPER["weight_decay"]))

    return _best(step, *_plan(n))


def time_copy(n: int, dtype: str) -> float:
    """Seconds to copy 3.5*n elements (7*n elements moved: the same bytes as one step)."""
    count = ARRAYS_TOUCHED * n // 2
    src = np.ones(count, dtype)
    dst = np.empty_like(src)
    best = _best(lambda: np.copyto(dst, src), *_plan(n))
    try:
        import torch

        ts, td = torch.from_numpy(src), torch.from_numpy(dst)
        best = min(best, _best(lambda: td.copy_(ts), *_plan(n)))
    except ImportError:
        pass
    return best


def run(results: dict[str, Any], *, tiny: bool = False) -> None:
    """Measure everything; fill ``results`` with ``measurements``, ``ratios``, ``target_met``, ``gap``."""
    measurements: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    missing: list[str] = []
    timers = {"host": time_host, "torch_fused": time_torch_fused, "numba": time_numba, "copy": time_copy}
    for dtype in DTYPES:
        itemsize = np.dtype(dtype).itemsize
        for n in TINY_SIZES if tiny else SIZES:
            row: dict[str, float] = {}
            for name, timer in timers.items():
                try:
                    seconds = timer(n, dtype)
                except ImportError as exc:
                    missing.append(f"{name}: {exc}")
                    continue
                row[f"{name}_gbps"] = ARRAYS_TOUCHED * n * itemsize / seconds / 1e9
                row[f"{name}_ns_per_element"] = seconds / n * 1e9
            key = f"{dtype}_n{n:.0e}".replace("+0", "")
            measurements[key] = row
            if "host_gbps" in row and "torch_fused_gbps" in row:
                ratios[f"{key}_host_over_torch_fused"] = row["host_gbps"] / row["torch_fused_gbps"]
            if "host_gbps" in row and "copy_gbps" in row:
                ratios[f"{key}_host_over_copy"] = row["host_gbps"] / row["copy_gbps"]
    vs_torch = [v for k, v in ratios.items() if k.endswith("_host_over_torch_fused")]
    results["measurements"] = measurements
    results["ratios"] = ratios
    results["target_met"] = bool(vs_torch) and min(vs_torch) >= 1.0
    gaps = [k for k, v in ratios.items() if k.endswith("_host_over_torch_fused") and v < 1.0]
    results["gap"] = ("" if not gaps else "host build below torch fused at: " + ", ".join(gaps)) + (
        ("; not measured: " + "; ".join(sorted(set(missing)))) if missing else "")
    results["notes"] = ("GB/s over the 7 arrays of a step; copy = best of numpy copyto and torch copy_ "
                        "at the same byte count; best of several repetitions")


def _table(results: dict[str, Any]) -> str:
    lines = [f"{'case':<18}{'host':>9}{'torch':>9}{'numba':>9}{'copy':>9}   GB/s"]
    for key, row in results["measurements"].items():
        cells = "".join(f"{row.get(name + '_gbps', float('nan')):9.1f}" for name in ("host", "torch_fused", "numba", "copy"))
        lines.append(f"{key:<18}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="only n = 1e5 (a smoke run)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    run(results, tiny=args.tiny)
    print(_table(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
