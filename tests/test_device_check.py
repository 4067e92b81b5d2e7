"""The prepared GPU check (benchmarks/device_check.py) cannot rot: its dry run runs here, for real.

The dry run executes the script as the device tool would, but with ``--no-device``: the device steps
must be reported as skipped with their reason, and the CPU parts (the probe, step 2's comparison with
the host build's other entry points, step 3 on torch's CPU fused AdamW) must run and pass. The pieces
the dry run cannot show failing are tested with planted faults: a kernel that changes one bit, a
torch optimizer that goes wrong past a position, as a chunked kernel could.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adamw_oracle.contract import Dtype
from adamw_oracle.errors import InvalidArgumentError
from benchmarks import device_bundle, device_kernels

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "device_check.py"


def test_the_dry_run_skips_the_device_steps_and_runs_the_rest(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--no-device"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "device_check.json").read_text())
    assert doc["dry_run"] is True and doc["device"] == "none"
    steps = doc["steps"]
    assert sorted(steps, key=int) == ["0", "1", "2", "3", "4", "5"]
    for number in ("1", "4"):
        assert steps[number]["status"] == "skipped"
        assert "needs a CUDA device" in steps[number]["reason"]
    assert steps["0"]["status"] == "passed" and steps["0"]["result"]["cuda"]["available"] in (True, False)
    kernels = steps["2"]
    assert kernels["status"] == "passed" and kernels["dry_run_stand_in"]
    configs = len(device_kernels.kernel_configs())
    assert kernels["result"]["fused_and_multi_tensor"]["combinations"] == configs * len(Dtype)
    assert kernels["result"]["batched"]["launches"] == len(Dtype)
    stochastic = kernels["result"]["stochastic_multi_tensor"]
    assert stochastic["combinations"] == len(device_kernels.kernel_configs()[::4]) and stochastic["first_mismatch"] is None
    assert "no device" in kernels["result"]["candidates"]
    torch_step = steps["3"]
    assert torch_step["status"] == "passed", torch_step
    assert [c["verdict"] for c in torch_step["result"]["checks"]] == ["PASS"]
    assert torch_step["result"]["checks"][0]["counts"]["within"] > 0
    assert steps["5"]["status"] in ("skipped", "passed")
    if steps["5"]["status"] == "skipped":
        assert "no vectorized judge" in steps["5"]["reason"]
    summary = (tmp_path / "device_check.md").read_text()
    assert "DRY RUN" in summary and "| 2 |" in summary
    assert (tmp_path / "device_check.log").exists()


def test_bad_arguments_exit_2_with_the_argument_named(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "7"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--only" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--bundle", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--bundle" in done.stderr


def _faulty(kernels: device_kernels.Kernels, which: str, convention_index: int) -> device_kernels.Kernels:
    """``kernels`` whose ``which`` candidate flips the lowest bit of m[3] for one configuration's flags."""
    target = device_kernels.flags_for(device_kernels.kernel_configs()[convention_index])
    fused, multi = kernels.fused, kernels.multi

    def bad_fused(kind, flags, scalars, p, g, m, v, vmax):  # type: ignore[no-untyped-def]
        fused(kind, flags, scalars, p, g, m, v, vmax)
        if flags == target:
            m.view(np.uint64 if m.dtype.itemsize == 8 else np.uint32)[3] ^= 1

    def bad_multi(kind, flags, scalars, ps, gs, ms, vs, vmaxs):  # type: ignore[no-untyped-def]
        multi(kind, flags, scalars, ps, gs, ms, vs, vmaxs)
        if flags == target:
            ms[0].view(np.uint64 if ms[0].dtype.itemsize == 8 else np.uint32)[3] ^= 1

    return device_kernels.Kernels(kernels.label, bad_fused if which == "fused" else fused,
                                  bad_multi if which == "multi" else multi, kernels.batched, kernels.parts)


@pytest.mark.parametrize("which", ["fused", "multi"])
def test_a_one_bit_difference_is_reported_as_the_first_mismatch(which: str) -> None:
    configs = device_kernels.kernel_configs()[:12]
    faulty = _faulty(device_kernels.host_kernels(), which, 7)
    result = device_kernels.compare_fused_and_multi(faulty, configs, [Dtype.FLOAT32])
    first = result["first_mismatch"]
    assert result["mismatching_combinations"] == 1 and first is not None
    assert first["kernel"] == ("fused" if which == "fused" else "multi_tensor")
    assert first["array"] == "m" and first["index"] == 3 and first["differing"] == 1
    assert first["convention"] == configs[7].conventions.describe()
    assert int(first["got"]["bits"], 16) ^ int(first["expected"]["bits"], 16) == 1
    clean = device_kernels.compare_fused_and_multi(device_kernels.host_kernels(), configs, [Dtype.FLOAT32])
    assert clean["first_mismatch"] is None and clean["combinations"] == 12


def test_the_batched_comparison_finds_a_changed_trajectory_element() -> None:
    kernels = device_kernels.host_kernels()
    batched = kernels.batched

    def bad(kind, *arrays):  # type: ignore[no-untyped-def]
        traj, m, v, vmax = batched(kind, *arrays)
        traj[2, 11] ^= 1  # bfloat16 bits: the parameter of case 2, element 1 after step 3
        return traj, m, v, vmax

    configs = device_kernels.kernel_configs()[:6]
    faulty = device_kernels.Kernels(kernels.label, kernels.fused, kernels.multi, bad, kernels.parts)
    result = device_kernels.compare_batched(faulty, configs, [Dtype.BFLOAT16])
    first = result["first_mismatch"]
    assert first is not None and first["array"] == "trajectory"
    assert (first["step_index"], first["element"]) == (2, 11)
    assert first["convention"] == configs[11 // device_kernels.BATCHED_ELEMENTS].conventions.describe()


def test_nans_of_different_payloads_count_as_equal_and_signed_zeros_do_not() -> None:
    kind = device_kernels.kind_of(Dtype.FLOAT32)
    a = np.array([np.nan, 0.0, 1.0], dtype=np.float32)
    b = a.copy()
    b.view(np.uint32)[0] = 0xFFC00000  # x86's default NaN
    assert device_kernels.first_mismatch(kind, a, b, compute=True) is None
    b[1] = -0.0
    assert device_kernels.first_mismatch(kind, a, b, compute=True)["index"] == 1


def test_the_bundle_carries_the_core_dependencies_but_not_numpy(tmp_path: Path) -> None:
    minimum = device_bundle.core_requirements()
    assert {"mpmath", "gmpy2", "sympy", "hypothesis", "ml-dtypes", "numpy"} <= set(minimum)
    assert minimum["mpmath"] == "1.3"
    wanted = device_bundle.wanted()
    assert "numpy" not in wanted and {"gmpy2", "hypothesis", "sortedcontainers"} <= set(wanted)
    assert device_bundle.measure(tmp_path) == {"bundle": str(tmp_path), "wheels": [], "bytes": 0, "mib": 0.0,
                                               "budget_mib": 48.0, "fits": True}
    # a wheel of a distribution this environment has (at or above the minimum) is left alone
    (tmp_path / f"mpmath-{wanted['mpmath']}-py3-none-any.whl").write_bytes(b"not read")
    report = device_bundle.install(tmp_path, tmp_path / "site")
    assert report["installed"] == [] and "mpmath" in report["already_present"]
    assert not (tmp_path / "site").exists()


def test_torch_adapters_name_a_bad_device() -> None:
    from adamw_oracle.adapters.torch import TorchImplementation
    from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation

    for make in (lambda: TorchImplementation("AdamW", "fused", device="gpu"), lambda: TorchSGDImplementation(device="")):
        with pytest.raises(InvalidArgumentError) as info:
            make()
        assert info.value.argument == "device"
    assert TorchImplementation("AdamW", "fused", device="cuda").name == "torch.AdamW[fused,cuda]"
    assert TorchSGDImplementation(device="cuda:1").name == "torch.SGD[cuda:1]"


def test_a_step_past_its_budget_is_killed_and_its_partial_result_kept(tmp_path: Path) -> None:
    from benchmarks import device_check

    command = [sys.executable, "-c", "import time; print('RESULT {\"checks\": 1}', flush=True); "
               "print('working', flush=True); time.sleep(60)"]
    with open(tmp_path / "log", "w", encoding="utf-8") as log:
        record = device_check._supervise(command, 3.0, {"PATH": "/usr/bin:/bin"}, log, parse=True)
    assert record["status"] == "timeout" and "partial" in record["reason"]
    assert record["result"] == {"checks": 1} and record["seconds"] < 30
    assert "working" in (tmp_path / "log").read_text()
