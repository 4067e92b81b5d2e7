"""The prepared GPU check: everything the CUDA side needs verified, in one run of under 8 minutes.

Usage (on the device machine, with the image's python3; docs/gpu.md gives the exact device-tool call)::

    python3 benchmarks/device_check.py --out $OUT --bundle .device_bundle
    python benchmarks/device_check.py --out /tmp/dry --no-device      # the dry run (what the tests run)

Steps, each in its own process with its own time budget and a hard timeout (a hung kernel cannot
stop the rest), results written after every step (``device_check.json``, ``device_check.md``) so a
run killed part-way still leaves what it measured:

0. probe: interpreter, packages, CUDA device (name, compute capability, memory), g++, nvidia-smi;
1. the ``gpu``-marked tests (``pytest -m gpu tests/test_gpu_device.py``), log in ``pytest_gpu.log``;
2. every kernel (fused, multi-tensor, batched) x every convention x every dtype against the host
   build, bit for bit, first mismatch reported (:mod:`benchmarks.device_kernels`);
3. torch's CUDA Adam/AdamW/SGD, foreach and fused, float32/bfloat16/float16, tensors of 65,535 /
   65,536 / 65,537 elements, judged by ``check`` (:mod:`benchmarks.device_torch`);
4. benchmark 6: the fused kernel's GB/s against the device's copy bandwidth and torch's fused CUDA
   AdamW, as ratios measured in the same run (:mod:`benchmarks.bench_cuda`);
5. the vectorized judge (``adamw_oracle.verify.vectorized.judge_vectorized``) on CuPy arrays, its
   throughput against the same judge on numpy, where that module exists.

Without a CUDA device (or with ``--no-device``) the device parts are reported as skipped with the
reason, and what can run on a CPU runs for real: the probe, step 2's comparisons with the host
build's other entry points as the candidates, step 3's code on torch's CPU fused AdamW, step 5 on
numpy. Everything lands under ``--out`` (also ``device_check.log``: every step's output).
Step status: passed; failed (a check found a problem, in this project or in torch); incomplete (its
budget ran out before the end, nothing wrong found so far); timeout (killed; the partial result is
kept); error (the step itself broke); skipped (with the reason). Benchmark 6 is a measurement: a missed
target is reported in its result, not as a failure. Exit status: 0 when every executed step passed, 1
otherwise, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script by the image's python3, with nothing installed
    sys.path.insert(0, str(ROOT))

STEP_NAMES = {
    0: "probe", 1: "gpu-marked tests", 2: "kernels vs host build, bit for bit", 3: "torch CUDA optimizers with check",
    4: "benchmark 6: kernel bandwidth", 5: "vectorized judge on CuPy",
}
STEP_BUDGETS = {0: 40, 1: 90, 2: 90, 3: 150, 4: 60, 5: 30}
"""Seconds per step (hard timeouts); with the total budget below, the whole run stays under 8 minutes."""
TOTAL_BUDGET = 465
DEVICE_ONLY = {1, 4}
RESULTS_JSON = "device_check.json"
RESULTS_MD = "device_check.md"
LOG = "device_check.log"
PYTEST_LOG = "pytest_gpu.log"
SITE = Path(tempfile.gettempdir()) / "adamw-oracle-device-site"


# ------------------------------------------------------------------------------------------------
# the steps (each runs in a child process: ``--step N``; it prints ``RESULT <json>`` lines)
def step_probe(device: bool, budget: float, emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {"python": platform.python_version(), "executable": sys.executable,
                           "platform": platform.platform(), "cpus": os.cpu_count()}
    versions = {}
    for name in ("numpy", "mpmath", "gmpy2", "sympy", "hypothesis", "ml_dtypes", "pytest", "torch", "cupy-cuda13x", "jax"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    out["versions"] = versions
    try:
        import mpmath.libmp

        out["mpmath_backend"] = mpmath.libmp.BACKEND
    except Exception as exc:  # noqa: BLE001 - reported
        out["mpmath_backend"] = f"unavailable ({exc})"
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    out["cxx"] = _first_line([cxx, "--version"]) if cxx else "not found"
    out["cuda"] = cuda_probe()
    smi = shutil.which("nvidia-smi")
    if smi:
        out["nvidia_smi"] = _first_line([smi, "--query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem",
                                         "--format=csv,noheader"])
    out["passed"] = True
    return out


def cuda_probe() -> dict[str, Any]:
    """Whether CuPy sees a CUDA device, and which."""
    try:
        import cupy

        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # noqa: BLE001 - no cupy, no driver, no device: all mean "no device"
        return {"available": False, "reason": f"no CUDA device ({type(exc).__name__}: {_one_line(exc)})"}
    if count == 0:
        return {"available": False, "reason": "CUDA reports no device"}
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props.get("name", b"?")
    return {"available": True, "count": count, "name": name.decode() if isinstance(name, bytes) else str(name),
            "compute_capability": str(cupy.cuda.Device(0).compute_capability),
            "memory_gib": round(props.get("totalGlobalMem", 0) / 2**30, 1),
            "runtime_version": cupy.cuda.runtime.runtimeGetVersion(), "driver_version": cupy.cuda.runtime.driverGetVersion()}


def step_kernels(device: bool, budget: float, emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from benchmarks import device_kernels

    kernels = device_kernels.device_kernels() if device else device_kernels.host_kernels()
    result = device_kernels.run(kernels, time_budget=max(5.0, budget - 20))
    if not result["complete"] and result["fused_and_multi_tensor"]["first_mismatch"] is None \
            and result["batched"]["first_mismatch"] is None:
        result["incomplete"] = (f"time budget spent after {result['fused_and_multi_tensor']['combinations']} of "
                                f"{result['configurations'] * len(result['dtypes'])} fused/multi combinations, no mismatch")
    return result


def step_torch(device: bool, budget: float, emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from benchmarks import device_torch

    result = device_torch.run("cuda" if device else "cpu", time_budget=max(5.0, budget - 25), emit=emit,
                              examples=8 if device else 3)
    if result["not_run"] and all(c["verdict"] in ("PASS", "KNOWN") for c in result["checks"]):
        result["incomplete"] = f"time budget spent: {len(result['not_run'])} of {result['planned']} checks not run"
    return result


def step_bandwidth(device: bool, budget: float, emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from benchmarks import bench_cuda

    result = bench_cuda.run("full").as_dict()
    if not result["measurements"] or "skipped" in result["measurements"]:
        return {"skipped": result["gap"] or "skipped: nothing measured"}
    # a measurement, not a conformance check: a missed performance target is reported, not failed
    result["passed"] = True
    return result


def step_judge(device: bool, budget: float, emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("adamw_oracle.verify.vectorized") is None:
        return {"skipped": "skipped: no vectorized judge (adamw_oracle.verify.vectorized is not in this tree)"}
    from adamw_oracle.verify import vectorized

    if not hasattr(vectorized, "judge_vectorized"):
        return {"skipped": "skipped: no vectorized judge (adamw_oracle.verify.vectorized has no judge_vectorized)"}
    import numpy as np

    from adamw_oracle import Run, preset
    from adamw_oracle.contract import Dtype
    from adamw_oracle.contract.case import Case
    from adamw_oracle.gpu import HostBuildImplementation

    n, steps = (1 << 16, 4) if device else (256, 3)
    rng = np.random.default_rng(0)
    params = tuple(float(x) for x in rng.normal(size=n).astype(np.float32))
    grads = tuple(tuple(float(x) for x in row) for row in (rng.normal(size=(steps, n)) * 0.1).astype(np.float32))
    case = Case(Run(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), params, grads), Dtype.FLOAT32)
    observation = HostBuildImplementation().run(case)
    out: dict[str, Any] = {"elements": n, "steps": steps, "observation": "the host build's trajectory (float32)"}
    backends: list[tuple[str, Any]] = [("numpy", np)]
    if device:
        import cupy

        backends.append(("cupy", cupy))
    for label, xp in backends:
        vectorized.judge_vectorized(case, observation, xp=xp)  # warm-up (kernel compilation on CuPy)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            verdict = vectorized.judge_vectorized(case, observation, xp=xp)
            if label == "cupy":
                xp.cuda.Device().synchronize()
            best = min(best, time.perf_counter() - start)
        out[label] = {"seconds": best, "element_steps_per_second": n * steps / best,
                      "counts": dict(getattr(verdict, "counts", {}) or {})}
    if "cupy" in out:
        out["cupy_over_numpy"] = out["numpy"]["seconds"] / out["cupy"]["seconds"]
    else:
        out["cupy"] = "skipped: no CUDA device"
    out["passed"] = all(isinstance(out[k], dict) and not out[k]["counts"].get("outside", 0) for k, _ in backends)
    return out


STEPS: dict[int, Callable[[bool, float, Callable[[dict[str, Any]], None]], dict[str, Any]]] = {
    0: step_probe, 2: step_kernels, 3: step_torch, 4: step_bandwidth, 5: step_judge,
}


def child(number: int, device: bool, budget: float) -> int:
    def emit(partial: dict[str, Any]) -> None:
        print("RESULT " + json.dumps(partial, default=str), flush=True)

    try:
        emit(STEPS[number](device, budget, emit))
    except Exception as exc:  # noqa: BLE001 - the parent records it
        print(traceback.format_exc(), file=sys.stderr, flush=True)
        emit({"error": f"{type(exc).__name__}: {_one_line(exc)}", "passed": False})
        return 1
    return 0


# ------------------------------------------------------------------------------------------------
# the parent: budgets, processes, results
class Recorder:
    """The results document, rewritten atomically under ``out`` after every change."""

    def __init__(self, out: Path, document: dict[str, Any]) -> None:
        self.out, self.document = out, document

    def step(self, number: int, record: dict[str, Any]) -> None:
        self.document["steps"][str(number)] = {"name": STEP_NAMES[number], **record}
        self.save()

    def save(self) -> None:
        from adamw_oracle.atomic import write_atomically

        self.document["seconds"] = round(time.monotonic() - self.document["_start"], 1)
        public = {k: v for k, v in self.document.items() if not k.startswith("_")}
        write_atomically(self.out / RESULTS_JSON, json.dumps(public, indent=2, default=str) + "\n")
        write_atomically(self.out / RESULTS_MD, markdown(public))


def run_child(number: int, device: bool, budget: float, env: dict[str, str], log: Any) -> dict[str, Any]:
    """Run step ``number`` in a child process with a hard timeout; its last RESULT (partial if killed)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", str(number), "--budget", str(budget)]
    if not device:
        command.append("--no-device")
    return _supervise(command, budget, env, log, parse=True)


def run_pytest(budget: float, env: dict[str, str], out: Path, log: Any) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/test_gpu_device.py", "-q", "-rfEs",
               "-p", "no:cacheprovider", "-o", "addopts="]
    with open(out / PYTEST_LOG, "w", encoding="utf-8") as stream:
        record = _supervise(command, budget, env, stream, parse=False)
    text = (out / PYTEST_LOG).read_text(encoding="utf-8", errors="replace")
    log.write(f"--- pytest output in {PYTEST_LOG}\n")
    counts = {kind: int(num) for num, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", text)}
    record["result"] = {"counts": counts, "log": PYTEST_LOG, "tail": text.strip().splitlines()[-1:] if text.strip() else []}
    if record["status"] == "done":
        bad = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
        record["status"] = "passed" if record["returncode"] == 0 and counts.get("passed", 0) and not bad else "failed"
    return record


def _supervise(command: list[str], budget: float, env: dict[str, str], log: Any, *, parse: bool) -> dict[str, Any]:
    """Run ``command`` (its own process group) for at most ``budget`` seconds, copying its output to
    ``log``; with ``parse``, keep the last ``RESULT <json>`` line it printed."""
    start = time.monotonic()
    log.write(f"$ {' '.join(command)}   (budget {budget:.0f} s)\n")
    log.flush()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", start_new_session=True)
    box: dict[str, Any] = {"result": None}

    def read() -> None:  # a thread, so that a child stuck mid-line cannot hold the parent past the budget
        assert process.stdout is not None
        for line in process.stdout:
            if parse and line.startswith("RESULT "):
                try:
                    box["result"] = json.loads(line[len("RESULT "):])
                    continue
                except json.JSONDecodeError:
                    pass
            log.write(line)
            log.flush()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        returncode = process.wait(timeout=budget)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        returncode = process.wait()
    reader.join(timeout=5)
    log.flush()
    result = box["result"]
    record: dict[str, Any] = {"seconds": round(time.monotonic() - start, 1), "budget_seconds": round(budget),
                              "returncode": returncode}
    if timed_out:
        record.update(status="timeout", reason=f"killed at its budget of {budget:.0f} s"
                      + ("; the result below is partial" if result else "; nothing was reported"))
    else:
        record["status"] = "done"
    if parse:
        record["result"] = result
        if record["status"] == "done":
            if result is None:
                record.update(status="error", reason=f"the step reported nothing (exit status {returncode}; see {LOG})")
            elif "error" in result:
                record.update(status="error", reason=result["error"])
            elif "skipped" in result:
                record.update(status="skipped", reason=result["skipped"])
            elif result.get("passed"):
                record["status"] = "passed"
            elif result.get("incomplete"):
                record.update(status="incomplete", reason=result["incomplete"])
            else:
                record["status"] = "failed"
    return record


def markdown(doc: dict[str, Any]) -> str:
    """The summary: what ran where, each step's status and headline numbers."""
    probe = (doc["steps"].get("0") or {}).get("result") or {}
    cuda = probe.get("cuda", {})
    lines = ["# Device check" + (" — DRY RUN (no CUDA device)" if doc["dry_run"] else ""), "",
             f"{doc['date']}; device: {doc['device']}; python {probe.get('python', '?')}; "
             f"total {doc.get('seconds', 0):.0f} s of a {doc['budget_seconds']} s budget.", ""]
    if doc["dry_run"]:
        lines += [f"No CUDA device: {doc.get('dry_run_reason', '')}. Device steps are skipped; CPU stand-ins "
                  "ran for real and exercise the script, not the GPU.", ""]
    if doc.get("bundle"):
        lines += [f"Bundle: {json.dumps(doc['bundle'], default=str)}", ""]
    lines += ["| step | what | status | seconds | headline |", "|---|---|---|---|---|"]
    for key in sorted(doc["steps"], key=int):
        step = doc["steps"][key]
        lines.append(f"| {key} | {step['name']} | {step['status']} | {step.get('seconds', '')} | "
                     f"{_headline(int(key), step)} |")
    if cuda:
        lines += ["", "Device: " + json.dumps(cuda, default=str)]
    for key in sorted(doc["steps"], key=int):
        step = doc["steps"][key]
        result = step.get("result") or {}
        detail = _details(int(key), result)
        if detail:
            lines += ["", f"## Step {key}: {step['name']}", "", *detail]
    return "\n".join(lines) + "\n"


def _headline(number: int, step: dict[str, Any]) -> str:
    result = step.get("result") or {}
    if step["status"] in ("skipped", "error") or not result:
        return str(step.get("reason", "")).replace("|", "/")[:200]
    if number == 0:
        return f"CUDA: {result.get('cuda', {}).get('name') or result.get('cuda', {}).get('reason', '?')}"
    if number == 1:
        return ", ".join(f"{v} {k}" for k, v in result.get("counts", {}).items())
    if number == 2:
        fm = result.get("fused_and_multi_tensor", {})
        first = fm.get("first_mismatch") or result.get("batched", {}).get("first_mismatch")
        return (f"{result.get('candidates', '')}: {fm.get('combinations', 0)} fused/multi combinations, "
                f"{result.get('batched', {}).get('launches', 0)} batched launches; "
                + ("no mismatch" if not first else f"first mismatch: {first.get('kernel')} {first.get('dtype')} "
                   f"{first.get('array')}"))
    if number == 3:
        return f"{len(result.get('checks', []))}/{result.get('planned', 0)} checks on {result.get('device')}: " \
               f"{result.get('verdicts', {})}"
    if number == 4:
        return str(result.get("gap") or ("target met" if result.get("target_met") else ""))[:200]
    if number == 5:
        return f"cupy/numpy: {result.get('cupy_over_numpy', 'n/a')}"
    return ""


def _details(number: int, result: dict[str, Any]) -> list[str]:
    if number == 2:
        first = (result.get("fused_and_multi_tensor") or {}).get("first_mismatch") or \
            (result.get("batched") or {}).get("first_mismatch")
        return [f"First mismatch: `{json.dumps(first)}`" if first else "No mismatch."]
    if number == 3 and result.get("checks"):
        rows = ["| target | dtype | elements | verdict | known | cases | within | outside | ill | max err/bound | "
                "position-dependent |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in result["checks"]:
            counts = c.get("counts", {})
            rows.append(f"| {c.get('target', c.get('optimizer'))} | {c['dtype']} | {c['elements']} | {c['verdict']} | "
                        f"{', '.join(f'{k} x{v}' for k, v in (c.get('known_counts') or {}).items())} | "
                        f"{c.get('cases_run', '')} | {counts.get('within', '')} | {counts.get('outside', '')} | "
                        f"{counts.get('ill_conditioned', '')} | {_fmt(c.get('max_fraction_of_bound'))} | "
                        f"{c.get('position_dependent_cases', '')} |")
        fails = [c for c in result["checks"] if c["verdict"] not in ("PASS", "KNOWN")]
        for c in fails[:5]:
            rows += ["", f"{c.get('target')} {c['dtype']} x{c['elements']}: {c['verdict']}",
                     "```", c.get("counterexample") or "; ".join(c.get("findings", [])) or c.get("error", ""), "```"]
        if result.get("not_run"):
            rows += ["", "Not run (time budget): " + ", ".join(result["not_run"])]
        return rows
    if number == 4 and isinstance(result.get("measurements"), dict):
        rows = ["| case | kernel GB/s | step GB/s | copy GB/s | torch fused GB/s | kernel/copy | kernel/torch |",
                "|---|---|---|---|---|---|---|"]
        for key, row in result["measurements"].items():
            if isinstance(row, dict):
                rows.append(f"| {key} | {_fmt(row.get('kernel_gbps'))} | {_fmt(row.get('step_gbps'))} | "
                            f"{_fmt(row.get('copy_gbps'))} | {_fmt(row.get('torch_fused_gbps'))} | "
                            f"{_fmt(row.get('kernel_over_copy'))} | {_fmt(row.get('kernel_over_torch_fused'))} |")
        return rows
    if number == 5 and "numpy" in result:
        return [f"`{json.dumps(result, default=str)}`"]
    return []


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"failed ({exc})"


def parent(out: Path, *, device_allowed: bool, bundle: Path | None, only: list[int], total: float) -> int:
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "kind": "adamw-oracle device check", "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "dry_run": True, "device": "none", "budget_seconds": round(total), "steps": {}, "_start": start,
    }
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(ROOT)]
    with open(out / LOG, "a", encoding="utf-8") as log:
        if bundle is not None:
            from benchmarks.device_bundle import install

            try:
                document["bundle"] = install(bundle, SITE)
                if document["bundle"]["installed"]:
                    paths.insert(0, str(SITE))
                    sys.path.insert(0, str(SITE))
            except Exception as exc:  # noqa: BLE001 - recorded; the steps show what then fails
                document["bundle"] = {"error": f"{type(exc).__name__}: {_one_line(exc)}"}
        env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        recorder = Recorder(out, document)
        recorder.save()

        def left() -> float:
            return total - (time.monotonic() - start)

        probe = run_child(0, device_allowed, min(STEP_BUDGETS[0], left()), env, log)
        recorder.step(0, probe)
        cuda = ((probe.get("result") or {}).get("cuda") or {})
        device = device_allowed and bool(cuda.get("available"))
        document["dry_run"] = not device
        document["device"] = cuda.get("name", "none") if device else "none"
        if not device:
            document["dry_run_reason"] = "--no-device given" if not device_allowed else cuda.get("reason", "no CUDA device")
        for number in (1, 2, 3, 4, 5):
            if number not in only:
                continue
            if number in DEVICE_ONLY and not device:
                recorder.step(number, {"status": "skipped", "reason": f"skipped: {document['dry_run_reason']} "
                                                                      "(this step needs a CUDA device)"})
                continue
            budget = min(STEP_BUDGETS[number], left())
            if budget < 5:
                recorder.step(number, {"status": "skipped", "reason": "skipped: the total time budget is spent"})
                continue
            if number == 1:
                record = run_pytest(budget, env, out, log)
            else:
                record = run_child(number, device, budget, env, log)
            if not device and number in (2, 3, 5):
                record["dry_run_stand_in"] = True
            recorder.step(number, record)
        recorder.save()
    failed = [k for k, s in document["steps"].items() if s["status"] in ("failed", "error", "timeout", "incomplete")]
    print(f"device check: {'DRY RUN, ' if document['dry_run'] else ''}device {document['device']}; "
          + "; ".join(f"{k} {s['status']}" for k, s in sorted(document["steps"].items())) + f"; results in {out}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the results (device_check.json/.md, logs)")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="folder of carried wheels to install where missing (benchmarks/device_bundle.py)")
    parser.add_argument("--no-device", action="store_true", help="the dry run: never use a CUDA device")
    parser.add_argument("--only", default="1,2,3,4,5", help="comma-separated steps to run (the probe always runs)")
    parser.add_argument("--total-budget", type=float, default=TOTAL_BUDGET, help="seconds for the whole run")
    parser.add_argument("--step", type=int, choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step is not None:
        return child(args.step, not args.no_device, args.budget)
    try:
        only = sorted({int(x) for x in args.only.split(",") if x.strip()})
    except ValueError:
        only = [-1]
    if args.out is None or not set(only) <= {1, 2, 3, 4, 5} or not 0 < args.total_budget <= 3600:
        print("error: --out DIR is required; --only takes steps from 1,2,3,4,5; --total-budget is in (0, 3600] s "
              f"(got --out {args.out}, --only {args.only!r}, --total-budget {args.total_budget})", file=sys.stderr)
        return 2
    if args.bundle is not None and not args.bundle.is_dir():
        print(f"error: --bundle {args.bundle} is not a folder (make it with python benchmarks/device_bundle.py)",
              file=sys.stderr)
        return 2
    return parent(args.out, device_allowed=not args.no_device, bundle=args.bundle, only=only, total=args.total_budget)


if __name__ == "__main__":
    sys.exit(main())
