"""The Kahan-summation judge on arrays (verify/kahan_vectorized.py) gives the mpmath Kahan judge's
verdicts (verify/kahan.py, the judge of record): on the kernels' host build in its Kahan form, on the
same observations with the compensation dropped, and on real torch-optimi; judge_vectorized and the
per-step judge take it for the Kahan models."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from adamw_oracle import Run, preset
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.gpu import HostBuildImplementation
from adamw_oracle.verify.judge import judge, judge_compensated
from adamw_oracle.verify.resync import judge_resynced
from adamw_oracle.verify.vectorized import judge_kahan_arrays, judge_vectorized

sys.path.insert(0, str(Path(__file__).parent))
from test_gpu_host import _cases  # noqa: E402  (one case per convention of the contract)

KAHAN = HostBuildImplementation(summation="kahan")


def _same(a, b) -> bool:  # noqa: ANN001
    return (a.passed, a.counts, a.ill_reasons, a.error) == (b.passed, b.counts, b.ill_reasons, b.error) and \
        (a.first_failure is None) == (b.first_failure is None) and \
        (a.first_failure is None or (a.first_failure.step, a.first_failure.element) ==
         (b.first_failure.step, b.first_failure.element))


def _agree(cases: list[Case], dtype: Dtype) -> int:
    model = KAHAN.precision_model(dtype)
    outside = 0
    for case, observation in zip(cases, KAHAN.run_batch(cases)):
        dropped = dataclasses.replace(observation, compensation=np.zeros_like(observation.compensation))
        for obs in (observation, dropped):
            record, fast = judge_compensated(case, obs, model, 2.0), judge_kahan_arrays(case, obs, model, 2.0)
            assert _same(record, fast), (case.run.config.conventions.describe(), record.describe(), fast.describe())
            outside += record.counts["outside"]
    return outside


@pytest.mark.parametrize("dtype", [Dtype.BFLOAT16, Dtype.FLOAT64], ids=lambda d: d.value)
def test_kahan_array_judge_agrees_with_the_mpmath_judge(dtype: Dtype) -> None:
    """Every fourth convention (float64: a bound near 2**-100 |p| that the reference cannot resolve goes
    to the exact judge); a dropped compensation is caught by both, identically."""
    cases = _cases(dtype, seed=21)[::4] + _cases(dtype, seed=5, nonfinite=True, steps=3)[::8]
    assert _agree(cases, dtype) > 0


@pytest.mark.thorough
@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_kahan_array_judge_agrees_on_every_convention(dtype: Dtype) -> None:
    _agree(_cases(dtype, seed=21) + _cases(dtype, seed=5, nonfinite=True, steps=3), dtype)


def test_judge_vectorized_and_per_step_take_the_array_kahan_judge() -> None:
    """A tensor-sized bfloat16 case: judge_vectorized (check's judge) and judge_resynced give the exact
    judge's verdict for the Kahan model, and so does a mutated compensation (sign flipped)."""
    rng = np.random.default_rng(3)
    n = 1024
    p = rng.normal(size=n).astype(ml_dtypes.bfloat16).astype(np.float64)
    g = rng.normal(size=(4, n)).astype(ml_dtypes.bfloat16).astype(np.float64)
    case = Case(Run(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), p, g), Dtype.BFLOAT16)
    model = KAHAN.precision_model(case.dtype)
    observation = KAHAN.run(case)
    flipped = Observation(observation.params, compensation=-observation.compensation)
    for obs, passes in ((observation, True), (flipped, False)):
        record = judge(case, obs, precision=model)
        assert record.passed is passes
        assert _same(record, judge_vectorized(case, obs, precision=model))
        assert _same(record, judge_resynced(case, obs, precision=model))


def test_kahan_and_stochastic_judges_follow_a_schedule() -> None:
    """A per-step schedule (Run.schedule, lr times 1, 0.25, 0, 2): the Kahan judges and the stochastic
    rounding judge take each step's configuration (Run.config_at), as the kernels do."""
    from adamw_oracle.verify.stochastic import judge_stochastic_rounding

    rng = np.random.default_rng(8)
    n, steps = 64, 4
    p = rng.normal(size=n).astype(ml_dtypes.bfloat16).astype(np.float64)
    g = rng.normal(size=(steps, n)).astype(ml_dtypes.bfloat16).astype(np.float64)
    case = Case(Run(preset("torch.AdamW", lr="0.01", weight_decay="0.1"), tuple(float(x) for x in p),
                    tuple(tuple(float(x) for x in row) for row in g), schedule=("1", "0.25", "0", "2")), Dtype.BFLOAT16)
    observation = KAHAN.run(case)
    model = KAHAN.precision_model(case.dtype)
    assert judge(case, observation, precision=model).passed
    assert judge_kahan_arrays(case, observation, model, 2.0).passed
    stochastic = HostBuildImplementation(rounding="stochastic")
    assert judge_stochastic_rounding(case, stochastic.run(case)).hard_failures == 0
