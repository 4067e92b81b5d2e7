"""A judgement with nothing judged says so: INCONCLUSIVE, never PASS, in every judge.

A run of 0 elements (check draws empty tensors rarely, on purpose) or one whose every element-step is
set aside used to read "PASS: 0 within bound, 0 outside"; ``check`` already called such a run
INCONCLUSIVE. ``passed`` keeps its meaning (no failure found: an empty tensor is no finding, so check's
empty cases are unchanged), and ``verdict``/``describe()`` say INCONCLUSIVE.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from adamw_oracle.check.runner import check_target
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.presets import preset
from adamw_oracle.contract.run import Run
from adamw_oracle.verify.judge import judge
from adamw_oracle.verify.numpy_impl import NumpyImplementation, NumpyVariant
from adamw_oracle.verify.resync import judge_resynced
from adamw_oracle.verify.stochastic import judge_stochastic_rounding
from adamw_oracle.verify.vectorized import judge_kahan_arrays, judge_vectorized


def empty_case(dtype: str = "float32", steps: int = 3) -> Case:
    return Case(Run(preset("torch.Adam", lr="0.001"), (), [()] * steps), dtype)


def one_element_case(dtype: str = "float32") -> Case:
    return Case(Run(preset("torch.Adam", lr="0.001"), (Fraction(1, 2),), [(Fraction(1, 4),)] * 3), dtype)


def exposing() -> NumpyImplementation:
    impl = NumpyImplementation()
    impl.exposes_state = True  # its state after every step, for the per-step judge
    return impl


JUDGES: dict[str, Callable[[Case], Any]] = {
    "mpmath": lambda case: judge(case, NumpyImplementation().run(case)),
    "array": lambda case: judge_vectorized(case, NumpyImplementation().run(case), fused=False),
    "fused": lambda case: judge_vectorized(case, NumpyImplementation().run(case), fused=True),
    "per-step": lambda case: judge_resynced(case, exposing().run(case), fused=False),
    "per-step fused": lambda case: judge_resynced(case, exposing().run(case), fused=True),
    "kahan": lambda case: judge(case, NumpyImplementation(NumpyVariant(kahan=True)).run(case),
                                precision=PrecisionModel.kahan(case.dtype)),
    "kahan arrays": lambda case: judge_kahan_arrays(case, NumpyImplementation(NumpyVariant(kahan=True)).run(case),
                                                    PrecisionModel.kahan(case.dtype)),
    "stochastic": lambda case: judge_stochastic_rounding(
        case, NumpyImplementation(NumpyVariant(param_rounding="stochastic")).run(case),
        PrecisionModel.stochastic(case.dtype)),
}


@pytest.mark.parametrize("name", sorted(JUDGES))
def test_an_empty_run_is_inconclusive_in_every_judge(name: str) -> None:
    verdict = JUDGES[name](empty_case("bfloat16" if name == "stochastic" else "float32"))
    assert verdict.passed and verdict.inconclusive and verdict.verdict == "INCONCLUSIVE", verdict.describe()
    assert verdict.describe().startswith("INCONCLUSIVE (nothing judged)"), verdict.describe()
    assert "PASS" not in verdict.describe().splitlines()[0]
    # one element judged: a PASS as before
    judged = JUDGES[name](one_element_case("bfloat16" if name == "stochastic" else "float32"))
    assert judged.passed and not judged.inconclusive and judged.verdict == "PASS", judged.describe()
    assert judged.describe().startswith("PASS")


def test_every_element_step_set_aside_is_inconclusive_and_a_failure_still_fails() -> None:
    # eps = 0 and a zero gradient: 0/0, every element-step ill-conditioned
    case = Case(Run(preset("torch.Adam", lr="0.001", eps="0"), (Fraction(1, 2),), [(0,)] * 2), "float64")
    observation = Observation(np.array([[0.5], [0.5]]))
    aside = judge(case, observation)
    assert aside.counts["within"] + aside.counts["outside"] == 0 and aside.verdict == "INCONCLUSIVE", aside.describe()
    broken = judge(one_element_case("float64"), Observation(np.array([[math.inf]] * 3)))
    assert not broken.passed and broken.verdict == "FAIL" and not broken.inconclusive


def test_check_keeps_judging_an_empty_tensor_case_as_no_finding() -> None:
    report = check_target(NumpyImplementation(), expect="torch.Adam", dtype="float32", cases=[empty_case()])
    assert report.verdict == "INCONCLUSIVE" and not report.findings, report.describe()
    mixed = check_target(NumpyImplementation(), expect="torch.Adam", dtype="float32",
                         cases=[empty_case(), one_element_case()])
    assert mixed.verdict == "PASS" and mixed.cases_run == 2, mixed.describe()


def test_a_loop_of_empty_tensors_is_inconclusive() -> None:
    from adamw_oracle.contract.dtypes import Dtype
    from adamw_oracle.contract.loop import Loop, LoopCase, LoopTensor, ParamGroup
    from adamw_oracle.verify.loop_impl import NumpyLoopImplementation
    from adamw_oracle.verify.loop_judge import judge_loop

    def verdict(tensor: LoopTensor) -> Any:
        loop = Loop([tensor], [ParamGroup(preset("torch.AdamW", lr="0.01"), (0,))])
        case = LoopCase(loop, Dtype.FLOAT32)
        return judge_loop(case, NumpyLoopImplementation().run_loop(case))

    empty = verdict(LoopTensor((), [(), ()]))
    assert empty.passed and empty.inconclusive and empty.verdict == "INCONCLUSIVE"
    judged = verdict(LoopTensor(("0.5",), [("0.25",), ("-1",)]))
    assert judged.verdict == "PASS" and not judged.inconclusive
