"""Benchmark 3: ``check`` throughput against torch.optim.AdamW, float32, 8 elements x 16 steps.

Measured in the same run:

* ``check``: :func:`adamw_oracle.check.check_target` ("torch.AdamW", float32, ``examples`` cases)
  -- drawing the cases, running torch, the certified reference and the error-model bound, judging.
* baseline, torch alone: ``torch.optim.AdamW`` stepping the same number of cases of the same shape
  (8 float32 elements, 16 steps, fresh optimizer and tensors per case), nothing else.

Ratio = check seconds / torch-alone seconds. Target: <= 2.
"""
from __future__ import annotations

import time

from benchmarks.common import BenchResult, best_seconds

SIZE, STEPS = 8, 16
EXAMPLES = {"full": 50, "tiny": 2}


def torch_alone(cases: int, seed: int = 0) -> float:
    """Seconds for ``cases`` fresh torch.optim.AdamW runs of 16 steps over 8 float32 elements."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    inputs = [(torch.randn(SIZE, generator=generator), torch.randn(STEPS, SIZE, generator=generator) * 0.1)
              for _ in range(cases)]
    start = time.perf_counter()
    for p0, grads in inputs:
        p = p0.clone().requires_grad_(True)
        opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=1e-2)
        for k in range(STEPS):
            p.grad = grads[k].clone()
            opt.step()
    return time.perf_counter() - start


def run(size: str = "full") -> BenchResult:
    result = BenchResult(3, "check throughput, torch.AdamW float32 (8 elements x 16 steps)",
                         baseline="torch.optim.AdamW alone on the same number of cases of the same shape",
                         target="check time / torch-alone time <= 2")
    try:
        from adamw_oracle.check import check_target
        import torch  # noqa: F401
    except ImportError as exc:
        result.gap = f"cannot run here: {exc}"
        return result
    examples = EXAMPLES[size]
    reports = []
    check_seconds = best_seconds(lambda: reports.append(check_target("torch.AdamW", dtype="float32", examples=examples, seed=0)),
                                 1 if size == "tiny" else 2)
    cases = max(1, int(reports[-1].cases_run))
    torch_seconds = min(torch_alone(cases) for _ in range(3))
    ratio = check_seconds / torch_seconds
    result.measurements = {
        "cases": cases, "check_passed": bool(reports[-1].passed), "check_seconds": check_seconds,
        "check_cases_per_second": cases / check_seconds, "torch_alone_seconds": torch_seconds,
        "torch_alone_cases_per_second": cases / torch_seconds,
    }
    result.ratios = {"check / torch alone": ratio}
    result.target_met = ratio <= 2
    if not result.target_met:
        result.gap = (f"check costs {ratio:.0f}x torch alone ({check_seconds / cases * 1e3:.1f} ms against "
                      f"{torch_seconds / cases * 1e3:.2f} ms per case): the judge computes the exact trajectory and "
                      "a rigorous running error bound of every element in Python arbitrary-precision arithmetic, "
                      "which costs far more than torch's 16 vectorised float32 steps of 8 elements")
    return result
