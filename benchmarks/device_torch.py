"""Device check, step 3: torch's CUDA Adam, AdamW and SGD (foreach and fused) judged by ``check``.

torch's CUDA foreach and fused optimizers process a tensor in chunks of 65,536 elements (vectorised
inside a chunk, a ragged tail at the end), a code path the CPU checks never reach. Each target here is a
torch adapter on ``device="cuda"`` wrapped in :class:`~adamw_oracle.adapters.tiled.TiledImplementation`,
so every case drawn by :func:`~adamw_oracle.check.check_target` runs as one tensor of 65,535, 65,536 or
65,537 elements (one short of, exactly, and one past the chunk) and every element is judged under the
error model against the reference convention of the optimizer's preset (``torch.Adam``, ``torch.AdamW``,
``torch.SGD``). Verdicts are recorded per target, dtype and size: PASS, KNOWN (only findings that the
same target declares as known on the CPU, adamw_oracle/adapters/targets.py, with their ids), FAIL or
INCONCLUSIVE.

Without a device, the same code checks torch's CPU fused AdamW on a 70-element tiled tensor (the
dry run's stand-in; it exercises this module, not the CUDA kernels).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

OPTIMIZERS = ("AdamW", "Adam", "SGD")
PATHS = ("foreach", "fused")
DTYPES = ("float32", "bfloat16", "float16")
SIZES = (65_537, 65_536, 65_535)
CHUNK = 65_536


def target(optimizer: str, path: str, device: str) -> Any:
    """The torch adapter of ``optimizer`` (Adam, AdamW or SGD) on ``path`` and ``device``."""
    if optimizer == "SGD":
        from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation

        return TorchSGDImplementation(path, device=device)
    from adamw_oracle.adapters.torch import TorchImplementation

    return TorchImplementation(optimizer, path, device=device)


def check_one(optimizer: str, path: str, dtype: str, total: int, device: str, *, examples: int,
              time_budget: float, seed: int = 0) -> dict[str, Any]:
    """One ``check_target`` run of a tiled torch target; its verdict and counts as a dict."""
    from adamw_oracle.adapters.registry import known_findings
    from adamw_oracle.adapters.tiled import TiledImplementation
    from adamw_oracle.check import check_target
    from adamw_oracle.contract import Dtype

    tiled = TiledImplementation(target(optimizer, path, device), total)
    # the known findings declared for the same target on the CPU: the same misbehaviour on CUDA is
    # reported as KNOWN (with its id); anything else fails
    cpu_name = f"torch.{optimizer}" + ("" if path == "foreach" else f"[{path}]")
    known = known_findings(cpu_name, Dtype.parse(dtype))
    report = check_target(tiled, expect=f"torch.{optimizer}", dtype=dtype, examples=examples, seed=seed,
                          time_budget=time_budget, shrink_seconds=min(5.0, time_budget), shrink_runs=30, known=known)
    out: dict[str, Any] = {
        "target": tiled.name, "optimizer": optimizer, "path": path, "dtype": dtype, "elements": total,
        "verdict": report.verdict, "known_counts": dict(report.known_counts), "known_declared_on_cpu": [k.id for k in known],
        "cases_run": report.cases_run, "counts": dict(report.counts),
        "max_fraction_of_bound": report.max_fraction_of_bound, "position_dependent_cases": tiled.position_dependent,
        "seconds": round(report.seconds, 2), "stopped_by_budget": report.stopped_by_budget,
        "findings": [f.describe() for f in report.findings[:3]],
    }
    if report.counterexample is not None:
        out["counterexample"] = report.counterexample.describe()[:4000]
    return out


def plan(device: str) -> list[tuple[str, str, str, int]]:
    """(optimizer, path, dtype, elements) in the order they run: every target and dtype at one size
    before the next size, so a run cut short by its budget has still covered every target."""
    if device == "cpu":
        return [("AdamW", "fused", "float32", 70)]
    return [(o, p, d, n) for n in SIZES for o in OPTIMIZERS for p in PATHS for d in DTYPES]


def run(device: str, *, time_budget: float, examples: int = 8,
        emit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Step 3: every planned check within ``time_budget`` seconds; ``emit`` gets the partial result after each."""
    import torch

    start = time.monotonic()
    todo = plan(device)
    result: dict[str, Any] = {"device": device, "torch": torch.__version__, "chunk": CHUNK, "examples": examples,
                              "planned": len(todo), "checks": [], "not_run": []}
    if device != "cpu":
        result["device_name"] = torch.cuda.get_device_name(0)
    else:
        result["stand_in"] = "no CUDA device: torch's CPU fused AdamW, tiled to 70 elements, exercises this step's code"
    for index, (optimizer, path, dtype, total) in enumerate(todo):
        left = time_budget - (time.monotonic() - start)
        if left < 2.0:
            result["not_run"] = [f"torch.{o}[{p}] {d} x{n}" for o, p, d, n in todo[index:]]
            break
        per_check = max(2.0, min(left / (len(todo) - index), 30.0))
        try:
            result["checks"].append(check_one(optimizer, path, dtype, total, device, examples=examples,
                                              time_budget=per_check, seed=index))
        except Exception as exc:  # noqa: BLE001 - recorded; the remaining checks still run
            result["checks"].append({"optimizer": optimizer, "path": path, "dtype": dtype, "elements": total,
                                     "verdict": "ERROR", "error": f"{type(exc).__name__}: {exc}"})
        if emit is not None:
            emit(summarise(result))
    return summarise(result)


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    verdicts = [c["verdict"] for c in result["checks"]]
    result["verdicts"] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    result["passed"] = bool(verdicts) and all(v in ("PASS", "KNOWN") for v in verdicts) and not result["not_run"]
    return result
