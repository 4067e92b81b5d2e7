"""The vectorized judge against the mpmath judge of record, and its use in ``check``.

The mpmath path (``verify.error_model.bounded_trajectory`` + ``verify.judge.judge``) is the reference
of record. For random cases of every convention and dtype (the public strategies) the two must give:

* reference values within the vectorized path's own reference-error bound r of the exact values;
* implementation bounds e with ``1 <= e_vectorized / e_mpmath <= BOUND_FACTOR`` (the vectorized bound
  is never smaller: it replaces exact magnitudes by upper bounds);
* identical verdicts (pass/fail, within / outside / ill-conditioned counts and reasons, first failing
  step and element) for correct implementations (numpy_impl) and broken ones (mutations).

Both vectorized paths are held to this: the array path (``fused=False``, numpy here, CuPy on a GPU)
and the fused numba kernel (``fused=True``, the default for numpy), which must moreover reproduce the
array path bit for bit (values, reference errors, bounds, flags, judgements).
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adamw_oracle.check.expected import expected_convention
from adamw_oracle.check.runner import check_target
from adamw_oracle.check.tensor_cases import default_config, tensor_case
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.presets import preset
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import exact_state
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify import double_double as dd
from adamw_oracle.verify.error_model import bounded_trajectory
from adamw_oracle.verify.judge import judge
from adamw_oracle.verify.layers import natural_precision
from adamw_oracle.verify.mutations import MUTATIONS
from adamw_oracle.verify.numpy_impl import NumpyImplementation, correct_implementations
from adamw_oracle.verify.strategies import cases
from adamw_oracle.verify.vectorized import CHUNK, bounded_steps, judge_vectorized

BOUND_FACTOR = 1 + 2.0**-30
"""The stated factor: the vectorized bound exceeds the mpmath bound by at most 2**-30 relative
(measured: below 1e-12; each operation inflates its magnitudes by 2**-49)."""

CORRECT = correct_implementations()


def _exact(p, i: int) -> Fraction:
    return Fraction(float(p.hi[i])) + (Fraction(float(p.lo[i])) if p.lo is not None else 0)


def assert_agree(case: Case, implementations) -> None:
    """Both judges agree on ``case`` for every implementation (see the module docstring), on both
    vectorized paths."""
    for impl in implementations:
        precision = natural_precision(impl, case)
        observation = impl.run(case)
        record = judge(case, observation, precision=precision)
        array = judge_vectorized(case, observation, precision, fused=False)
        fused = judge_vectorized(case, observation, precision, fused=True)
        assert same(fused, array), f"{impl.name}:\n{array.describe()}\n{fused.describe()}"
        for fast in (array, fused):
            assert (fast.passed, fast.counts, fast.ill_reasons) == (record.passed, record.counts, record.ill_reasons), \
                f"{impl.name}:\n{record.describe()}\n{fast.describe()}"
            if record.first_failure is not None:
                assert fast.first_failure is not None
                assert (fast.first_failure.step, fast.first_failure.element) == \
                    (record.first_failure.step, record.first_failure.element)
            if math.isfinite(record.max_fraction_of_bound):
                # the vectorized distance is taken from its reference value y, within r of the exact value
                # (r is ~2**-97 relative in double-double, ~2**-52 where a product or quotient near the
                # float64 range fell back to float64): so the fractions agree to within r / allowed
                slop = _reference_slop(case, precision, fast.slack)
                assert abs(fast.max_fraction_of_bound - record.max_fraction_of_bound) <= \
                    slop * (1 + 2.0**-40) + 1e-6 * record.max_fraction_of_bound + 1e-300, (record.describe(), slop)
    bounds = bounded_trajectory(case, precision)
    array_steps = list(bounded_steps(case, precision, fused=False))
    fused_steps = list(bounded_steps(case, precision, fused=True))
    for p, q in zip(array_steps, fused_steps):
        assert_same_numbers(p, q)
    for k, p in enumerate(fused_steps):
        for i in range(case.run.size):
            bv = bounds.params[k][i]
            assert bool(bv.flags) == bool(p.flags[i]), (k, i)
            if bv.flags:
                continue
            assert abs(_exact(p, i) - bv.exact) <= Fraction(float(p.r[i])), (k, i)
            e = float(p.e[i])
            if bv.bound == 0:
                assert e == 0, (k, i)
            else:
                assert 1 <= e / bv.bound <= BOUND_FACTOR, (k, i, e, bv.bound)


def _reference_slop(case: Case, precision, slack: float) -> float:
    """The largest r / (slack e) over the element-steps the vectorized judge judges (its reference
    error relative to the allowance)."""
    worst = 0.0
    for p in bounded_steps(case, precision, fused=False):
        with np.errstate(all="ignore"):
            ratio = np.asarray(p.r) / (slack * np.asarray(p.e))
        judged = (np.asarray(p.flags) == 0) & np.isfinite(ratio)
        if judged.any():
            worst = max(worst, float(ratio[judged].max()))
    return worst


def same(a, b) -> bool:
    """Equal judgements, a NaN (observed value) equal to a NaN."""
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def assert_same_numbers(p, q) -> None:
    """Two array numbers hold the same values, reference errors, bounds and element flags, bit for bit."""
    for name in ("hi", "lo", "r", "e"):
        a, b = getattr(p, name), getattr(q, name)
        if a is None:
            assert b is None, name
            continue
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    np.testing.assert_array_equal(np.broadcast_to(np.asarray(p.flags), p.hi.shape), q.flags)


def applicable_mutations(case: Case) -> list[NumpyImplementation]:
    return [m for m in MUTATIONS if m.applies(case.run.config.conventions)]


@settings(max_examples=30)
@given(cases(max_size=9, max_steps=5, long_runs=False), st.data())
def test_vectorized_and_mpmath_judges_agree(case: Case, data: st.DataObject) -> None:
    correct = data.draw(st.sampled_from(CORRECT))
    broken = applicable_mutations(case)
    chosen = [correct] + ([data.draw(st.sampled_from(broken))] if broken else [])
    assert_agree(case, chosen)


@pytest.mark.thorough
@settings(max_examples=3000)
@given(cases(max_size=17, max_steps=12), st.data())
def test_vectorized_and_mpmath_judges_agree_thorough(case: Case, data: st.DataObject) -> None:
    assert_agree(case, [data.draw(st.sampled_from(CORRECT))] + applicable_mutations(case))


def test_both_judges_see_the_mutations_fail_and_the_correct_orders_pass() -> None:
    """A fixed case on which every mutation that applies is caught by both judges (not vacuous)."""
    config = preset("torch.AdamW", lr="0.01")
    grads = [[0.5, -0.25, 2.0, 1e-3], [0.125, 0.75, -1.5, 3.0], [1.0, -2.0, 0.5, 0.25]]
    for dtype in Dtype:
        case = Case(Run(config, (1.0, -0.5, 0.25, 2.0), grads), dtype)
        verdicts = {impl.name: judge_vectorized(case, impl.run(case), natural_precision(impl, case)).passed
                    for impl in CORRECT}
        assert all(verdicts.values()), verdicts
        assert_agree(case, CORRECT[:2] + applicable_mutations(case))


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_inputs_that_are_no_float64_values_and_non_finite_gradients(dtype: str) -> None:
    """A seeded state of decimals (0.1 is no binary value) and a NaN gradient: both judges agree."""
    config = preset("torch.Adam", lr="0.001")
    state = exact_state(3, ["0.1", "-0.3", "0"], ["0.01", "0.2", "0"])
    case = Case(Run(config, (0.5, -1.0, 2.0), [[0.25, float("nan"), 1.0], [0.5, 1.0, -1.0]], state), Dtype(dtype))
    obs = CORRECT[0].run(case)
    record, fast = judge(case, obs), judge_vectorized(case, obs)
    assert (fast.counts, fast.ill_reasons) == (record.counts, record.ill_reasons)
    assert fast.counts["ill_conditioned"] == 2 and fast.ill_reasons == {"non-finite input": 2}
    assert_agree(case, CORRECT[:1])


def test_double_double_operations_meet_their_charged_error() -> None:
    """dd add/mul/div/sqrt on random operands over many binades, against exact rationals."""
    rng = np.random.default_rng(7)
    count = 400
    scale = 2.0 ** rng.integers(-60, 60, (4, count)).astype(np.float64)
    ah, bh = rng.standard_normal(count) * scale[0], rng.standard_normal(count) * scale[1]
    al, bl = ah * rng.uniform(-2**-53, 2**-53, count), bh * rng.uniform(-2**-53, 2**-53, count)
    a = [Fraction(x) + Fraction(y) for x, y in zip(ah, al)]
    b = [Fraction(x) + Fraction(y) for x, y in zip(bh, bl)]

    def check(hi, lo, exact, fallback=None) -> None:
        for i, z in enumerate(exact):
            if fallback is not None and fallback[i]:
                continue
            assert abs(Fraction(hi[i]) + Fraction(lo[i]) - z) <= Fraction(dd.DD_RELATIVE) * abs(z), i

    check(*dd.dd_add(ah, al, bh, bl), [x + y for x, y in zip(a, b)])
    hi, lo, fb = dd.dd_mul(np, ah, al, bh, bl)
    check(hi, lo, [x * y for x, y in zip(a, b)], fb)
    hi, lo, fb = dd.dd_div(np, ah, al, bh, bl)
    check(hi, lo, [x / y for x, y in zip(a, b)], fb)
    radicand_hi, radicand_lo = np.abs(ah), np.sign(ah) * al
    hi, lo, fb = dd.dd_sqrt(np, radicand_hi, radicand_lo)
    ctx = mpmath.MPContext()
    ctx.prec = 400
    for i in range(count):
        exact = ctx.sqrt(ctx.mpf(radicand_hi[i]) + ctx.mpf(radicand_lo[i]))
        assert not fb[i]
        assert abs(ctx.mpf(hi[i]) + ctx.mpf(lo[i]) - exact) <= dd.DD_RELATIVE * exact


def test_array_mode_run_judges_like_the_tuple_run() -> None:
    config = preset("torch.AdamW", lr="0.001")
    tensor = tensor_case(config, "float32", 40, 3, seed=2)
    tuples = Case(Run(config, tuple(map(float, tensor.run.initial_params)),
                      [tuple(map(float, row)) for row in tensor.run.gradients]), tensor.dtype)
    obs = CORRECT[0].run(tensor)
    np.testing.assert_array_equal(obs.params, CORRECT[0].run(tuples).params)
    fast = judge_vectorized(tensor, obs)
    assert fast == judge_vectorized(tuples, obs)
    assert judge(tensor, obs) == judge(tuples, obs)  # the mpmath judge reads array-mode runs too
    record = judge(tuples, obs)
    assert (fast.passed, fast.counts) == (record.passed, record.counts)
    assert fast.max_fraction_of_bound == pytest.approx(record.max_fraction_of_bound, rel=1e-9)


def test_first_failure_across_chunks_is_the_first_step_then_the_first_element() -> None:
    config = preset("torch.AdamW", lr="0.001")
    n = 2 * CHUNK + 100
    case = tensor_case(config, "float32", n, 4, seed=3)
    params = CORRECT[0].run(case).params.copy()
    assert judge_vectorized(case, Observation(params)).passed
    for k, i in ((3, 2 * CHUNK + 7), (2, CHUNK + 5), (2, 2 * CHUNK + 1)):
        params[k, i] = np.nextafter(np.float32(params[k, i]), np.float32(np.inf)) * 1.001
    verdict = judge_vectorized(case, Observation(params))
    assert not verdict.passed and verdict.counts["outside"] == 3
    assert verdict.first_failure is not None
    assert (verdict.first_failure.step, verdict.first_failure.element) == (3, CHUNK + 5)


def test_check_target_judges_an_explicit_tensor_case() -> None:
    expected = expected_convention("torch.AdamW")
    case = tensor_case(default_config(expected), "float32", 30_000, 3, seed=1)
    report = check_target("torch.AdamW", cases=[case])
    assert report.passed, report.describe()
    assert report.cases_run == 1 and report.counts["within"] == 90_000
    broken = check_target(MUTATIONS[1], expect="torch.AdamW", cases=[case])
    assert not broken.passed and broken.counterexample is not None
    assert broken.counterexample.case is case


def test_check_target_mpmath_engine_gives_the_same_report() -> None:
    fast = check_target("torch.AdamW", examples=4, seed=5)
    record = check_target("torch.AdamW", examples=4, seed=5, judge_engine="mpmath")
    assert (fast.passed, fast.counts, fast.cases_run) == (record.passed, record.counts, record.cases_run)


@pytest.mark.parametrize("kwargs, argument", [({"judge_engine": "arb"}, "judge_engine"), ({"cases": []}, "cases"),
                                              ({"cases": ["not a case"]}, "cases")])
def test_check_target_rejects_bad_judge_options(kwargs, argument) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        check_target("torch.AdamW", **kwargs)


def test_array_mode_run_rejects_bad_shapes() -> None:
    config = preset("torch.Adam")
    with pytest.raises(InvalidArgumentError, match="gradients"):
        Run(config, np.zeros(3), np.zeros((2, 4)))
    with pytest.raises(InvalidArgumentError, match="initial_params"):
        Run(config, np.array([1.0, np.inf]), np.zeros((1, 2)))


@pytest.mark.gpu
def test_cupy_path_gives_the_numpy_verdicts() -> None:
    import cupy

    config = preset("torch.AdamW", lr="0.001")
    for dtype in ("float32", "float64"):
        case = tensor_case(config, dtype, 50_000, 4, seed=4)
        obs = CORRECT[0].run(case)
        assert judge_vectorized(case, obs, xp=cupy) == judge_vectorized(case, obs)
        broken = MUTATIONS[1].run(case)
        assert judge_vectorized(case, broken, xp=cupy) == judge_vectorized(case, broken)


def test_a_failure_too_many_ulps_away_for_a_float_reports_inf_ulps() -> None:
    """exact 0 (ULP: the smallest subnormal) against an observation of 1.0: 2**1074 ULPs, beyond float."""
    config = preset("torch.Adam", lr="0")
    case = Case(Run(config, (0.0, 0.0), [[0.0, 0.0]]), Dtype.FLOAT64)
    observation = Observation(np.array([[0.0, 1.0]]))
    verdicts = [judge(case, observation), judge_vectorized(case, observation, fused=False),
                judge_vectorized(case, observation, fused=True)]
    for verdict in verdicts:
        assert not verdict.passed and verdict.first_failure is not None
        assert verdict.first_failure.element == 1 and verdict.first_failure.ulps == math.inf


def test_a_declared_counter_is_judged_alike_by_every_path() -> None:
    """``Run.counter`` (the step numbers an implementation computes with, torch's stalled float32
    counter) reaches the mpmath judge, both vectorized paths and the reference: one step with
    counter (T,) is the step from state T - 1, and a counter stuck at T over five steps is judged
    alike by all three (the correct implementations honour it; the mutations are still caught)."""
    config = preset("torch.AdamW", lr="0.001", beta1="0.5", beta2="0.999999", eps="0.001")
    m0, v0 = (0.625, -0.25, 1e-3), (0.375, 0.0625, 1e-6)
    grads = [[5e-4, -0.125, 2.0], [1e-3, 0.25, -1.0], [0.5, -2e-3, 0.125], [0.25, 1.0, 3e-4], [-0.5, 0.0, 1.0]]
    T = 2**24
    one = Case(Run(config, (0.0, 1.0, -0.5), grads[:1], exact_state(T, m0, v0), counter=(T,)), Dtype.FLOAT64)
    shifted = Case(Run(config, (0.0, 1.0, -0.5), grads[:1], exact_state(T - 1, m0, v0)), Dtype.FLOAT64)
    a, b = bounded_trajectory(one), bounded_trajectory(shifted)
    assert [x.exact for x in a.params[0]] == [x.exact for x in b.params[0]]
    assert [x.exact for x in a.params[0]] != [x.exact for x in bounded_trajectory(
        Case(Run(config, (0.0, 1.0, -0.5), grads[:1], exact_state(T, m0, v0)), Dtype.FLOAT64)).params[0]]
    stuck = Case(Run(config, (0.0, 1.0, -0.5), grads, exact_state(T, m0, v0), counter=(T,) * 5), Dtype.FLOAT64)
    assert Run.from_dict(stuck.run.as_dict()).counter == (T,) * 5
    assert_agree(stuck, CORRECT[:2] + applicable_mutations(stuck))
    counted = Case(stuck.run.replace(counter=None), Dtype.FLOAT64)
    assert not judge_vectorized(counted, CORRECT[0].run(stuck)).passed  # the counter matters here
    with pytest.raises(InvalidArgumentError, match="counter"):
        Run(config, (0.0,), [[1.0]], counter=(0,))
