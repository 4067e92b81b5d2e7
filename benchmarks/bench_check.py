"""Benchmark 3: ``check`` throughput against torch.optim.AdamW, float32, up to 8 elements x 16 steps.

Measured in the same run:

* ``check``: :func:`adamw_oracle.check.check_target` ("torch.AdamW", float32, ``examples`` cases of at
  most 8 elements and 16 steps) -- drawing the cases, running torch through its adapter, the exact
  trajectory and the error-model bound, judging. The shape of every case is read from check's
  progress lines.
* baseline, torch alone: ``torch.optim.AdamW`` stepping cases of exactly those shapes (fresh float32
  tensors and optimizer per case), nothing else.
* where check's time goes, on seeded 8 x 16 float32 cases: the error-model bound
  (:func:`adamw_oracle.verify.error_model.bounded_trajectory`) and torch through the adapter.

Ratio = check seconds / torch-alone seconds. Target: <= 2.
"""
from __future__ import annotations

import re
import statistics
import time

from benchmarks.common import BenchResult

SIZE, STEPS = 8, 16
EXAMPLES = {"full": 50, "tiny": 2}
SHAPE = re.compile(r"(\d+) elements x (\d+) steps")


def torch_alone(shapes: list[tuple[int, int]], seed: int = 0) -> float:
    """Seconds for fresh torch.optim.AdamW runs (float32) of the given (elements, steps) shapes."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    inputs = [(torch.randn(n, generator=generator), torch.randn(max(steps, 1), n, generator=generator) * 0.1, steps)
              for n, steps in shapes]
    start = time.perf_counter()
    for p0, grads, steps in inputs:
        p = p0.clone().requires_grad_(True)
        opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=1e-2)
        for k in range(steps):
            p.grad = grads[k].clone()
            opt.step()
    return time.perf_counter() - start


def cost_breakdown(shapes: list[tuple[int, int]]) -> dict[str, float]:
    """Seconds for seeded float32 cases of the given shapes: torch via its adapter, and the judge check
    uses on its observation (``check.runner.judge_case``: the per-step judge where torch exposes its state).
    Each case has a fresh configuration, so the judge's time includes tracing its step once (check's own
    cases share that cost less): reported as a measurement, not as check's breakdown."""
    from adamw_oracle.adapters.registry import resolve_target
    from adamw_oracle.check.runner import judge_case
    from adamw_oracle.contract.dtypes import Dtype
    from adamw_oracle.plots.check_report import make_cases

    torch_impl = resolve_target("torch.AdamW")
    judge = adapter = 0.0
    for index, (n, steps) in enumerate(shapes):
        if n == 0 or steps == 0:
            continue
        case = make_cases("torch.AdamW", Dtype.FLOAT32, 1, seed=index, size=n, steps=steps)[0]
        start = time.perf_counter()
        observation = torch_impl.run(case)
        adapter += time.perf_counter() - start
        start = time.perf_counter()
        judge_case(case, observation)
        judge += time.perf_counter() - start
    return {"judge_seconds": judge, "torch_via_adapter_seconds": adapter}


def run(size: str = "full") -> BenchResult:
    result = BenchResult(3, "check throughput, torch.AdamW float32 (up to 8 elements x 16 steps)",
                         baseline="torch.optim.AdamW alone on cases of the same shapes",
                         target="check time / torch-alone time <= 2")
    try:
        import torch  # noqa: F401

        from adamw_oracle.check import check_target
    except ImportError as exc:
        result.gap = f"cannot run here: {exc}"
        return result
    examples = EXAMPLES[size]
    check_target("torch.AdamW", dtype="float32", examples=1, seed=1, max_size=SIZE, max_steps=STEPS)  # warm-up
    best = None
    for _ in range(1 if size == "tiny" else 2):
        shapes: list[tuple[int, int]] = []

        def progress(line: str) -> None:
            found = SHAPE.search(line)
            if found:
                shapes.append((int(found.group(1)), int(found.group(2))))

        start = time.perf_counter()
        report = check_target("torch.AdamW", dtype="float32", examples=examples, seed=0, max_size=SIZE,
                              max_steps=STEPS, progress=progress)
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, report, list(shapes))
    check_seconds, report, shapes = best
    cases = max(1, int(report.cases_run))
    torch_seconds = min(torch_alone(shapes) for _ in range(3))
    ratio = check_seconds / torch_seconds
    breakdown = cost_breakdown(shapes)
    result.measurements = {
        "cases": cases, "mean elements x steps": f"{statistics.mean(n for n, _ in shapes):.1f} x "
        f"{statistics.mean(s for _, s in shapes):.1f}" if shapes else "-",
        "check_passed": bool(report.passed), "check_seconds": check_seconds,
        "check_cases_per_second": cases / check_seconds, "torch_alone_seconds": torch_seconds,
        "torch_alone_cases_per_second": cases / torch_seconds, **breakdown,
    }
    if not report.passed:
        result.measurements["check_findings"] = " | ".join(f.describe().splitlines()[0] for f in report.findings)[:600]
    result.ratios = {"check / torch alone": ratio}
    result.target_met = ratio <= 2
    if not result.target_met:
        per_case = check_seconds / cases * 1e3
        result.gap = (f"check costs {ratio:.0f}x torch alone ({per_case:.1f} ms against {torch_seconds / cases * 1e3:.2f} ms "
                      "per case). These cases cost per case, not per element: drawing with hypothesis, building the "
                      "optimizer and copying its state every step, and the judge's fixed cost per case each take longer "
                      "than torch's whole case (benchmark 9's small-case row breaks check's time down by phase), "
                      "so a ratio <= 2 is out of reach for cases this small; benchmark 8 is the same ratio at tensor size.")
    return result
