"""Per-step scalars, computed on the host in double precision once per step.

For step t (1-based) and the hyperparameters as Python floats (their float64 roundings, as frameworks
receive them), every value below is a float64 computed with Python's float operations (each one IEEE
double, rounded to nearest)::

    bc1   = 1 - beta1**t,  bc2 = 1 - beta2**t     (Adam with bias correction ON; else both exactly 1)
                                                  (beta**t is C pow(), as in torch's Python loop)
    lr_t  = lr * s                                 (s = schedule_multiplier)
    c     = lr_t * wd (DECOUPLED_LR) | s * wd (DECOUPLED_SCHEDULE) | wd (DECOUPLED_UNSCALED) | 0
    alpha = lr_t * sqrt(bc2) / bc1                 (epsilon-hat step size, Keras' alpha)
    1 - beta1, 1 - beta2, 1 - dampening            (one double subtraction each)
    first_step = 1.0 when t == 1 (SGD's momentum buffer starts as g'), else 0.0
    step  = t                                      (the counter of stochastic rounding's random bits)

Which scalars exist, the choice of bc and the factor of c are the contract's
(:mod:`adamw_oracle.contract.scalars`); the float64 arithmetic is this module's.
The vector is laid out by :data:`adamw_oracle.gpu.codes.SCALAR_SLOTS`. Kernels computing in float32
round each slot once to float32 (a single correctly rounded conversion, identical on host and device).
"""
from __future__ import annotations

import math

import numpy as np

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.scalars import bias_corrected, decay_coefficient
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu.codes import SCALAR_COUNT, SLOT


def hyper_floats(config: OptimizerConfig) -> dict[str, float]:
    """Hyperparameters as float64 roundings of their exact values."""
    h = config.hyper
    return {
        "lr": float(h.lr), "beta1": float(h.beta1), "beta2": float(h.beta2), "eps": float(h.eps),
        "eps_root": float(h.eps_root), "weight_decay": float(h.weight_decay), "momentum": float(h.momentum),
        "dampening": float(h.dampening), "schedule_multiplier": float(h.schedule_multiplier),
    }


def step_scalars(config: OptimizerConfig, t: int) -> np.ndarray:
    """The ``double[SCALAR_COUNT]`` vector of step ``t`` (see the module docstring)."""
    if not isinstance(t, int) or isinstance(t, bool) or t < 1:
        raise InvalidArgumentError("t", t, "an int >= 1 (the 1-based number of the step being taken)")
    return scalars_from_floats(hyper_floats(config), config, t)


def scalars_from_floats(h: dict[str, float], config: OptimizerConfig, t: int) -> np.ndarray:
    """Like :func:`step_scalars` with the float hyperparameters already extracted (hot path)."""
    conv = config.conventions
    out = np.zeros(SCALAR_COUNT, dtype=np.float64)
    beta1, beta2 = h["beta1"], h["beta2"]
    if bias_corrected(conv):
        bc1 = 1.0 - beta1**t
        bc2 = 1.0 - beta2**t
    else:
        bc1 = bc2 = 1.0
    s = h["schedule_multiplier"]
    lr_t = h["lr"] * s
    wd = h["weight_decay"]
    decay_coef = decay_coefficient(conv.weight_decay, lr_t=lr_t, schedule=s, weight_decay=wd, zero=0.0)
    out[SLOT["BETA1"]] = beta1
    out[SLOT["ONE_MINUS_BETA1"]] = 1.0 - beta1
    out[SLOT["BETA2"]] = beta2
    out[SLOT["ONE_MINUS_BETA2"]] = 1.0 - beta2
    out[SLOT["BC1"]] = bc1
    out[SLOT["BC2"]] = bc2
    out[SLOT["LR_T"]] = lr_t
    out[SLOT["EPS"]] = h["eps"]
    out[SLOT["EPS_ROOT"]] = h["eps_root"]
    out[SLOT["WEIGHT_DECAY"]] = wd
    out[SLOT["DECAY_COEF"]] = decay_coef
    out[SLOT["ALPHA"]] = _ieee_divide(lr_t * math.sqrt(bc2), bc1)
    out[SLOT["MOMENTUM"]] = h["momentum"]
    out[SLOT["ONE_MINUS_DAMPENING"]] = 1.0 - h["dampening"]
    out[SLOT["FIRST_STEP"]] = 1.0 if t == 1 else 0.0
    out[SLOT["STEP"]] = float(t)
    return out


def scalar_table(config: OptimizerConfig, first_t: int, steps: int) -> np.ndarray:
    """Scalars of steps ``first_t .. first_t + steps - 1``, shape ``(steps, SCALAR_COUNT)``."""
    h = hyper_floats(config)
    if steps == 0:
        return np.zeros((0, SCALAR_COUNT), dtype=np.float64)
    return np.stack([scalars_from_floats(h, config, first_t + k) for k in range(steps)])


def _ieee_divide(numerator: float, denominator: float) -> float:
    """IEEE double division (Python raises on a zero divisor; bc1 is 0 when float(beta1)**t rounds to 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(numerator) / np.float64(denominator))
