"""Optimizer state shared by every layer.

``step`` counts completed steps (the next step uses t = step + 1). ``m`` is Adam's first moment or
SGD's momentum buffer, ``v`` Adam's second moment, ``vmax`` the AMSGrad running maximum (of raw v or
of v-hat, per :class:`~adamw_oracle.contract.conventions.AmsGrad`). Element containers are whatever the
layer uses (tuples of exact rationals in the reference, numpy arrays in the host build).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Generic, TypeVar

from adamw_oracle.contract.exact import to_exact
from adamw_oracle.errors import InvalidArgumentError

T = TypeVar("T", covariant=True)  # a state of tuples is a state of sequences


@dataclass(frozen=True)
class OptimizerState(Generic[T]):
    """State before a step. ``step`` >= 0 is the number of steps already taken."""

    step: int
    m: T
    v: T
    vmax: T

    def replace(self, **changes: Any) -> OptimizerState[T]:
        return replace(self, **changes)


def zero_state(size: int) -> OptimizerState[tuple[Fraction, ...]]:
    """The state of a fresh optimizer over ``size`` elements: step 0, all moments exactly zero."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidArgumentError("size", size, "an int >= 0")
    zeros = (Fraction(0),) * size
    return OptimizerState(0, zeros, zeros, zeros)


def exact_state(step: int, m: Sequence[Any], v: Sequence[Any], vmax: Sequence[Any] | None = None) -> OptimizerState[tuple[Fraction, ...]]:
    """A seeded state (e.g. seed 000's demo: step=1000, v=1) with every value made exact."""
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise InvalidArgumentError("step", step, "an int >= 0 (steps already taken)")
    m_exact = tuple(to_exact(x, "m") for x in m)
    v_exact = tuple(to_exact(x, "v") for x in v)
    if any(x < 0 for x in v_exact):
        raise InvalidArgumentError("v", [str(x) for x in v_exact], "values >= 0")
    vmax_exact = tuple(to_exact(x, "vmax") for x in vmax) if vmax is not None else (Fraction(0),) * len(m_exact)
    if not (len(m_exact) == len(v_exact) == len(vmax_exact)):
        raise InvalidArgumentError("m/v/vmax", (len(m_exact), len(v_exact), len(vmax_exact)), "sequences of one length")
    return OptimizerState(step, m_exact, v_exact, vmax_exact)
