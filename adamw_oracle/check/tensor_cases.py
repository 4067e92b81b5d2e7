"""Tensor-sized cases for ``check_target(..., cases=[...])``: random inputs of a real tensor's size.

:func:`tensor_case` builds an array-mode :class:`~adamw_oracle.contract.run.Run` (float64 arrays, no
Fractions) whose initial parameters and gradients are values of the dtype, drawn from a seeded numpy
generator: parameters ~ N(0, 1), gradients ~ N(0, 1) times a per-element scale 10**U(-4, 1), so
moments span several binades and the element count crosses the vector-tail and multi-tensor chunk
boundaries of the optimizer (65,536 elements and beyond).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import WeightDecay
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.numpy_impl import NUMPY_DTYPES


def in_dtype(values: np.ndarray, dtype: Dtype) -> np.ndarray:
    """``values`` rounded to ``dtype`` and widened back to float64 (exactly)."""

    return values.astype(NUMPY_DTYPES[dtype]).astype(np.float64)


def tensor_case(config: OptimizerConfig, dtype: Dtype | str, size: int, steps: int = 16, *, seed: int = 0) -> Case:
    """A case of ``size`` elements x ``steps`` steps for ``config`` in ``dtype`` (see the module docstring)."""
    for name, value, low in (("size", size, 1), ("steps", steps, 1), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InvalidArgumentError(name, value, f"an int >= {low}")
    dt = Dtype.parse(dtype)
    rng = np.random.default_rng(seed)
    params = in_dtype(rng.standard_normal(size), dt)
    scale = 10.0 ** rng.uniform(-4.0, 1.0, size)
    grads = in_dtype(rng.standard_normal((steps, size)) * scale, dt)
    return Case(Run.from_arrays(config, params, grads, name=f"tensor {size}x{steps} seed {seed}"), dt)


def default_config(expected: Any) -> OptimizerConfig:
    """The expected convention with the contract's default hyperparameters (lr 1e-3, betas 0.9/0.999,
    eps 1e-8) and weight decay 0.01 when the convention decays."""


    decays = expected.conventions.weight_decay is not WeightDecay.NONE
    return expected.config(Hyperparameters(weight_decay=Fraction(1, 100) if decays else Fraction(0)))
