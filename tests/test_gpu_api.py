"""The Python API of the GPU layer, exercised on numpy arrays (the host build runs the kernels'
arithmetic): import without CuPy, torch-like step(), argument checking before any launch."""
from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from adamw_oracle.contract import Dtype, Run, preset
from adamw_oracle.contract.case import Case
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu import FusedAdam, FusedAdamW, FusedOptimizer, FusedSGD, HostBuildImplementation

# Hand derivation, torch AdamW, t=1, p=0.8, g=-0.3, lr=0.001, wd=0.01, eps=1e-8: m^ = g and v^ = g^2, so
# update = lr*g/(|g| + eps) and p_new = 0.8 - 0.001*0.01*0.8 + 0.001*0.3/(0.3 + 1e-8) = 0.80099199996666...
# (the inputs 0.8, 0.3 enter as float64 values; the few roundings of ~0.8 in float64 stay below 2e-16).
FIRST_STEP_EXACT = Fraction(0.8) - Fraction(1, 1000) * Fraction(1, 100) * Fraction(0.8) + \
    Fraction(1, 1000) * Fraction(0.3) / (Fraction(0.3) + Fraction(1, 10**8))
FIRST_STEP_ALLOWED = Fraction(2, 10**16)


def _run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``import cupy`` fails."""
    prelude = "import sys; sys.modules['cupy'] = None; sys.modules['cupy_backends'] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=300)


def test_importable_and_usable_on_the_cpu_without_cupy() -> None:
    result = _run_blocked(
        "import numpy as np\n"
        "from adamw_oracle.gpu import FusedAdamW, HostBuildImplementation, compile_all_ptx\n"
        "w = [np.array([0.8])]\n"
        "opt = FusedAdamW(w, lr='0.001', weight_decay='0.01')\n"
        "opt.step([np.array([-0.3])])\n"
        "print(repr(float(w[0][0])))\n"
        "assert 'cupy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    assert result.returncode == 0, result.stderr
    assert abs(Fraction(float(result.stdout.strip())) - FIRST_STEP_EXACT) <= FIRST_STEP_ALLOWED


def test_a_clear_error_only_when_a_kernel_is_needed() -> None:
    result = _run_blocked(
        "from adamw_oracle.gpu import compile_all_ptx\n"
        "from adamw_oracle.gpu.device import cupy_module\n"
        "for fn in (compile_all_ptx, cupy_module):\n"
        "    try:\n"
        "        fn()\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__, '|', exc)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("NvrtcUnavailableError |") and "adamw-oracle[gpu]" in lines[0]
    assert lines[1].startswith("CudaUnavailableError |") and "CuPy" in lines[1]


def test_a_missing_device_is_reported_clearly() -> None:
    cupy = pytest.importorskip("cupy")
    from adamw_oracle.gpu.device import CudaUnavailableError, cupy_module

    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver counts as no device
        count = 0
    if count == 0:
        with pytest.raises(CudaUnavailableError, match="device"):
            cupy_module()
    else:
        assert cupy_module() is cupy


def test_first_step_matches_torch_adamw_by_hand() -> None:
    w = [np.array([0.8])]
    FusedAdamW(w, lr="0.001", weight_decay="0.01").step([np.array([-0.3])])
    assert abs(Fraction(float(w[0][0])) - FIRST_STEP_EXACT) <= FIRST_STEP_ALLOWED


def _case_for(opt: FusedOptimizer, params: list[np.ndarray], grads: list[list[np.ndarray]], dtype: Dtype) -> Case:
    flat0 = np.concatenate([p.astype(np.float64).ravel() for p in params])
    rows = tuple(tuple(np.concatenate([g.astype(np.float64).ravel() for g in step]).tolist()) for step in grads)
    return Case(Run(opt.config, tuple(flat0.tolist()), rows), dtype)


@pytest.mark.parametrize("make", [
    lambda w: FusedAdamW(w, lr=0.01, weight_decay=0.1, amsgrad=True),
    lambda w: FusedAdam(w, lr="0.003", weight_decay="0.01", maximize=True),
    lambda w: FusedSGD(w, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda w: FusedSGD(w, lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01, decoupled=True),
    lambda w: FusedOptimizer(w, preset("keras.AdamW")),
    lambda w: FusedOptimizer(w, preset("optax.adam", lr="0.01", eps_root="1e-8", amsgrad=True)),
], ids=["adamw-amsgrad", "adam-l2-maximize", "sgd-nesterov", "sgdw-dampening", "keras-adamw", "optax-adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_step_on_several_arrays_equals_the_batched_case_kernel(make, dtype: str) -> None:
    rng = np.random.default_rng(1)
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    shapes = [(2, 3), (0,), (5,)]
    params = [rng.normal(size=s).astype(np_dtype) for s in shapes]
    initial = [p.copy() for p in params]
    grads = [[rng.normal(size=s).astype(np_dtype) for s in shapes] for _ in range(3)]
    opt = make(params)
    for step in grads:
        opt.step(step)
    assert opt.steps_taken == 3
    observed = HostBuildImplementation().run(_case_for(opt, initial, grads, Dtype.parse(dtype))).params
    got = np.concatenate([p.astype(np.float64).ravel() for p in params])
    assert np.array_equal(got, observed[-1])
    assert opt.m[0].dtype == (np.float64 if dtype == "float64" else np.float32)


def test_uint16_bit_patterns_with_storage_and_ml_dtypes_arrays_agree() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=6).astype(ml_dtypes.bfloat16)
    grads = rng.normal(size=6).astype(ml_dtypes.bfloat16)
    as_bf16 = [values.copy()]
    as_bits = [values.copy().view(np.uint16)]
    FusedAdamW(as_bf16, lr=0.1).step([grads])
    FusedAdamW(as_bits, lr=0.1, storage="bfloat16").step([grads.view(np.uint16)])
    assert np.array_equal(as_bf16[0].view(np.uint16), as_bits[0])
    assert not np.array_equal(as_bits[0], values.view(np.uint16))  # lr=0.1 moves bfloat16 values


def test_non_finite_gradients_are_not_skipped() -> None:
    w = [np.array([1.0, 1.0, 1.0])]
    FusedAdamW(w, lr=0.01).step([np.array([math.inf, math.nan, 1.0])])
    # t=1, g=inf: m^/(sqrt(v^)+eps) = inf/inf = nan, as in the reference
    assert math.isnan(w[0][0]) and math.isnan(w[0][1]) and math.isfinite(w[0][2])


def _expect_error(argument: str, fn, *args, **kwargs) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        fn(*args, **kwargs)
    assert info.value.argument == argument
    return info.value


def test_bad_parameters_are_refused_at_construction() -> None:
    _expect_error("params", FusedAdamW, [])
    _expect_error("params", FusedAdamW, np.zeros(3))
    _expect_error("params[1]", FusedAdamW, [np.zeros(3), np.zeros(3, np.float32)])
    _expect_error("params[0]", FusedAdamW, [np.zeros((4, 4))[:, ::2]])
    _expect_error("params[0]", FusedAdamW, [np.zeros(3, np.int32)])
    _expect_error("params[0]", FusedAdamW, [np.zeros(3, np.uint16)])  # bits need storage=
    _expect_error("params[1]", FusedAdamW, [np.zeros(3), [0.0, 1.0]])
    shared = np.zeros(6)
    _expect_error("params[1]", FusedAdamW, [shared, shared])
    _expect_error("params[2]", FusedAdamW, [shared[:4], np.zeros(2), shared[3:]])
    FusedAdamW([shared[:3], shared[3:]])  # adjacent halves of one buffer are fine
    _expect_error("lr", FusedAdamW, [np.zeros(3)], lr=-1.0)
    _expect_error("beta2", FusedAdamW, [np.zeros(3)], betas=(0.9, 1.0))
    error = _expect_error("storage", FusedAdamW, [np.zeros(3)], storage="float16")
    assert "float64" in error.allowed


def test_bad_gradients_are_refused_before_anything_changes() -> None:
    w = [np.ones(3), np.ones((2, 2))]
    opt = FusedAdamW(w, lr=0.1)
    good = [np.ones(3), np.ones((2, 2))]
    bad_calls = {
        "grads": [good[:1], np.ones(3)],
        "grads[1]": [[good[0], np.ones(4)], [good[0], np.ones((2, 2), np.float32)], [good[0], np.ones((2, 4))[:, ::2]]],
    }
    for argument, calls in bad_calls.items():
        for grads in calls:
            error = _expect_error(argument, opt.step, grads)
            assert argument in str(error)
    assert opt.steps_taken == 0
    assert all(np.array_equal(p, np.ones(p.shape)) for p in w)
    assert all(not m.any() for m in opt.m)
    opt.step(good)
    assert opt.steps_taken == 1 and not np.array_equal(w[0], np.ones(3))


def test_zero_size_arrays_are_a_defined_no_op() -> None:
    w = [np.zeros(0), np.zeros((3, 0))]
    opt = FusedAdamW(w)
    opt.step([np.zeros(0), np.zeros((3, 0))])
    assert opt.steps_taken == 1 and w[0].shape == (0,) and w[1].shape == (3, 0)


def test_readme_gpu_section_examples_run() -> None:
    import doctest
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section: gpu -->", 1)[1].split("<!-- section:", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for block in blocks:
        runner.run(parser.get_doctest(block, {}, "README gpu section", "README.md", 0))
    assert runner.summarize(verbose=False).failed == 0


def test_every_convention_has_its_own_flags_word_and_it_decodes_back() -> None:
    from adamw_oracle.contract import Conventions, Family, all_conventions
    from adamw_oracle.gpu.codes import (
        AMSGRAD_CODES,
        EPS_CODES,
        FAMILY_CODES,
        TARGET_CODES,
        WEIGHT_DECAY_CODES,
        decode_flags,
        flags_for_conventions,
    )

    words = {}
    for conv in all_conventions():
        variants = [(False, False)] if conv.family is Family.ADAM else [(False, False), (True, False), (True, True)]
        for momentum, nesterov in variants:
            word = flags_for_conventions(conv, momentum=momentum, nesterov=nesterov)
            assert word not in words, (conv, words.get(word))
            words[word] = conv
            fields = decode_flags(word)
            assert fields["FAMILY"] == FAMILY_CODES[conv.family]
            assert fields["WD"] == WEIGHT_DECAY_CODES[conv.weight_decay]
            assert fields["TARGET"] == TARGET_CODES[conv.decay_target]
            assert fields["EPS"] == EPS_CODES[conv.eps_placement]
            assert fields["AMSGRAD"] == AMSGRAD_CODES[conv.amsgrad]
            assert fields["MAXIMIZE"] == int(conv.maximize)
            assert (fields["MOMENTUM"], fields["NESTEROV"]) == (int(momentum), int(nesterov))
    # every enum member of the contract has a code (a convention in the contract exists in the kernels)
    assert len(words) == sum(1 if c.family is Family.ADAM else 3 for c in all_conventions())
    assert Conventions() in words.values()


def test_step_scalars_follow_the_documented_formulas() -> None:
    from adamw_oracle.contract import BiasCorrection, Conventions, Hyperparameters, OptimizerConfig, WeightDecay
    from adamw_oracle.gpu.codes import SLOT
    from adamw_oracle.gpu.scalars import step_scalars

    hyper = Hyperparameters(lr="0.5", beta1="0.5", beta2="0.75", weight_decay="0.25", schedule_multiplier="0.5")
    conv = Conventions(weight_decay=WeightDecay.DECOUPLED_SCHEDULE)
    s = step_scalars(OptimizerConfig(conv, hyper), 2)
    # dyadic inputs make every value exact: bc1 = 1 - 1/4, bc2 = 1 - 9/16, lr_t = 1/4, c = s*wd = 1/8,
    # alpha = lr_t*sqrt(7/16)/(3/4) = sqrt(7)/12 (one rounding of sqrt, one of the division)
    assert (s[SLOT["BC1"]], s[SLOT["BC2"]], s[SLOT["LR_T"]], s[SLOT["DECAY_COEF"]]) == (0.75, 0.4375, 0.25, 0.125)
    assert abs(s[SLOT["ALPHA"]] - math.sqrt(7) / 12) <= 2 * math.ulp(math.sqrt(7) / 12)
    assert s[SLOT["FIRST_STEP"]] == 0.0 and step_scalars(OptimizerConfig(conv, hyper), 1)[SLOT["FIRST_STEP"]] == 1.0
    off = step_scalars(OptimizerConfig(conv.replace(bias_correction=BiasCorrection.OFF), hyper), 7)
    assert (off[SLOT["BC1"]], off[SLOT["BC2"]], off[SLOT["ALPHA"]]) == (1.0, 1.0, 0.25)
    for wd, c in ((WeightDecay.DECOUPLED_LR, 0.0625), (WeightDecay.DECOUPLED_UNSCALED, 0.25), (WeightDecay.COUPLED_L2, 0.0)):
        assert step_scalars(OptimizerConfig(Conventions(weight_decay=wd), hyper), 3)[SLOT["DECAY_COEF"]] == c
    with pytest.raises(InvalidArgumentError, match="t=0"):
        step_scalars(OptimizerConfig(conv, hyper), 0)


def test_storage_round_trips_and_rounds_to_nearest_even() -> None:
    from adamw_oracle.gpu.storage import kind_of

    rng = np.random.default_rng(6)
    x = rng.normal(size=10_000) * 10.0 ** rng.integers(-30, 30, size=10_000)
    for name, exact_type in (("float16", np.float16), ("bfloat16", ml_dtypes.bfloat16), ("float32", np.float32)):
        kind = kind_of(name)
        with np.errstate(over="ignore"):
            want = x.astype(np.float32).astype(exact_type).astype(np.float64) if name == "bfloat16" else x.astype(exact_type).astype(np.float64)
        got = kind.from_storage(kind.to_storage(x))
        assert np.array_equal(got, want, equal_nan=True), name


def test_host_entry_points_refuse_missing_state_and_bad_arrays() -> None:
    from adamw_oracle.contract import AmsGrad, Conventions, Hyperparameters, OptimizerConfig
    from adamw_oracle.gpu.codes import flags_for
    from adamw_oracle.gpu.host import host_fused_step
    from adamw_oracle.gpu.scalars import step_scalars

    config = OptimizerConfig(Conventions(amsgrad=AmsGrad.MAX_RAW_V), Hyperparameters())
    flags, scalars = flags_for(config), step_scalars(config, 1)
    p, g, m, v = (np.zeros(4) for _ in range(4))
    _expect_error("v", host_fused_step, "float64", flags, scalars, p, g, m)
    _expect_error("vmax", host_fused_step, "float64", flags, scalars, p, g, m, v)
    _expect_error("m", host_fused_step, "float64", flags, scalars, p, g, np.zeros(4, np.float32), v, v.copy())
    _expect_error("g", host_fused_step, "float64", flags, scalars, p, np.zeros(5), m, v, v.copy())
    _expect_error("scalars", host_fused_step, "float64", flags, scalars[:-1].copy(), p, g, m, v, v.copy())
    _expect_error("dtype", host_fused_step, "int8", flags, scalars, p, g, m, v, v.copy())
