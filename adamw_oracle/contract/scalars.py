"""The per-step scalars of the contract, described once; every layer evaluates them in its own arithmetic.

A step's per-element arithmetic is written independently by the reference, symbolic, GPU and numpy
layers (that independence is what makes their agreement evidence). What they all share is *which*
per-step scalars exist and which hyperparameters each one is built from; that is stated here, as data,
and each layer only supplies its own numbers (mpmath, arb balls, sympy symbols, float64, tracked
error bounds, numpy scalars)::

    lr_t     = lr * s                                 (s: schedule multiplier)
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t             (Adam family with bias correction ON; else 1, 1)
    c        = scale * wd, scale by WeightDecay:      (the decoupled decay coefficient)
                 DECOUPLED_LR       -> lr_t
                 DECOUPLED_SCHEDULE -> s
                 DECOUPLED_UNSCALED -> 1   (c = wd)
                 NONE, COUPLED_L2   -> no decoupled decay (c = 0)
    g' gets + wd * p only for the conventions whose rule has ``gradient_term`` (COUPLED_L2).

Every :class:`~adamw_oracle.contract.conventions.WeightDecay` member must have a rule in
:data:`WEIGHT_DECAY_RULES`; a member without one makes this module fail at import, so a new convention
cannot silently fall through to "no decay" in some layer.

>>> from fractions import Fraction
>>> decay_coefficient(WeightDecay.DECOUPLED_LR, lr_t=Fraction(1, 4), schedule=Fraction(1, 2),
...                   weight_decay=Fraction(1, 8), zero=Fraction(0))
Fraction(1, 32)
>>> decay_rule(WeightDecay.DECOUPLED_UNSCALED).formula
'wd'
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from adamw_oracle.contract.conventions import BiasCorrection, Conventions, Family, WeightDecay


class DecayScale(enum.Enum):
    """The per-step scalar that multiplies ``weight_decay`` in the decoupled decay coefficient c."""

    LR_T = "lr_t"
    SCHEDULE = "s"
    UNSCALED = "1"


@dataclass(frozen=True)
class WeightDecayRule:
    """How one weight-decay convention enters the step.

    * ``gradient_term``: g' = g + wd * p (L2 regularisation through the gradient).
    * ``decay_scale``: c = scale * wd and p is decayed by c (decoupled); ``None``: c = 0, no decay.
    """

    gradient_term: bool
    decay_scale: DecayScale | None

    @property
    def decoupled(self) -> bool:
        return self.decay_scale is not None

    @property
    def formula(self) -> str:
        """The decay coefficient as text: ``"lr_t * wd"``, ``"s * wd"``, ``"wd"`` or ``"0"``."""
        if self.decay_scale is None:
            return "0"
        if self.decay_scale is DecayScale.UNSCALED:
            return "wd"
        return f"{self.decay_scale.value} * wd"


WEIGHT_DECAY_RULES: Mapping[WeightDecay, WeightDecayRule] = MappingProxyType({
    WeightDecay.NONE: WeightDecayRule(gradient_term=False, decay_scale=None),
    WeightDecay.COUPLED_L2: WeightDecayRule(gradient_term=True, decay_scale=None),
    WeightDecay.DECOUPLED_LR: WeightDecayRule(gradient_term=False, decay_scale=DecayScale.LR_T),
    WeightDecay.DECOUPLED_SCHEDULE: WeightDecayRule(gradient_term=False, decay_scale=DecayScale.SCHEDULE),
    WeightDecay.DECOUPLED_UNSCALED: WeightDecayRule(gradient_term=False, decay_scale=DecayScale.UNSCALED),
})
"""WeightDecay member -> its rule (see the module docstring)."""


def _check_rules() -> None:
    missing = [m.name for m in WeightDecay if m not in WEIGHT_DECAY_RULES]
    if missing:
        raise RuntimeError(f"contract/scalars.py: WeightDecay members without a rule: {', '.join(missing)}")
    for member, rule in WEIGHT_DECAY_RULES.items():
        if rule.decoupled != member.is_decoupled:
            raise RuntimeError(
                f"contract/scalars.py: the rule of WeightDecay.{member.name} says decoupled={rule.decoupled}, "
                f"WeightDecay.is_decoupled says {member.is_decoupled}"
            )


_check_rules()


def decay_rule(weight_decay: WeightDecay) -> WeightDecayRule:
    """The rule of a weight-decay convention."""
    return WEIGHT_DECAY_RULES[weight_decay]


def decay_coefficient(convention: WeightDecay, *, lr_t: Any, schedule: Any, weight_decay: Any, zero: Any) -> Any:
    """c = scale * wd by :data:`WEIGHT_DECAY_RULES`, in the caller's arithmetic.

    ``lr_t``, ``schedule`` (s) and ``weight_decay`` (wd) are the caller's numbers for those scalars and
    ``zero`` its 0; the result is ``lr_t * weight_decay``, ``schedule * weight_decay``, ``weight_decay``
    itself or ``zero`` (one multiplication at most, so every arithmetic rounds it the same way).
    """
    scale = WEIGHT_DECAY_RULES[convention].decay_scale
    if scale is None:
        return zero
    return _scaled(scale, lr_t, schedule, weight_decay)


def _scaled(scale: DecayScale, lr_t: Any, schedule: Any, weight_decay: Any) -> Any:
    if scale is DecayScale.UNSCALED:
        return weight_decay
    if scale is DecayScale.LR_T:
        return lr_t * weight_decay
    if scale is DecayScale.SCHEDULE:
        return schedule * weight_decay
    raise RuntimeError(f"contract/scalars.py: decay_coefficient has no evaluation for DecayScale.{scale.name}")


for _scale in DecayScale:  # a DecayScale member without an evaluation fails here, at import
    _scaled(_scale, 1, 1, 1)


BIAS_CORRECTION_RULES: Mapping[BiasCorrection, bool] = MappingProxyType({BiasCorrection.ON: True, BiasCorrection.OFF: False})
"""BiasCorrection member -> whether bc1, bc2 are 1 - beta**t (True) or exactly 1 (False)."""

if set(BIAS_CORRECTION_RULES) != set(BiasCorrection):
    raise RuntimeError("contract/scalars.py: every BiasCorrection member needs an entry in BIAS_CORRECTION_RULES")


def bias_corrected(conv: Conventions) -> bool:
    """Whether bc1 = 1 - beta1**t and bc2 = 1 - beta2**t (the Adam family with bias correction ON);
    otherwise both are exactly 1 (SGD has no moments to correct)."""
    return conv.family is Family.ADAM and BIAS_CORRECTION_RULES[conv.bias_correction]


@dataclass(frozen=True)
class StepScalar:
    """One per-step scalar shared by every layer: its name (the layers' field or slot name) and formula."""

    name: str
    formula: str


STEP_SCALARS: tuple[StepScalar, ...] = (
    StepScalar("beta1", "beta1"),
    StepScalar("one_minus_beta1", "1 - beta1"),
    StepScalar("beta2", "beta2"),
    StepScalar("one_minus_beta2", "1 - beta2"),
    StepScalar("bc1", "1 - beta1**t if bias_corrected else 1"),
    StepScalar("bc2", "1 - beta2**t if bias_corrected else 1"),
    StepScalar("lr_t", "lr * s"),
    StepScalar("eps", "eps"),
    StepScalar("eps_root", "eps_root"),
    StepScalar("weight_decay", "wd"),
    StepScalar("decay_coef", "decay_coefficient(WeightDecay): lr_t * wd | s * wd | wd | 0"),
    StepScalar("momentum", "mu"),
    StepScalar("one_minus_dampening", "1 - dampening"),
)
"""The per-step scalars: the fields of the reference's ``StepConstants`` besides ``t`` and, in this
order, the first slots of the GPU layer's scalar vector (tests/test_contract_scalars.py checks both)."""

STEP_SCALAR_NAMES: tuple[str, ...] = tuple(s.name for s in STEP_SCALARS)
