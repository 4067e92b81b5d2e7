"""Benchmark 6: the fused CUDA kernel on a device, against the device's copy bandwidth and torch.

The measurement is :func:`benchmarks.bench_host_build.run_device` (CUDA events; sizes 1e6, 1e7, 1e8;
float32 and float64): the kernel's GB/s over the 7 arrays a step touches, divided by the device's copy
bandwidth at the same byte count and by torch's fused CUDA AdamW, both measured in the same run.
Target: the kernel at >= 90 % of the copy bandwidth and no slower than torch at 1e7 and 1e8 elements
(at 1e6 a step is a few microseconds and launch overhead dominates every implementation).

Runs only where CUDA reports a device; elsewhere it reports why it was skipped. The prepared device
check (``benchmarks/device_check.py``, docs/gpu.md) runs it as its step 4.
"""
from __future__ import annotations

from typing import Any

from benchmarks.common import BenchResult

TARGET_COPY_FRACTION = 0.9


def cuda_device_count() -> tuple[int, str]:
    """Number of CUDA devices and, when 0, the reason."""
    try:
        import cupy

        count = int(cupy.cuda.runtime.getDeviceCount())
        return count, "" if count else "CUDA reports no device"
    except Exception as exc:  # no driver, no device, no cupy: all mean "cannot run here"
        return 0, f"no CUDA device ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})"


def run(size: str = "full") -> BenchResult:
    result = BenchResult(6, "fused CUDA kernel bandwidth on a device",
                         baseline="device copy bandwidth (same bytes); torch fused AdamW on the device",
                         target=f">= {TARGET_COPY_FRACTION:.0%} of copy and no slower than torch (n >= 1e7)")
    count, reason = cuda_device_count()
    if count == 0:
        result.gap = f"skipped: {reason}; this machine has no GPU, so the kernel's device bandwidth cannot be measured"
        return result
    from benchmarks.bench_host_build import run_device

    data: dict[str, Any] = {}
    run_device(data, tiny=size == "tiny")
    device = data["device"]
    result.measurements = device
    if "skipped" in device:
        result.gap = f"skipped: {device['skipped']}"
        return result
    rows = {key: row for key, row in device.items() if isinstance(row, dict)}
    for key, row in rows.items():
        for ratio in ("kernel_over_copy", "kernel_over_torch_fused", "step_over_copy", "step_over_torch_fused"):
            if ratio in row:
                result.ratios[f"{key}_{ratio}"] = row[ratio]
    judged = {key: row for key, row in rows.items() if not key.endswith("n1e6")}
    gaps = [f"{key}: kernel at {row['kernel_over_copy']:.0%} of copy" for key, row in judged.items()
            if row["kernel_over_copy"] < TARGET_COPY_FRACTION]
    gaps += [f"{key}: kernel at {row['kernel_over_torch_fused']:.2f}x torch fused" for key, row in judged.items()
             if row.get("kernel_over_torch_fused", 1.0) < 1.0]
    result.target_met = bool(judged) and not gaps
    result.gap = "; ".join(gaps)
    result.notes = "GB/s over the 7 arrays of a step; kernel = one ao_fused_step launch, step = FusedAdamW.step"
    return result
