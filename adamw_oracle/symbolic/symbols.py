"""The sympy symbols of the symbolic layer, each carrying the assumptions of its domain.

==========  ==========================  =====================================================
symbol      sympy assumptions           domain stated by the theorems
==========  ==========================  =====================================================
eta (lr)    positive                    eta > 0 (the scheduled rate lr_t = eta * s)
s           positive                    schedule multiplier s > 0
lam         nonnegative                 weight decay lambda >= 0 (positive where a theorem needs it)
beta1/2     positive                    0 < beta < 1 (the upper bound is stated, see ``BETA_DOMAIN``)
eps         nonnegative                 eps >= 0
eps_root    nonnegative                 eps_root >= 0
mu          nonnegative                 SGD momentum in [0, 1]
dampening   nonnegative                 SGD dampening in [0, 1]
p, g        real                        parameter and gradient
m           real                        first moment / momentum buffer before the step
v, vmax     nonnegative                 second moment and AMSGrad maximum before the step
t           positive integer            the 1-based number of the step being taken
==========  ==========================  =====================================================

sympy cannot attach an upper bound to a symbol, so ``beta < 1`` is enforced where it matters by
:func:`beta_from_free`, which writes beta = 1/(1 + x) with x > 0 (every positive x gives a beta in (0, 1)
and every beta in (0, 1) arises from one x).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from adamw_oracle.errors import InvalidArgumentError


@dataclass(frozen=True)
class HyperSymbols:
    """The hyperparameter symbols of one step (see the module docstring for their assumptions)."""

    lr: sp.Symbol
    beta1: sp.Symbol
    beta2: sp.Symbol
    eps: sp.Symbol
    eps_root: sp.Symbol
    weight_decay: sp.Symbol
    momentum: sp.Symbol
    dampening: sp.Symbol
    schedule: sp.Symbol


@dataclass(frozen=True)
class StateSymbols:
    """One element's inputs to a step: parameter, gradient, state before the step, step number."""

    p: sp.Symbol
    g: sp.Symbol
    m: sp.Symbol
    v: sp.Symbol
    vmax: sp.Symbol
    t: sp.Symbol


HYPER = HyperSymbols(
    lr=sp.Symbol("eta", positive=True),
    beta1=sp.Symbol("beta1", positive=True),
    beta2=sp.Symbol("beta2", positive=True),
    eps=sp.Symbol("epsilon", nonnegative=True),
    eps_root=sp.Symbol("epsilon_root", nonnegative=True),
    weight_decay=sp.Symbol("lambda", nonnegative=True),
    momentum=sp.Symbol("mu", nonnegative=True),
    dampening=sp.Symbol("tau", nonnegative=True),
    schedule=sp.Symbol("s", positive=True),
)

STATE = StateSymbols(
    p=sp.Symbol("theta", real=True),
    g=sp.Symbol("g", real=True),
    m=sp.Symbol("m", real=True),
    v=sp.Symbol("v", nonnegative=True),
    vmax=sp.Symbol("vmax", nonnegative=True),
    t=sp.Symbol("t", integer=True, positive=True),
)

BETA_DOMAIN = "0 < beta1 < 1, 0 < beta2 < 1"


def beta_from_free(free: sp.Symbol) -> sp.Expr:
    """beta = 1/(1 + x): maps x > 0 one-to-one onto beta in (0, 1), so sign proofs see beta < 1."""
    if not isinstance(free, sp.Symbol) or free.is_positive is not True:
        raise InvalidArgumentError("free", free, "a sympy Symbol declared positive=True")
    return 1 / (1 + free)


def indexed(name: str, count: int, **assumptions: bool) -> tuple[sp.Symbol, ...]:
    """``count`` symbols name_1 .. name_count with the given assumptions (per-step gradients etc.)."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidArgumentError("count", count, "an int >= 1")
    return tuple(sp.Symbol(f"{name}_{k}", **assumptions) for k in range(1, count + 1))
