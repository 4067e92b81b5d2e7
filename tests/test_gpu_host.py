"""The host build (the CUDA kernels' per-element arithmetic compiled by g++) on the CPU.

Golden values come from:
* numpy / ml_dtypes for the half-precision conversions (independent, correctly rounded);
* an independent numpy evaluation of the documented operation sequence (tests/test_gpu_host.py's
  ``numpy_step``, written from the equations in kernels/ao_element.cuh's header comment): the same
  IEEE operations in the same order must give identical bits;
* the probe numbers of shared/GUIDE.md section 1 (float64, printed to 6-7 digits);
* the certified reference through the error model (``adamw_oracle.verify.judge``) for every
  convention and dtype.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import hypothesis
import ml_dtypes
import numpy as np
import pytest

from adamw_oracle import strategies
from adamw_oracle.contract import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    Dtype,
    EpsPlacement,
    Family,
    Hyperparameters,
    OptimizerConfig,
    Run,
    WeightDecay,
    all_conventions,
    exact_state,
    preset,
)
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.precision import ParamRounding
from adamw_oracle.gpu import HostBuildImplementation
from adamw_oracle.gpu.codes import flags_for
from adamw_oracle.gpu.host import host_batched_cases, host_convert, host_fused_step, host_multi_tensor_step
from adamw_oracle.gpu.hostbuild import load_library
from adamw_oracle.gpu.scalars import scalar_table, step_scalars
from adamw_oracle.gpu.storage import kind_of
from adamw_oracle.reference import mpf_to_fraction, run_trajectory
from adamw_oracle.verify import PrecisionModel, judge
from adamw_oracle.verify.stochastic import judge_stochastic_rounding, round_down, round_up

HALF = (Dtype.FLOAT16, Dtype.BFLOAT16)


# ---------------------------------------------------------------------------------------------------
# conversions
def _float32_probe_values() -> np.ndarray:
    """Random float32 bit patterns plus every tie and near-tie of the float16/bfloat16 grids."""
    rng = np.random.default_rng(0)
    random_bits = rng.integers(0, 2**32, size=400_000, dtype=np.uint64).astype(np.uint32)
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    halves = halves[np.isfinite(halves)]
    bf = (np.arange(2**16, dtype=np.uint32) << 16).view(np.float32)
    bf = bf[np.isfinite(bf)]
    # midpoints between neighbours are exact in float32 (one more bit); also one float32 ulp either side
    mids = []
    for grid in (np.unique(halves), np.unique(bf)):
        mid = ((grid[:-1].astype(np.float64) + grid[1:].astype(np.float64)) / 2).astype(np.float32)
        mids += [mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))]
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.996, 65520, 2**-24, 2**-25, 3 * 2**-26],
                        dtype=np.float32)
    return np.concatenate([random_bits.view(np.float32), halves, bf, *mids, specials])


def test_float32_to_float16_rounds_like_numpy() -> None:
    x = _float32_probe_values()
    got = host_convert("float_to_f16", x)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    assert np.array_equal(got[~nan], want[~nan])
    assert np.isnan(got[nan].view(np.float16)).all()


def test_float32_to_bfloat16_rounds_like_ml_dtypes() -> None:
    x = _float32_probe_values()
    got = host_convert("float_to_bf16", x)
    with np.errstate(invalid="ignore"):
        want = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    nan = np.isnan(x)
    assert np.array_equal(got[~nan], want[~nan])
    assert np.isnan((got[nan].astype(np.uint32) << 16).view(np.float32)).all()


def test_half_to_float32_is_exact_for_every_bit_pattern() -> None:
    bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    f16 = host_convert("f16_to_float", bits)
    want16 = bits.view(np.float16).astype(np.float32)
    bf = host_convert("bf16_to_float", bits)
    want_bf = bits.view(ml_dtypes.bfloat16).astype(np.float32)
    for got, want in ((f16, want16), (bf, want_bf)):
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan)
        assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))  # signed zeros too


def test_the_library_evaluates_float_in_float() -> None:
    assert load_library().ao_host_flt_eval_method() == 0


# ---------------------------------------------------------------------------------------------------
# an independent numpy evaluation of the documented sequence of operations
def numpy_step(config: OptimizerConfig, dtype: Dtype, t: int, p: np.ndarray, g: np.ndarray,
               m: np.ndarray, v: np.ndarray, vmax: np.ndarray, float32_arithmetic: bool = False) -> np.ndarray:
    """p_new (compute dtype), updating m, v, vmax in place, from the equations of the header comment."""
    conv, h = config.conventions, config.hyper
    ct = np.float64 if dtype is Dtype.FLOAT64 and not float32_arithmetic else np.float32
    f = {name: float(getattr(h, name)) for name in ("lr", "beta1", "beta2", "eps", "eps_root", "weight_decay",
                                                   "momentum", "dampening", "schedule_multiplier")}
    if conv.bias_correction is BiasCorrection.ON:
        bc1, bc2 = 1.0 - f["beta1"] ** t, 1.0 - f["beta2"] ** t
    else:
        bc1 = bc2 = 1.0
    lr_t = f["lr"] * f["schedule_multiplier"]
    c = {WeightDecay.DECOUPLED_LR: lr_t * f["weight_decay"],
         WeightDecay.DECOUPLED_SCHEDULE: f["schedule_multiplier"] * f["weight_decay"],
         WeightDecay.DECOUPLED_UNSCALED: f["weight_decay"]}.get(conv.weight_decay, 0.0)
    with np.errstate(divide="ignore"):
        alpha = float(np.float64(lr_t * math.sqrt(bc2)) / np.float64(bc1))
    s = {k: ct(val) for k, val in dict(
        b1=f["beta1"], omb1=1.0 - f["beta1"], b2=f["beta2"], omb2=1.0 - f["beta2"], bc1=bc1, bc2=bc2,
        lr_t=lr_t, eps=f["eps"], eps_root=f["eps_root"], wd=f["weight_decay"], c=c, alpha=alpha,
        mu=f["momentum"], omd=1.0 - f["dampening"]).items()}
    gu = -g if conv.maximize else g.copy()
    if conv.weight_decay is WeightDecay.COUPLED_L2:
        gu = gu + s["wd"] * p
    if conv.family is Family.SGD:
        d = gu
        if h.momentum != 0:
            m[:] = gu if t == 1 else s["mu"] * m + s["omd"] * gu
            d = gu + s["mu"] * m if h.nesterov else m.copy()
        update = s["lr_t"] * d
    else:
        m[:] = s["b1"] * m + s["omb1"] * gu
        v[:] = s["b2"] * v + s["omb2"] * (gu * gu)
        m_hat, v_hat = m / s["bc1"], v / s["bc2"]
        v_tilde, raw = v_hat, v.copy()
        if conv.amsgrad is AmsGrad.MAX_RAW_V:
            vmax[:] = np.maximum(vmax, v)
            v_tilde, raw = vmax / s["bc2"], vmax.copy()
        elif conv.amsgrad is AmsGrad.MAX_V_HAT:
            vmax[:] = np.maximum(vmax, v_hat)
            v_tilde, raw = vmax.copy(), vmax * s["bc2"]
        if conv.eps_placement is EpsPlacement.EPSILON_HAT:
            update = (s["alpha"] * m) / (np.sqrt(raw) + s["eps"])
        elif conv.eps_placement is EpsPlacement.INSIDE_ROOT:
            update = (s["lr_t"] * m_hat) / (np.sqrt(v_tilde + s["eps_root"]) + s["eps"])
        elif conv.eps_placement is EpsPlacement.FLOOR:
            update = (s["lr_t"] * m_hat) / np.maximum(np.sqrt(v_tilde), s["eps"])
        else:
            update = (s["lr_t"] * m_hat) / (np.sqrt(v_tilde) + s["eps"])
    if conv.weight_decay.is_decoupled:
        if conv.decay_target is DecayTarget.UPDATED_PARAM:
            q = p - update
            return q - s["c"] * q
        return (p - s["c"] * p) - update
    return p - update


def _round_to(dtype: Dtype, x: np.ndarray) -> np.ndarray:
    if dtype is Dtype.FLOAT64:
        return x.astype(np.float64)
    if dtype is Dtype.FLOAT32:
        return x.astype(np.float32).astype(np.float64)
    target = np.float16 if dtype is Dtype.FLOAT16 else ml_dtypes.bfloat16
    return x.astype(np.float32).astype(target).astype(np.float64)


def numpy_trajectory(case: Case, float32_arithmetic: bool = False) -> np.ndarray:
    """Parameters after every step by :func:`numpy_step` (float64 array of dtype values)."""
    dtype = case.dtype
    ct = np.float64 if dtype is Dtype.FLOAT64 and not float32_arithmetic else np.float32
    st = case.run.initial_state
    kind = kind_of(dtype, "float32" if float32_arithmetic else None)
    m, v, vmax = (kind.state_values(x).astype(ct) for x in (st.m, st.v, st.vmax))
    p = case.initial_params()
    out = []
    with np.errstate(all="ignore"):
        for k, g in enumerate(case.gradients()):
            p_new = numpy_step(case.run.config, dtype, st.step + k + 1, p.astype(ct), g.astype(ct), m, v, vmax,
                               float32_arithmetic)
            p = _round_to(dtype, p_new)
            out.append(p)
    return np.array(out)


def test_float32_arithmetic_for_float64_parameters_is_the_documented_sequence_in_float32() -> None:
    """The f64c32 instantiation: float64 p and g rounded to float32 when read, float32 arithmetic and
    state, the result widened back to float64 exactly (so every stored value is a float32 value)."""
    cases = _cases(Dtype.FLOAT64, seed=5) + _cases(Dtype.FLOAT64, seed=7, nonfinite=True, steps=3)
    observations = HostBuildImplementation(arithmetic="float32").run_batch(cases)
    for case, observation in zip(cases, observations):
        assert observation.error is None
        _assert_same_bits(observation.params, numpy_trajectory(case, float32_arithmetic=True),
                          case.run.config.conventions.describe())
        finite = observation.params[np.isfinite(observation.params)]
        assert np.array_equal(finite.astype(np.float32).astype(np.float64), finite)


def _hyper_for(conv: Conventions, rng: np.random.Generator) -> Hyperparameters:
    pick = lambda *options: options[int(rng.integers(len(options)))]  # noqa: E731
    wd = "0" if conv.weight_decay is WeightDecay.NONE else pick("0.01", "0.1", "0.5")
    common = dict(lr=pick("0.001", "0.01", "0.3"), weight_decay=wd, schedule_multiplier=pick("1", "0.5", "0.25"))
    if conv.family is Family.SGD:
        momentum = pick("0", "0.9", "0.5")
        nesterov = momentum != "0" and bool(rng.integers(2))
        return Hyperparameters(**common, momentum=momentum, dampening="0" if nesterov else pick("0", "0.1"), nesterov=nesterov)
    eps_root = pick("0", "1e-8", "0.001") if conv.eps_placement is EpsPlacement.INSIDE_ROOT else "0"
    return Hyperparameters(**common, beta1=pick("0.9", "0.5", "0"), beta2=pick("0.999", "0.99"),
                           eps=pick("1e-8", "1e-3", "0"), eps_root=eps_root)


def _values(dtype: Dtype, x: np.ndarray) -> list[float]:
    return [float(y) for y in _round_to(dtype, x)]


def _cases(dtype: Dtype, seed: int, *, steps: int = 4, n: int = 5, nonfinite: bool = False) -> list[Case]:
    """One case per convention of the contract (valid combinations of ``all_conventions()``)."""
    rng = np.random.default_rng(seed)
    out = []
    for conv in all_conventions():
        config = OptimizerConfig(conv, _hyper_for(conv, rng))
        params = _values(dtype, rng.normal(size=n) * 2)
        grads = rng.normal(size=(steps, n)) * rng.choice([1e-3, 1.0, 30.0])
        grads[rng.random(size=(steps, n)) < 0.15] = 0.0
        if nonfinite:
            grads[rng.integers(steps), rng.integers(n)] = rng.choice([np.inf, -np.inf, np.nan])
        rows = tuple(tuple(_values(dtype, row)) for row in grads)
        state = None
        if rng.random() < 0.3:  # a seeded state: part-way through a run
            k0 = int(rng.integers(1, 50))
            mv = np.abs(rng.normal(size=n)) * 0.1
            state = exact_state(k0, _values(Dtype.FLOAT32, rng.normal(size=n) * 0.1), _values(Dtype.FLOAT32, mv),
                                _values(Dtype.FLOAT32, mv * 1.5) if conv.amsgrad is AmsGrad.MAX_RAW_V else
                                _values(Dtype.FLOAT32, mv * 2) if conv.amsgrad is AmsGrad.MAX_V_HAT else None)
        out.append(Case(Run(config, tuple(params), rows, state), dtype))
    return out


def _assert_same_bits(got: np.ndarray, want: np.ndarray, label: str) -> None:
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), label
    a, b = got[~nan_got], want[~nan_want]
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64)), (label, got, want)


@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_host_build_is_bit_identical_to_the_documented_operation_sequence(dtype: Dtype) -> None:
    cases = _cases(dtype, seed=11 + list(Dtype).index(dtype)) + _cases(dtype, seed=99, nonfinite=True, steps=3)
    assert len({c.run.config.conventions for c in cases}) == len(all_conventions())
    observations = HostBuildImplementation().run_batch(cases)
    for case, observation in zip(cases, observations):
        assert observation.error is None
        _assert_same_bits(observation.params, numpy_trajectory(case), case.run.config.conventions.describe())


def test_fused_multi_tensor_and_batched_layouts_agree_bit_for_bit() -> None:
    checked = 0
    for dtype in Dtype:
        kind = kind_of(dtype)
        fresh = [c for c in _cases(dtype, seed=3, steps=3, n=7) if c.run.initial_state.step == 0]
        for case in fresh[::5]:  # the fused entry points below start from the zero state
            config = case.run.config
            flags = flags_for(config)
            batched = HostBuildImplementation().run(case).params
            sizes = [3, 0, 4]  # a zero-size tensor in the middle of the list
            p_fused = kind.to_storage(case.initial_params())
            parts = [p_fused[:3].copy(), p_fused[3:3].copy(), p_fused[3:].copy()]
            m, v, vm = (np.zeros(7, dtype=kind.compute) for _ in range(3))
            ms, vs, vms = ([np.zeros(s, kind.compute) for s in sizes] for _ in range(3))
            for k, g_row in enumerate(case.gradients()):
                g = kind.to_storage(g_row)
                scalars = step_scalars(config, k + 1)
                host_fused_step(dtype, flags, scalars, p_fused, g, m, v, vm)
                host_multi_tensor_step(dtype, flags, scalars, parts, [g[:3].copy(), g[3:3].copy(), g[3:].copy()], ms, vs, vms)
                _assert_same_bits(kind.from_storage(p_fused), batched[k], f"fused {dtype} {k}")
                _assert_same_bits(kind.from_storage(np.concatenate(parts)), batched[k], f"multi {dtype} {k}")
            checked += 1
    assert checked >= 4 * 30


# ---------------------------------------------------------------------------------------------------
# probes of shared/GUIDE.md section 1 (float64, betas 0.9/0.999)
def _one(conv: Conventions, hyper: dict[str, str], params: list[str], grads: list[list[str]]) -> np.ndarray:
    run = Run(OptimizerConfig(conv, Hyperparameters(**hyper)), tuple(params), tuple(tuple(r) for r in grads))
    observation = HostBuildImplementation().run(Case(run, Dtype.FLOAT64))
    assert observation.error is None
    return observation.params


ADAM = Conventions(Family.ADAM)


@pytest.mark.parametrize(("conv", "hyper", "printed"), [
    (ADAM, {"lr": "1", "eps": "1"}, "0.990099"),
    (ADAM.replace(eps_placement=EpsPlacement.EPSILON_HAT), {"lr": "1", "eps": "1"}, "0.999684"),
    (ADAM.replace(eps_placement=EpsPlacement.INSIDE_ROOT), {"lr": "1", "eps": "0", "eps_root": "1"}, "0.9900005"),
    (ADAM.replace(bias_correction=BiasCorrection.OFF), {"lr": "1", "eps": "1"}, "0.9990003"),
], ids=["after_root", "epsilon_hat", "inside_root", "no_bias_correction"])
def test_guide_eps_placement_probe(conv: Conventions, hyper: dict[str, str], printed: str) -> None:
    p = _one(conv, hyper, ["1"], [["0.01"]])[0, 0]
    digits = len(printed.split(".")[1])
    assert abs(Fraction(p) - Fraction(printed)) <= Fraction(1, 2 * 10**digits)


@pytest.mark.parametrize(("ams", "printed"), [(AmsGrad.MAX_RAW_V, "0.669723"), (AmsGrad.MAX_V_HAT, "0.473684")])
def test_guide_amsgrad_probe(ams: AmsGrad, printed: str) -> None:
    traj = _one(ADAM.replace(amsgrad=ams), {"lr": "1", "eps": "0"}, ["0"], [["1"], ["0"]])
    second_update = abs(Fraction(traj[1, 0]) - Fraction(traj[0, 0]))
    assert abs(second_update - Fraction(printed)) <= Fraction(1, 2 * 10**6)


@pytest.mark.parametrize(("wd", "printed", "half_width"), [
    (WeightDecay.DECOUPLED_LR, "1.998", "0.0005"), (WeightDecay.DECOUPLED_UNSCALED, "1.98", "0.005"),
    (WeightDecay.COUPLED_L2, "1.9", "0.05"),  # "about 1.9": the L2 step is lr * sign(g) = 0.1
])
def test_guide_decay_scaling_probe(wd: WeightDecay, printed: str, half_width: str) -> None:
    p = _one(ADAM.replace(weight_decay=wd), {"lr": "0.1", "weight_decay": "0.01"}, ["2"], [["0"]])[0, 0]
    assert abs(Fraction(p) - Fraction(printed)) <= Fraction(half_width)


@pytest.mark.parametrize(("target", "printed"), [(DecayTarget.PREVIOUS_PARAM, "0"), (DecayTarget.UPDATED_PARAM, "0.5")])
def test_guide_decay_order_probe(target: DecayTarget, printed: str) -> None:
    conv = ADAM.replace(weight_decay=WeightDecay.DECOUPLED_LR, decay_target=target)
    p = _one(conv, {"lr": "1", "weight_decay": "0.5", "eps": "1e-12"}, ["2"], [["1"]])[0, 0]
    assert abs(Fraction(p) - Fraction(printed)) <= Fraction(1, 10**9)  # "eps ~ 0": eps = 1e-12 moves p by ~1e-12


# ---------------------------------------------------------------------------------------------------
# against the certified reference, through the error model
@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_host_build_is_within_the_error_model_for_every_convention(dtype: Dtype) -> None:
    precision = PrecisionModel.mixed(dtype)  # float32 arithmetic and state for half parameters
    cases = _cases(dtype, seed=21 + list(Dtype).index(dtype), steps=3, n=3)
    observations = HostBuildImplementation().run_batch(cases)
    judged = 0
    for case, observation in zip(cases, observations):
        verdict = judge(case, observation, precision=precision)
        assert verdict.passed, verdict.describe()
        judged += verdict.counts["within"]
    assert judged > 0.8 * sum(c.run.steps * c.run.size for c in cases)  # most points are judgeable


def test_non_finite_gradients_give_what_the_reference_gives() -> None:
    conv = Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR, amsgrad=AmsGrad.MAX_RAW_V)
    config = OptimizerConfig(conv, Hyperparameters(lr="0.01", weight_decay="0.1"))
    grads = ((1.0, math.inf, math.nan, 0.5), (2.0, 1.0, 1.0, -math.inf), (0.0, 0.0, 0.0, 0.0))
    run = Run(config, ("1", "1", "1", "-2"), grads)
    reference = run_trajectory(run).as_fractions("p_new")
    observed = HostBuildImplementation().run(Case(run, Dtype.FLOAT64)).params
    for k, row in enumerate(reference):
        for i, exact in enumerate(row):
            if isinstance(exact, float):  # non-finite in the reference
                assert (math.isnan(exact) and math.isnan(observed[k, i])) or exact == observed[k, i], (k, i)
            else:
                assert math.isfinite(observed[k, i]), (k, i)


def test_empty_and_zero_step_cases() -> None:
    config = OptimizerConfig(ADAM, Hyperparameters())
    empty = HostBuildImplementation().run(Case(Run(config, (), ((),) * 2), Dtype.FLOAT32))
    assert empty.error is None and empty.params.shape == (2, 0)


# ---------------------------------------------------------------------------------------------------
# the compiled-library cache
def test_concurrent_first_compiles_leave_one_complete_library(tmp_path: Path) -> None:
    env = {**os.environ, "ADAMW_ORACLE_CACHE_DIR": str(tmp_path)}
    code = "from adamw_oracle.gpu.hostbuild import load_library; print(load_library().ao_host_flt_eval_method())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["0", "0"]
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["libao_host.so"]


def test_subnormals_survive_a_flush_to_zero_mode_set_by_another_library() -> None:
    # SGD, lr=1: p_new = p - g = 1.5*2^-126 - 2^-126 = 2^-127, a float32 subnormal that the device keeps
    # (--ftz=false); a library built with -ffast-math sets FTZ/DAZ in the process, which would flush it.
    config = OptimizerConfig(Conventions(Family.SGD), Hyperparameters(lr="1"))
    flags, scalars = flags_for(config), step_scalars(config, 1)
    tiny = np.float32(2.0**-126)

    def step() -> np.ndarray:
        p, g = np.array([tiny * np.float32(1.5)], np.float32), np.array([tiny], np.float32)
        host_fused_step(Dtype.FLOAT32, flags, scalars, p, g, np.zeros(1, np.float32))
        return p

    assert step()[0] == np.float32(2.0**-127)
    lib = load_library()
    lib.ao_host_test_set_ftz_daz(1)
    try:
        flushed_here = np.float32(1.5) * tiny - tiny  # this thread now flushes (FTZ) ...
        stepped = step()  # ... but the host build pins IEEE mode for its own work
    finally:
        lib.ao_host_test_set_ftz_daz(0)
    assert flushed_here == 0.0, "the test hook did not set flush-to-zero"
    assert stepped[0] == np.float32(2.0**-127)


def test_host_build_on_the_shared_fuzz_strategies() -> None:
    """The verification layer's public strategies (its domain policy: magnitudes near eps, seeded
    states, schedules) drive the host build; each case must be bit-identical to the documented
    sequence and within the error model."""
    @hypothesis.given(strategies.cases(long_runs=False, max_steps=6, max_size=6))
    def check(case: Case) -> None:
        observation = HostBuildImplementation().run(case)
        assert observation.error is None
        _assert_same_bits(observation.params, numpy_trajectory(case), case.run.config.conventions.describe())
        verdict = judge(case, observation, precision=PrecisionModel.mixed(case.dtype))
        assert verdict.passed, verdict.describe()

    check()


def test_a_missing_compiler_becomes_an_observation_error_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "ADAMW_ORACLE_CACHE_DIR": str(tmp_path), "CXX": "no-such-compiler-xyz"}
    code = (
        "from adamw_oracle import preset, Run, Dtype\n"
        "from adamw_oracle.contract.case import Case\n"
        "from adamw_oracle.gpu import HostBuildImplementation\n"
        "run = Run(preset('torch.AdamW'), ('0.5',), (('0.25',),))\n"
        "print(HostBuildImplementation().run(Case(run, Dtype.FLOAT32)).error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "NoCompilerError" in done.stdout and "no-such-compiler-xyz" in done.stdout  # a HostBuildError


@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
@pytest.mark.parametrize("conv", [Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR),  # the vectorised fast path
                                  Conventions(Family.ADAM, WeightDecay.COUPLED_L2, amsgrad=AmsGrad.MAX_RAW_V)],
                         ids=["adamw-fast-path", "adam-l2-amsgrad"])
def test_threaded_vectorised_loop_equals_the_serial_batched_loop(dtype: Dtype, conv: Conventions) -> None:
    # above the OpenMP threshold (32768 elements) the fused loop is split across threads and, for plain
    # AdamW, vectorised; the batched entry point is a plain serial loop over the same element function
    n = 100_003
    kind = kind_of(dtype)
    config = OptimizerConfig(conv, Hyperparameters(lr="0.01", weight_decay="0.1"))
    rng = np.random.default_rng(17)
    p0 = kind.to_storage(_round_to(dtype, rng.normal(size=n)))
    grads = kind.to_storage(_round_to(dtype, rng.normal(size=(2, n)) * 0.1))
    zeros = lambda: np.zeros(n, kind.compute)  # noqa: E731
    m, v, vmax = zeros(), zeros(), zeros()
    serial = host_batched_cases(dtype, np.zeros(n, np.int32), np.array([flags_for(config)], np.int32),
                                scalar_table(config, 1, 2)[None], p0, grads, m, v, vmax)
    p, m2, v2 = p0.copy(), zeros(), zeros()
    vmax2 = zeros() if conv.amsgrad is not AmsGrad.OFF else None
    for k in range(2):
        host_fused_step(dtype, flags_for(config), step_scalars(config, k + 1), p, grads[k].copy(), m2, v2, vmax2)
        _assert_same_bits(kind.from_storage(p), kind.from_storage(serial[k]), f"step {k + 1}")
    _assert_same_bits(m2.astype(np.float64), m.astype(np.float64), "m")
    _assert_same_bits(v2.astype(np.float64), v.astype(np.float64), "v")


def _bf16_case(lr: str, n: int = 64, steps: int = 8, seed: int = 1) -> Case:
    rng = np.random.default_rng(seed)
    params = tuple(_values(Dtype.BFLOAT16, rng.normal(size=n)))
    grads = tuple(tuple(_values(Dtype.BFLOAT16, row)) for row in rng.normal(size=(steps, n)))
    return Case(Run(preset("torch.AdamW", lr=lr, weight_decay="0.01"), params, grads), Dtype.BFLOAT16)


def test_stochastic_rounding_of_bfloat16_parameters_passes_the_frequency_test() -> None:
    """The kernels' stochastic rounding (ROUNDING flag, hashed bits) stores a neighbour of every step's
    float32 result and rounds away from zero as often as the fractional positions say; round to
    nearest on the same case fails the same test, and dtypes other than bfloat16 are unaffected."""
    case = _bf16_case("0.01")
    stochastic = HostBuildImplementation(rounding="stochastic")
    observed = stochastic.run(case)
    verdict = judge_stochastic_rounding(case, observed)
    assert verdict.passed and verdict.counted > 400, verdict.describe()
    nearest = HostBuildImplementation().run(case)
    assert not np.array_equal(observed.params, nearest.params)
    assert not judge_stochastic_rounding(case, nearest).passed
    assert judge(case, observed, precision=stochastic.precision_model(case.dtype)).passed
    f32 = Case(case.run, Dtype.FLOAT32)
    assert np.array_equal(stochastic.run(f32).params, HostBuildImplementation().run(f32).params)


def test_multi_tensor_stochastic_rounding_draws_independent_bits_per_tensor() -> None:
    """Equal bfloat16 tensors in one multi-tensor launch are rounded with different random bits (the
    hash takes the tensor index as its stream): element i of tensor 1 and 2 rounds the other way from
    tensor 0's element i as often as independent roundings do (sum of 2 f (1 - f) over the fractional
    positions f of the float32 results), each stored value is a neighbour of its float32 result, and
    tensor 0 (stream 0) is bit-identical to the single-array fused step."""
    n, copies = 4096, 3
    rng = np.random.default_rng(5)
    config = preset("torch.AdamW", lr="0.01", weight_decay="0.01")
    kind, wide = kind_of(Dtype.BFLOAT16), kind_of(Dtype.FLOAT32)
    p0, g0 = (np.array(_values(Dtype.BFLOAT16, rng.normal(size=n)), dtype=np.float64) for _ in range(2))
    stochastic = flags_for(config, rounding=ParamRounding.STOCHASTIC)
    scalars = step_scalars(config, 1)
    # the float32 results before rounding: the same arithmetic with float32 storage (bfloat16 inputs are exact)
    x = wide.to_storage(p0)
    host_fused_step(Dtype.FLOAT32, flags_for(config), scalars, x, wide.to_storage(g0), *(np.zeros(n, np.float32) for _ in range(2)), None)
    single = kind.to_storage(p0)
    host_fused_step(Dtype.BFLOAT16, stochastic, scalars, single, kind.to_storage(g0), *(np.zeros(n, np.float32) for _ in range(2)), None)
    parts = [kind.to_storage(p0) for _ in range(copies)]
    host_multi_tensor_step(Dtype.BFLOAT16, stochastic, scalars, parts, [kind.to_storage(g0) for _ in range(copies)],
                           [np.zeros(n, np.float32) for _ in range(copies)], [np.zeros(n, np.float32) for _ in range(copies)])
    assert np.array_equal(parts[0], single)
    exact = x.astype(np.float64)
    fmt = Dtype.BFLOAT16.format
    low = np.array([float(round_down(Fraction(float(v)), fmt)) for v in exact])
    high = np.array([float(round_up(Fraction(float(v)), fmt)) for v in exact])
    f = np.where(high > low, (exact - low) / np.where(high > low, high - low, 1.0), 0.0)
    values = [kind.from_storage(a) for a in parts]
    for got in values:
        assert np.all((got == low) | (got == high))
    expected = float(np.sum(2 * f * (1 - f)))
    sd = math.sqrt(float(np.sum(2 * f * (1 - f) * (1 - 2 * f * (1 - f)))))
    assert expected > 500  # enough undecided elements for the comparison to mean something
    for other in values[1:]:
        differ = int(np.sum(other != values[0]))
        assert abs(differ - expected) <= 6 * sd, (differ, expected, sd)


@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_kahan_summation_passes_the_compensated_bound_for_every_convention(dtype: Dtype) -> None:
    """The batched kernel's Kahan path: params + compensation within the bound of verify/kahan.py for
    every convention, and on a long bfloat16 run far closer to the exact parameters than plain storage."""
    kahan = HostBuildImplementation(summation="kahan")
    model = kahan.precision_model(dtype)
    cases = _cases(dtype, seed=21)
    for case, observation in zip(cases, kahan.run_batch(cases)):
        assert observation.compensation is not None and observation.compensation.shape == observation.params.shape
        verdict = judge(case, observation, precision=model)
        assert verdict.passed, (case.run.config.conventions.describe(), verdict.describe())
    if dtype is Dtype.BFLOAT16:
        case = _bf16_case("0.001", n=16, steps=200)
        exact = np.array([float(mpf_to_fraction(e.p_new)) for e in run_trajectory(case.run).steps[-1]])
        observed = kahan.run(case)
        assert observed.compensation is not None
        kahan_error = np.abs(observed.params[-1] + observed.compensation[-1] - exact).max()
        plain_error = np.abs(HostBuildImplementation().run(case).params[-1] - exact).max()
        assert kahan_error * 20 < plain_error, (kahan_error, plain_error)
        assert judge(case, observed, precision=model).passed
