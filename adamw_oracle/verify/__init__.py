"""Verification core: the error model, the judge, a plain numpy implementation, the three-way fuzz.

* :func:`judge` -- per element and step: within bound / outside bound / ill-conditioned (set aside).
* :func:`judge_vectorized` -- the same verdicts on whole arrays (numpy or CuPy), for tensor-sized cases.
* :func:`judge_resynced` -- every step judged from the implementation's own state before it (one-step
  bounds; its stored state judged too), for targets that expose their state per step.
* :func:`bounded_trajectory` -- exact parameters with rigorous running error bounds per dtype.
* :class:`NumpyImplementation` -- plain numpy, every convention, several legitimate operation orders.
* :func:`three_way_fuzz` -- reference vs symbolic, and GPU host build + numpy vs the error model.
* :func:`judge_stochastic_rounding` -- stochastic rounding to bfloat16: neighbour check and frequency
  test (:mod:`adamw_oracle.verify.stochastic`); Kahan-compensated parameters are judged by
  :func:`judge` under ``PrecisionModel.kahan`` (:mod:`adamw_oracle.verify.kahan`).
* :mod:`adamw_oracle.verify.mutations` -- deliberately broken steps the fuzz must catch.

The hypothesis-based parts (:func:`three_way_fuzz`, the strategies) import hypothesis on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.verify.error_model import BoundedTrajectory, BoundedValue, bounded_trajectory
from adamw_oracle.verify.judge import SLACK, Failure, Judgement, judge
from adamw_oracle.verify.numpy_impl import CORRECT_VARIANTS, NumpyImplementation, NumpyVariant, correct_implementations
from adamw_oracle.verify.resync import judge_resynced
from adamw_oracle.verify.stochastic import RoundingVerdict, judge_stochastic_rounding
from adamw_oracle.verify.vectorized import judge_vectorized

__all__ = [
    "BoundedTrajectory", "BoundedValue", "CORRECT_VARIANTS", "Failure", "FuzzSummary", "Judgement",
    "NumpyImplementation", "NumpyVariant", "PrecisionModel", "RoundingVerdict", "SLACK", "bounded_trajectory",
    "correct_implementations", "judge", "judge_resynced", "judge_stochastic_rounding", "judge_vectorized",
    "three_way_fuzz",
]

_LAZY = {"three_way_fuzz": "adamw_oracle.verify.fuzz", "FuzzSummary": "adamw_oracle.verify.fuzz"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'adamw_oracle.verify' has no attribute {name!r}")
