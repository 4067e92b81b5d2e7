"""The real kernels on a CUDA device: bit-identical to the host build, and the same API checks.

Every test here is marked ``gpu``; tests/conftest.py skips them where no device exists (this
development machine has none, so these tests have never been executed here).
"""
from __future__ import annotations

import numpy as np
import pytest

from adamw_oracle.contract import Dtype
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu import FusedAdamW, FusedSGD
from adamw_oracle.gpu.codes import SCALAR_COUNT, flags_for
from adamw_oracle.gpu.host import host_batched_cases, host_fused_step
from adamw_oracle.gpu.scalars import scalar_table, step_scalars
from adamw_oracle.gpu.storage import kind_of

pytestmark = pytest.mark.gpu

from test_gpu_host import _cases  # noqa: E402  (same cases as the host tests: every convention)


@pytest.fixture(scope="module")
def cp():
    return pytest.importorskip("cupy")


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    width = {8: np.uint64, 4: np.uint32, 2: np.uint16}[a.dtype.itemsize]
    nan_a = np.isnan(a.astype(np.float64)) if a.dtype != np.uint16 else np.zeros(a.shape, bool)
    nan_b = np.isnan(b.astype(np.float64)) if b.dtype != np.uint16 else np.zeros(b.shape, bool)
    return np.array_equal(nan_a, nan_b) and np.array_equal(a[~nan_a].view(width), b[~nan_b].view(width))


def _pack(cases, kind):
    steps = cases[0].run.steps
    sizes = [c.run.size for c in cases]
    total = sum(sizes)
    elem_case = np.repeat(np.arange(len(cases), dtype=np.int32), sizes)
    flags = np.array([flags_for(c.run.config) for c in cases], dtype=np.int32)
    scal = np.stack([scalar_table(c.run.config, c.run.initial_state.step + 1, steps) for c in cases])
    p0 = np.concatenate([kind.to_storage(c.initial_params()) for c in cases])
    grads = np.concatenate([kind.to_storage(c.gradients()) for c in cases], axis=1)
    state = [np.concatenate([kind.state_values(getattr(c.run.initial_state, f)) for c in cases]) for f in ("m", "v", "vmax")]
    assert scal.shape == (len(cases), steps, SCALAR_COUNT) and grads.shape == (steps, total)
    return elem_case, flags, scal, p0, grads, *state


@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_batched_case_kernel_is_bit_identical_to_the_host_build(cp, dtype: Dtype) -> None:
    from adamw_oracle.gpu.device import device_batched_cases

    kind = kind_of(dtype)
    cases = [c for c in _cases(dtype, seed=7, steps=4, n=5)] + _cases(dtype, seed=8, steps=4, n=5, nonfinite=True)
    elem_case, flags, scal, p0, grads, m, v, vmax = _pack(cases, kind)
    host_state = [m.copy(), v.copy(), vmax.copy()]
    host_traj = host_batched_cases(dtype, elem_case, flags, scal, p0, grads, *host_state)
    dev_traj, dev_m, dev_v, dev_vmax = device_batched_cases(kind, elem_case, flags, scal, p0, grads, m, v, vmax)
    assert _same_bits(dev_traj, host_traj)
    for dev, host in zip((dev_m, dev_v, dev_vmax), host_state):
        assert _same_bits(dev, host)


@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_fused_and_multi_tensor_kernels_are_bit_identical_to_the_host_build(cp, dtype: Dtype) -> None:
    from adamw_oracle.gpu.device import device_fused_step, device_multi_tensor_step

    kind = kind_of(dtype)
    rng = np.random.default_rng(4)
    for case in _cases(dtype, seed=9, steps=2, n=1)[::9]:
        if case.run.initial_state.step:
            continue
        config = case.run.config
        flags = flags_for(config)
        n = 300_001  # several blocks, a ragged tail
        p = kind.to_storage(rng.normal(size=n))
        g = kind.to_storage(rng.normal(size=n))
        host = [p.copy(), np.zeros(n, kind.compute), np.zeros(n, kind.compute), np.zeros(n, kind.compute)]
        dev = [cp.asarray(a) for a in host]
        sizes = [70_000, 0, 200_000, 30_001]
        bounds = np.cumsum([0] + sizes)
        dev_parts = [[cp.asarray(a[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])] for a in host]
        g_dev = cp.asarray(g)
        g_parts = [cp.asarray(g[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        for t in (1, 2):
            scalars = step_scalars(config, t)
            host_fused_step(dtype, flags, scalars, host[0], g, host[1], host[2], host[3])
            device_fused_step(kind, flags, cp.asarray(scalars), dev[0], g_dev, dev[1], dev[2], dev[3])
            device_multi_tensor_step(kind, flags, cp.asarray(scalars), dev_parts[0], g_parts, dev_parts[1],
                                     dev_parts[2], dev_parts[3])
        for j in range(4):
            assert _same_bits(cp.asnumpy(dev[j]), host[j])
            assert _same_bits(np.concatenate([cp.asnumpy(a) for a in dev_parts[j]]), host[j])



def test_optimizer_on_cupy_arrays_equals_the_optimizer_on_numpy_arrays(cp) -> None:
    rng = np.random.default_rng(3)
    shapes = [(64, 33), (0,), (1000,)]
    host = [rng.normal(size=s).astype(np.float32) for s in shapes]
    dev = [cp.asarray(a) for a in host]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(4)]
    for multi in (True, False):
        h = [a.copy() for a in host]
        d = [a.copy() for a in dev]
        opt_h, opt_d = FusedAdamW(h, lr=0.01, amsgrad=True), FusedAdamW(d, lr=0.01, amsgrad=True, multi_tensor=multi)
        for step in grads:
            opt_h.step(step)
            opt_d.step([cp.asarray(g) for g in step])
        for a, b in zip(h, d):
            assert _same_bits(cp.asnumpy(b), a)
    s_h, s_d = [host[2].copy()], [dev[2].copy()]
    FusedSGD(s_h, lr=0.1, momentum=0.9, nesterov=True).step([grads[0][2]])
    FusedSGD(s_d, lr=0.1, momentum=0.9, nesterov=True).step([cp.asarray(grads[0][2])])
    assert _same_bits(cp.asnumpy(s_d[0]), s_h[0])


def test_device_arguments_are_checked_before_launch(cp) -> None:
    w = [cp.ones(8, dtype=cp.float32)]
    opt = FusedAdamW(w)
    with pytest.raises(InvalidArgumentError) as info:
        opt.step([cp.ones(16, dtype=cp.float32)[::2]])
    assert info.value.argument == "grads[0]"
    with pytest.raises(InvalidArgumentError):
        opt.step([np.ones(8, dtype=np.float32)])  # host array for a device parameter
    if cp.cuda.runtime.getDeviceCount() > 1:
        with cp.cuda.Device(1):
            other = cp.ones(8, dtype=cp.float32)
        with pytest.raises(InvalidArgumentError, match="device"):
            opt.step([other])
    assert opt.steps_taken == 0 and bool((w[0] == 1).all())
