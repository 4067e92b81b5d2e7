"""Device check, step 2: every kernel, every convention, every dtype, against the host build, bit for bit.

For each configuration of :func:`kernel_configs` (every convention of ``all_conventions()``; the SGD
family three times: no momentum, momentum with dampening, Nesterov) and each of the four dtypes:

* **fused** and **multi-tensor**: random parameters, gradients (a few non-finite) and a seeded state
  (part-way through a run, so bias correction and AMSGrad's maximum are exercised), two steps. The
  expected values are the host build's fused step (``ao_host_fused_step_*``); the candidates are the
  fused kernel over the whole array and the multi-tensor kernel over the same array cut into parts
  (on the device, parts that cross its 65,536-element chunks, and an empty one). Parameters, m, v and
  vmax are compared after every step.
* **batched**: all configurations of a dtype in one launch of the batched-case kernel, four steps,
  against ``ao_host_batched_cases_*``; the trajectory and the final m, v, vmax are compared.
* **stochastic multi-tensor**: every fourth configuration in bfloat16 with stochastic rounding, the
  multi-tensor kernel over the parts against ``ao_host_multi_tensor_step_bf16`` over the same parts
  (each tensor's random bits depend on its index in the launch).

"Bit for bit" means identical bits, except that any two NaNs count as equal (x86 and CUDA produce
different NaN payloads and signs, which the contract does not fix). The first mismatch is reported
with its kernel, dtype, convention, step, array, element and both values.

Without a device the same comparisons run with the host build's other entry points as the candidates
(``host_multi_tensor_step`` over one array and over parts; the batched kernel against itself): that
exercises this module, not the device (the result says so).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adamw_oracle.contract import Dtype, Hyperparameters, OptimizerConfig, all_conventions
from adamw_oracle.contract.conventions import AmsGrad, EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.precision import ParamRounding
from adamw_oracle.gpu.codes import flags_for
from adamw_oracle.gpu.host import host_batched_cases, host_fused_step, host_multi_tensor_step
from adamw_oracle.gpu.scalars import scalar_table, step_scalars
from adamw_oracle.gpu.storage import StorageKind, kind_of

DEVICE_PARTS = (65_537, 0, 1, 65_535, 8_927)
"""Multi-tensor parts on the device: across the 65,536-element chunk, an empty one, a single element."""
DRY_PARTS = (100, 0, 1, 199)
FUSED_STEPS = 2
BATCHED_STEPS = 4
BATCHED_ELEMENTS = 5


def kernel_configs() -> list[OptimizerConfig]:
    """Every convention with hyperparameters that make each branch matter; SGD with three momentum setups."""
    out = []
    for conv in all_conventions():
        wd = "0" if conv.weight_decay is WeightDecay.NONE else "0.05"
        common = {"lr": "0.01", "weight_decay": wd, "schedule_multiplier": "0.5"}
        if conv.family is Family.SGD:
            for momentum, dampening, nesterov in (("0", "0", False), ("0.9", "0.1", False), ("0.9", "0", True)):
                hyper = Hyperparameters(**common, momentum=momentum, dampening=dampening, nesterov=nesterov)
                out.append(OptimizerConfig(conv, hyper))
        else:
            eps_root = "1e-6" if conv.eps_placement is EpsPlacement.INSIDE_ROOT else "0"
            out.append(OptimizerConfig(conv, Hyperparameters(**common, beta1="0.9", beta2="0.99", eps="1e-3",
                                                             eps_root=eps_root)))
    return out


@dataclass
class Kernels:
    """The candidates compared with the host build (arrays are numpy; a device backend copies)."""

    label: str
    fused: Callable[..., None]  # (kind, flags, scalars, p, g, m, v, vmax) in place
    multi: Callable[..., None]  # (kind, flags, scalars, ps, gs, ms, vs, vmaxs) in place
    batched: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    parts: tuple[int, ...]


def host_kernels() -> Kernels:
    """The host build's other entry points (the dry run's stand-in for the device)."""
    def fused(kind: StorageKind, flags: int, scalars: np.ndarray, p: np.ndarray, g: np.ndarray, m: np.ndarray,
              v: np.ndarray | None, vmax: np.ndarray | None) -> None:
        host_multi_tensor_step(kind.dtype, flags, scalars, [p], [g], [m], None if v is None else [v],
                               None if vmax is None else [vmax])

    def multi(kind: StorageKind, flags: int, scalars: np.ndarray, ps: Sequence[np.ndarray], gs: Sequence[np.ndarray],
              ms: Sequence[np.ndarray], vs: Sequence[np.ndarray] | None, vmaxs: Sequence[np.ndarray] | None) -> None:
        host_multi_tensor_step(kind.dtype, flags, scalars, ps, gs, ms, vs, vmaxs)

    def batched(kind: StorageKind, *arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        elem_case, flags, scal, p0, grads, m, v, vmax = (a.copy() for a in arrays)
        traj = host_batched_cases(kind.dtype, elem_case, flags, scal, p0, grads, m, v, vmax)
        return traj, m, v, vmax

    return Kernels("host build entry points (no device: exercises the comparison, not the device)",
                   fused, multi, batched, DRY_PARTS)


def device_kernels() -> Kernels:
    """The CUDA kernels through :mod:`adamw_oracle.gpu.device` (CuPy; numpy in and out)."""
    import cupy  # a device is required here; the caller checked

    from adamw_oracle.gpu import device

    def up(a: np.ndarray | None) -> Any:
        return None if a is None else cupy.asarray(a)

    def back(dev: Any, host: np.ndarray | None) -> None:
        if host is not None:
            host[...] = cupy.asnumpy(dev)

    def fused(kind: StorageKind, flags: int, scalars: np.ndarray, *arrays: np.ndarray | None) -> None:
        dev = [up(a) for a in arrays]
        device.device_fused_step(kind, flags, cupy.asarray(scalars), *dev)
        for d, h in zip(dev, arrays):
            back(d, h)

    def multi(kind: StorageKind, flags: int, scalars: np.ndarray, *tables: Sequence[np.ndarray] | None) -> None:
        dev = [None if t is None else [cupy.asarray(a) for a in t] for t in tables]
        device.device_multi_tensor_step(kind, flags, cupy.asarray(scalars), *dev)
        for d, h in zip(dev, tables):
            if h is not None and d is not None:
                for dd, hh in zip(d, h):
                    back(dd, hh)

    def batched(kind: StorageKind, *arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return device.device_batched_cases(kind, *arrays)

    return Kernels("CUDA kernels (adamw_oracle.gpu.device, CuPy)", fused, multi, batched, DEVICE_PARTS)


def _values_equal(kind: StorageKind, got: np.ndarray, want: np.ndarray, compute: bool) -> np.ndarray:
    """Element-wise 'same bits, any NaN equals any NaN' (storage or compute arrays of ``kind``)."""
    if compute or kind.storage != np.uint16:
        got_f, want_f = np.asarray(got), np.asarray(want)
        width = np.uint64 if got_f.dtype.itemsize == 8 else np.uint32
        same = got_f.view(width) == want_f.view(width)
        return same | (np.isnan(got_f) & np.isnan(want_f))
    got_v, want_v = kind.from_storage(got), kind.from_storage(want)
    return (np.asarray(got) == np.asarray(want)) | (np.isnan(got_v) & np.isnan(want_v))


def first_mismatch(kind: StorageKind, got: np.ndarray, want: np.ndarray, *, compute: bool) -> dict[str, Any] | None:
    """Where ``got`` and ``want`` first differ (flat index, bits and values), or None when they agree."""
    same = _values_equal(kind, got, want, compute)
    if bool(same.all()):
        return None
    flat = int(np.flatnonzero(~same.reshape(-1))[0])
    g, w = np.asarray(got).reshape(-1)[flat], np.asarray(want).reshape(-1)[flat]
    width = {8: np.uint64, 4: np.uint32, 2: np.uint16}[np.asarray(got).dtype.itemsize]

    def show(x: Any) -> dict[str, Any]:
        bits = int(np.asarray(x).view(width))
        value = float(kind.from_storage(np.asarray([x]))[0]) if not compute and kind.storage == np.uint16 else float(x)
        return {"bits": f"0x{bits:0{2 * np.dtype(width).itemsize}x}", "value": repr(value)}

    return {"index": flat, "differing": int((~same).sum()), "expected": show(w), "got": show(g)}


def _random_inputs(kind: StorageKind, config: OptimizerConfig, n: int, steps: int, rng: np.random.Generator
                   ) -> tuple[int, np.ndarray, np.ndarray, list[np.ndarray | None]]:
    """(t0, p, grads (steps, n), [m, v, vmax]) with a seeded state part-way through a run."""
    conv = config.conventions
    t0 = int(rng.integers(0, 40))
    p = kind.to_storage(rng.normal(size=n) * 2)
    g = rng.normal(size=(steps, n)) * rng.choice([1e-3, 1.0, 30.0], size=(steps, 1))
    g[rng.random(size=(steps, n)) < 0.1] = 0.0
    g.reshape(-1)[rng.integers(0, steps * n, size=3)] = [np.inf, -np.inf, np.nan]
    grads = kind.to_storage(g)
    ct = kind.compute
    m = (rng.normal(size=n) * 0.1 if t0 else np.zeros(n)).astype(ct)
    adam = conv.family is Family.ADAM
    v = (np.abs(rng.normal(size=n)) * 0.01 if t0 else np.zeros(n)).astype(ct) if adam else None
    vmax = None
    if adam and conv.amsgrad is not AmsGrad.OFF:
        assert v is not None
        vmax = (v * 2).astype(ct)
    return t0, p, grads, [m, v, vmax]


def compare_fused_and_multi(kernels: Kernels, configs: Sequence[OptimizerConfig], dtypes: Sequence[Dtype],
                            seed: int = 0, deadline: float | None = None) -> dict[str, Any]:
    """The fused and multi-tensor candidates against the host fused step (see the module docstring)."""
    n = sum(kernels.parts)
    bounds = np.cumsum((0, *kernels.parts))
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"elements": n, "parts": list(kernels.parts), "steps": FUSED_STEPS,
                              "combinations": 0, "mismatching_combinations": 0, "first_mismatch": None}
    for dtype in dtypes:
        kind = kind_of(dtype)
        for config in configs:
            if deadline is not None and time.monotonic() > deadline:
                result["stopped_by_time_budget"] = True
                return result
            flags = flags_for(config)
            t0, p, grads, state = _random_inputs(kind, config, n, FUSED_STEPS, rng)
            want = [p.copy(), *(None if a is None else a.copy() for a in state)]
            fused = [p.copy(), *(None if a is None else a.copy() for a in state)]
            multi = [p.copy(), *(None if a is None else a.copy() for a in state)]
            result["combinations"] += 1
            mismatch = None
            for k in range(FUSED_STEPS):
                scalars = step_scalars(config, t0 + k + 1)
                g = np.ascontiguousarray(grads[k])
                host_fused_step(dtype, flags, scalars, want[0], g, *want[1:])
                kernels.fused(kind, flags, scalars, fused[0], g, *fused[1:])
                pieces = [None if a is None else [a[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])] for a in multi]
                g_pieces = [g[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
                kernels.multi(kind, flags, scalars, pieces[0], g_pieces, *pieces[1:])
                for label, got_arrays in (("fused", fused), ("multi_tensor", multi)):
                    for name, got, exp in zip(("p", "m", "v", "vmax"), got_arrays, want):
                        if got is None or exp is None or mismatch is not None:
                            continue
                        found = first_mismatch(kind, got, exp, compute=name != "p")
                        if found is not None:
                            mismatch = {"kernel": label, "dtype": dtype.value, "convention": config.conventions.describe(),
                                        "hyper": _hyper_text(config), "flags": flags, "step": t0 + k + 1,
                                        "array": name, **found}
            if mismatch is not None:
                result["mismatching_combinations"] += 1
                if result["first_mismatch"] is None:
                    result["first_mismatch"] = mismatch
    return result


def compare_batched(kernels: Kernels, configs: Sequence[OptimizerConfig], dtypes: Sequence[Dtype], seed: int = 1
                    ) -> dict[str, Any]:
    """The batched-case candidate against ``host_batched_cases``: all configurations in one launch per dtype."""
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"cases_per_launch": len(configs), "elements_per_case": BATCHED_ELEMENTS,
                              "steps": BATCHED_STEPS, "launches": 0, "mismatching_launches": 0, "first_mismatch": None}
    n, steps = BATCHED_ELEMENTS, BATCHED_STEPS
    for dtype in dtypes:
        kind = kind_of(dtype)
        inputs = [_random_inputs(kind, c, n, steps, rng) for c in configs]
        elem_case = np.repeat(np.arange(len(configs), dtype=np.int32), n)
        flags = np.array([flags_for(c) for c in configs], dtype=np.int32)
        scal = np.stack([scalar_table(c, t0 + 1, steps) for c, (t0, _, _, _) in zip(configs, inputs)])
        p0 = np.concatenate([x[1] for x in inputs])
        grads = np.ascontiguousarray(np.concatenate([x[2] for x in inputs], axis=1))
        state = [np.concatenate([x[3][j] if x[3][j] is not None else np.zeros(n, kind.compute) for x in inputs])
                 for j in range(3)]
        arrays = (elem_case, flags, scal, p0, grads, *state)
        host_state = [a.copy() for a in state]
        want = [host_batched_cases(dtype, elem_case, flags, scal, p0, grads, *host_state), *host_state]
        got = kernels.batched(kind, *(a.copy() for a in arrays))
        result["launches"] += 1
        for name, g, w in zip(("trajectory", "m", "v", "vmax"), got, want):
            found = first_mismatch(kind, g, w, compute=name != "trajectory")
            if found is None:
                continue
            result["mismatching_launches"] += 1
            if result["first_mismatch"] is None:
                step, element = divmod(found["index"], p0.shape[0]) if name == "trajectory" else (steps - 1, found["index"])
                config = configs[int(elem_case[element])]
                result["first_mismatch"] = {"kernel": "batched", "dtype": dtype.value, "array": name,
                                            "convention": config.conventions.describe(), "hyper": _hyper_text(config),
                                            "step_index": int(step), "element": int(element), **found}
            break
    return result


def compare_stochastic_multi(kernels: Kernels, configs: Sequence[OptimizerConfig], seed: int = 2) -> dict[str, Any]:
    """bfloat16 with stochastic rounding: the multi-tensor candidate over the parts against the host
    build's multi-tensor step over the same parts, parameters after every step. The random bits depend
    on each tensor's index in the launch (its stream), so the expectation is the host multi-tensor step,
    not the fused step over the whole array."""
    kind = kind_of(Dtype.BFLOAT16)
    bounds = np.cumsum((0, *kernels.parts))
    n = int(bounds[-1])
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"elements": n, "parts": list(kernels.parts), "steps": FUSED_STEPS, "combinations": 0,
                              "first_mismatch": None}
    for config in configs:
        flags = flags_for(config, rounding=ParamRounding.STOCHASTIC)
        t0, p, grads, state = _random_inputs(kind, config, n, FUSED_STEPS, rng)
        want = [p.copy(), *(None if a is None else a.copy() for a in state)]
        got = [p.copy(), *(None if a is None else a.copy() for a in state)]
        result["combinations"] += 1
        for k in range(FUSED_STEPS):
            scalars = step_scalars(config, t0 + k + 1)
            g = np.ascontiguousarray(grads[k])
            g_pieces = [g[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
            for arrays, call in ((want, host_multi_tensor_step), (got, None)):
                pieces = [None if a is None else [a[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])] for a in arrays]
                if call is None:
                    kernels.multi(kind, flags, scalars, pieces[0], g_pieces, *pieces[1:])
                else:
                    call(kind.dtype, flags, scalars, pieces[0], g_pieces, *pieces[1:])
            found = first_mismatch(kind, got[0], want[0], compute=False)
            if found is not None and result["first_mismatch"] is None:
                result["first_mismatch"] = {"kernel": "multi_tensor", "dtype": "bfloat16", "rounding": "stochastic",
                                            "convention": config.conventions.describe(), "hyper": _hyper_text(config),
                                            "flags": flags, "step": t0 + k + 1, "array": "p", **found}
    return result


def _hyper_text(config: OptimizerConfig) -> str:
    h = config.hyper
    return ", ".join(f"{name}={getattr(h, name)}" for name in ("lr", "beta1", "beta2", "eps", "eps_root", "weight_decay",
                                                                "momentum", "dampening", "nesterov", "schedule_multiplier"))


def run(kernels: Kernels, *, time_budget: float | None = None) -> dict[str, Any]:
    """Step 2: ``{"candidates", "configurations", "fused_and_multi_tensor", "batched", "passed"}``."""
    start = time.monotonic()
    configs = kernel_configs()
    dtypes = list(Dtype)
    batched = compare_batched(kernels, configs, dtypes)
    deadline = None if time_budget is None else start + time_budget
    fused = compare_fused_and_multi(kernels, configs, dtypes, deadline=deadline)
    stochastic = compare_stochastic_multi(kernels, configs[::4])
    complete = not fused.get("stopped_by_time_budget")
    passed = (complete and fused["first_mismatch"] is None and batched["first_mismatch"] is None
              and stochastic["first_mismatch"] is None)
    return {"candidates": kernels.label, "configurations": len(configs), "dtypes": [d.value for d in dtypes],
            "batched": batched, "fused_and_multi_tensor": fused, "stochastic_multi_tensor": stochastic,
            "complete": complete, "passed": passed, "seconds": round(time.monotonic() - start, 2)}
