"""Benchmark 8 (issue 11, 3b): ``check`` on a 65,536-element x 16-step case against torch alone.

Measured in the same run, on one :func:`~adamw_oracle.check.tensor_cases.tensor_case` of the
torch.AdamW convention (65,536 elements x 16 steps; float32, then float64):

* check: ``check_target("torch.AdamW", cases=[case])`` -- the adapter running torch, the vectorized
  judge (exact trajectory + rigorous bound on arrays), the report;
* baseline, torch alone: ``torch.optim.AdamW(foreach=True)`` stepping the same inputs (a fresh
  parameter tensor and optimizer, the gradient of each step assigned), nothing else.

Ratio = check seconds / torch-alone seconds. Targets: <= 2 (float32), <= 5 (float64).
"""
from __future__ import annotations

import os
import time

from benchmarks.common import BenchResult, best_seconds_interleaved

SIZE = {"full": 65_536, "tiny": 1_024}
STEPS = {"full": 16, "tiny": 2}
TARGETS = {"float32": 2.0, "float64": 5.0}


def torch_alone(case) -> float:
    """Seconds for torch.optim.AdamW (foreach) stepping ``case``'s inputs in its dtype."""
    import torch

    dt = getattr(torch, case.dtype.value)
    h = case.hyper_floats()
    params = torch.tensor(case.initial_params(), dtype=dt)
    grads = torch.tensor(case.gradients(), dtype=dt)
    start = time.perf_counter()
    p = params.clone().requires_grad_(True)
    opt = torch.optim.AdamW([p], lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                            weight_decay=h["weight_decay"], foreach=True)
    for k in range(grads.shape[0]):
        p.grad = grads[k].clone()
        opt.step()
    return time.perf_counter() - start


def run(size: str = "full") -> BenchResult:
    result = BenchResult(8, "3b: check (judge + adapter) / torch.optim.AdamW foreach alone, 65,536 x 16",
                         baseline="torch.optim.AdamW(foreach=True) alone on the same case",
                         target="<= 2 (float32), <= 5 (float64)")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        result.gap = f"cannot run here: {exc}"
        return result
    from adamw_oracle.check import check_target
    from adamw_oracle.check.expected import expected_convention
    from adamw_oracle.check.tensor_cases import default_config, tensor_case
    from adamw_oracle.verify.numpy_impl import correct_implementations
    from adamw_oracle.verify.vectorized import judge_vectorized

    config = default_config(expected_convention("torch.AdamW"))
    met = {}
    for dtype in ("float32", "float64"):
        case = tensor_case(config, dtype, SIZE[size], STEPS[size], seed=0)
        reports = []
        # interleaved, so that both share the load of the (shared) machine
        best = best_seconds_interleaved({"check": lambda: reports.append(check_target("torch.AdamW", cases=[case])),
                                         "torch": lambda: torch_alone(case)}, 5 if size == "full" else 1)
        check_seconds, torch_seconds = best["check"], best["torch"]
        report = reports[-1]
        ratio = check_seconds / torch_seconds
        observation = correct_implementations()[0].run(case)
        judge_seconds = best_seconds_interleaved({"judge": lambda: judge_vectorized(case, observation)},
                                                 3 if size == "full" else 1)["judge"]
        result.measurements[f"{dtype} judge alone seconds"] = judge_seconds
        result.measurements[f"{dtype} check seconds"] = check_seconds
        result.measurements[f"{dtype} torch alone seconds"] = torch_seconds
        result.measurements[f"{dtype} check passed"] = bool(report.passed)
        result.measurements[f"{dtype} elements judged within"] = report.counts["within"]
        result.ratios[f"{dtype} check / torch alone"] = ratio
        met[dtype] = ratio <= TARGETS[dtype]
    result.target_met = all(met.values())
    result.measurements["load average"] = [round(x, 2) for x in os.getloadavg()]
    result.notes = ("torch alone uses torch's intra-op threads; on a shared, loaded machine its time for the same "
                    "case varies several-fold between runs (best of interleaved repeats is reported), so the "
                    "ratio is only as good as that baseline.")
    if not result.target_met:
        per_step = {d: (result.measurements[f"{d} check seconds"] / STEPS[size] * 1e3,
                        result.measurements[f"{d} torch alone seconds"] / STEPS[size] * 1e3) for d in TARGETS}
        result.gap = ("; ".join(f"{d}: {result.ratios[f'{d} check / torch alone']:.1f}x (target <= {TARGETS[d]:g}; "
                                f"{per_step[d][0]:.1f} ms per step against torch's {per_step[d][1]:.1f} ms)"
                                for d in TARGETS)
                      + f". Load average {result.measurements['load average']} on 2 logical CPUs. The arithmetic: "
                        "check = adapter (torch itself, plus copying every step's parameters out) + judge, so a "
                        "ratio <= 2 leaves the judge at most torch's own time, ~0.3 ms per step for 65,536 floats "
                        "on an idle machine: 65,536 x 16 element-steps in ~5 ms is ~2e8 element-steps/s. One "
                        "element-step of the judge is 16 operations, each carrying a value, a reference error and "
                        "a rigorous bound (~300 float64 operations, ~17 of them divisions or square roots), "
                        "against torch's ~10 float32 operations: ~3.4e9 divisions/s, about the divider throughput "
                        "of both cores even if fully vectorized. Out of reach on 2 CPU cores; a GPU (xp=cupy) is "
                        "the way (judge alone here: "
                        + ", ".join(f"{d} {result.measurements[f'{d} judge alone seconds'] * 1e3:.0f} ms" for d in TARGETS)
                        + ").")
    return result
