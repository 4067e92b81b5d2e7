"""Optimizer states an optimizer can actually hold after many steps of bounded gradients.

A seeded case starts from ``OptimizerState(step, m, v, vmax)``. Arbitrary (m, v) pairs are not what a
real optimizer holds after ``step`` steps (|m| can exceed what v allows, vmax can lie below v), so a bug
that only bites on real states may hide, and a correct target may be judged on a state it can never
reach. The states here are those of a two-phase gradient history: gradient ``c`` for the first
``step - j`` steps, then ``d`` for the last ``j`` steps (closed forms, evaluated in float64 and then
rounded to the storage dtype)::

    m = b1^j (1 - b1^(t-j)) c + (1 - b1^j) d          v = b2^j (1 - b2^(t-j)) c^2 + (1 - b2^j) d^2
    MAX_RAW_V: vmax = max(v(t-j), v)      (v is monotone within each phase)
    MAX_V_HAT: vmax = max(c^2, v / (1 - b2^t))   (v-hat is c^2 through phase one, then moves monotonically)
    SGD:       buf = (1 - dampening) (mu^j (1 - mu^(t-j)) c + (1 - mu^j) d) / (1 - mu)   (0 when mu = 0)

``d`` much smaller than ``c`` gives a v that has risen and is now falling (AMSGrad's max matters);
``d`` larger gives a rising v. At large ``step`` the powers underflow to 0 in float64, as they do in the
frameworks, so the forms stay finite.
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from adamw_oracle.contract.conventions import AmsGrad, Conventions, Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.scalars import bias_corrected
from adamw_oracle.contract.state import OptimizerState
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.rounding import round_values


def _rounded(values: Sequence[float], dtype: Dtype) -> tuple[Fraction, ...]:
    """``FloatFormat.round`` of each value (exactly, on an array: :mod:`adamw_oracle.verify.rounding`)."""
    out = round_values(values, dtype)
    assert all(isinstance(x, Fraction) for x in out)
    return out  # type: ignore[return-value]


def reachable_state(conventions: Conventions, hyper: Hyperparameters, dtype: Dtype, step: int, recent: int,
                    early: Sequence[float], late: Sequence[float]) -> OptimizerState[tuple[Fraction, ...]]:
    """The state after ``step`` steps: gradient ``early[i]`` for ``step - recent`` steps, then ``late[i]``.

    Raises:
        InvalidArgumentError: ``step`` < 1, ``recent`` outside [0, step], or ``early``/``late`` of
            different lengths.
    """
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise InvalidArgumentError("step", step, "an int >= 1 (steps already taken)")
    if not isinstance(recent, int) or isinstance(recent, bool) or not 0 <= recent <= step:
        raise InvalidArgumentError("recent", recent, f"an int in [0, {step}]")
    if len(early) != len(late):
        raise InvalidArgumentError("late", len(late), f"{len(early)} values (one per element, like early)")
    first = step - recent
    zeros = tuple(Fraction(0) for _ in early)
    if conventions.family is Family.SGD:
        mu, damp = float(hyper.momentum), float(hyper.dampening)
        if mu == 0:
            return OptimizerState(step, zeros, zeros, zeros)
        a, b = mu**recent * (1 - mu**first), 1 - mu**recent
        buf = _rounded([(1 - damp) * (a * c + b * d) / (1 - mu) for c, d in zip(early, late)], dtype)
        return OptimizerState(step, buf, zeros, zeros)
    b1, b2 = float(hyper.beta1), float(hyper.beta2)
    m = [b1**recent * (1 - b1**first) * c + (1 - b1**recent) * d for c, d in zip(early, late)]
    v1 = [(1 - b2**first) * c * c for c in early]
    v = [b2**recent * x + (1 - b2**recent) * d * d for x, d in zip(v1, late)]
    corrected = bias_corrected(conventions)
    if conventions.amsgrad is AmsGrad.MAX_RAW_V or (conventions.amsgrad is AmsGrad.MAX_V_HAT and not corrected):
        vmax = [max(a, b) for a, b in zip(v1, v)]
    elif conventions.amsgrad is AmsGrad.MAX_V_HAT:
        bc2 = 1 - b2**step
        vmax = [max(c * c, x / bc2) if bc2 > 0 else c * c for c, x in zip(early, v)]
    else:
        vmax = [0.0 for _ in early]
    return OptimizerState(step, _rounded(m, dtype), _rounded(v, dtype), _rounded(vmax, dtype))
