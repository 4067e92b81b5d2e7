"""The one place where the contract's conventions become the integer codes the kernels read.

A configuration is packed into one ``int`` (the *flags word*) of bit fields, and the per-step scalars
into a ``double[AO_S_COUNT]`` vector whose slots are named here. The kernels' header
(``kernels/ao_element.cuh``) defines none of these numbers itself: :func:`compile_definitions` turns
the tables below into ``-D`` options given to both NVRTC and the host C++ compiler, so the device code,
the host build and Python can never disagree.

Every code table is generated from the contract: a member's code is its position in its enum's
definition order, and the sets the kernels branch on (which weight-decay codes add wd*p to the
gradient, which decay the parameter) are bit masks built from
:data:`adamw_oracle.contract.scalars.WEIGHT_DECAY_RULES` (``AO_WD_COUPLED_MASK``,
``AO_WD_DECOUPLED_MASK``: bit ``code`` set when the member has the property). A member that does not
fit its flag field fails at import. The per-step scalar slots are the contract's
:data:`~adamw_oracle.contract.scalars.STEP_SCALARS` followed by the GPU's own ``ALPHA`` and
``FIRST_STEP``.

Flags word (field: shift, width; the codes as generated today, checked by the tests)::

    FAMILY   0 1   ADAM=0, SGD=1
    WD       1 3   NONE=0, COUPLED_L2=1, DECOUPLED_LR=2, DECOUPLED_SCHEDULE=3, DECOUPLED_UNSCALED=4
    TARGET   4 1   PREVIOUS_PARAM=0, UPDATED_PARAM=1
    EPS      5 2   AFTER_ROOT=0, EPSILON_HAT=1, INSIDE_ROOT=2, FLOOR=3
    BIAS     7 1   ON=0, OFF=1  (informational: bias correction is carried by bc1 = bc2 = 1)
    AMSGRAD  8 2   OFF=0, MAX_RAW_V=1, MAX_V_HAT=2
    MAXIMIZE 10 1
    MOMENTUM 11 1  SGD momentum > 0
    NESTEROV 12 1  SGD Nesterov
    ROUNDING 13 1  NEAREST=0, STOCHASTIC=1  (contract.precision.ParamRounding: how bfloat16
                   parameters are stored; the random bits hash the element index and the STEP slot)
    SUMMATION 14 1 PLAIN=0, KAHAN=1  (contract.precision.ParamSummation: Kahan-compensated parameters,
                   batched-case kernel only)
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    WeightDecay,
)
from adamw_oracle.contract.precision import ParamRounding, ParamSummation
from adamw_oracle.contract.scalars import STEP_SCALAR_NAMES, WEIGHT_DECAY_RULES

E = TypeVar("E", bound=enum.Enum)


def enum_codes(enum_type: type[E]) -> dict[E, int]:
    """Member -> code: its position in the enum's definition order."""
    return {member: code for code, member in enumerate(enum_type)}


FAMILY_CODES: dict[Family, int] = enum_codes(Family)
WEIGHT_DECAY_CODES: dict[WeightDecay, int] = enum_codes(WeightDecay)
TARGET_CODES: dict[DecayTarget, int] = enum_codes(DecayTarget)
EPS_CODES: dict[EpsPlacement, int] = enum_codes(EpsPlacement)
BIAS_CODES: dict[BiasCorrection, int] = enum_codes(BiasCorrection)
AMSGRAD_CODES: dict[AmsGrad, int] = enum_codes(AmsGrad)
ROUNDING_CODES: dict[ParamRounding, int] = enum_codes(ParamRounding)
SUMMATION_CODES: dict[ParamSummation, int] = enum_codes(ParamSummation)

# field name -> (shift, width)
FLAG_FIELDS: dict[str, tuple[int, int]] = {
    "FAMILY": (0, 1), "WD": (1, 3), "TARGET": (4, 1), "EPS": (5, 2), "BIAS": (7, 1),
    "AMSGRAD": (8, 2), "MAXIMIZE": (10, 1), "MOMENTUM": (11, 1), "NESTEROV": (12, 1), "ROUNDING": (13, 1),
    "SUMMATION": (14, 1),
}

ENUM_FIELDS: dict[str, dict[Any, int]] = {
    "FAMILY": FAMILY_CODES, "WD": WEIGHT_DECAY_CODES, "TARGET": TARGET_CODES, "EPS": EPS_CODES,
    "BIAS": BIAS_CODES, "AMSGRAD": AMSGRAD_CODES, "ROUNDING": ROUNDING_CODES,
    "SUMMATION": SUMMATION_CODES,
}
"""Flag field -> the code table of the contract enum it holds."""

for _name, _table in ENUM_FIELDS.items():
    if max(_table.values()) >= 1 << FLAG_FIELDS[_name][1]:
        raise RuntimeError(f"gpu/codes.py: flag field {_name} is too narrow for {len(_table)} codes; widen FLAG_FIELDS")


def _mask(codes: list[int]) -> int:
    return sum(1 << code for code in codes)


WD_COUPLED_MASK = _mask([WEIGHT_DECAY_CODES[m] for m, rule in WEIGHT_DECAY_RULES.items() if rule.gradient_term])
"""Bit ``code`` is set for the weight-decay codes that add wd*p to the gradient (``AO_WD_COUPLED_MASK``)."""
WD_DECOUPLED_MASK = _mask([WEIGHT_DECAY_CODES[m] for m, rule in WEIGHT_DECAY_RULES.items() if rule.decoupled])
"""Bit ``code`` is set for the weight-decay codes that decay the parameter by c (``AO_WD_DECOUPLED_MASK``)."""

SCALAR_SLOTS: tuple[str, ...] = (*(name.upper() for name in STEP_SCALAR_NAMES), "ALPHA", "FIRST_STEP", "STEP")
"""Slot names of the per-step scalar vector, in order (``AO_S_<NAME>`` in the header): the contract's
step scalars, then ``ALPHA`` (lr_t*sqrt(bc2)/bc1), ``FIRST_STEP`` and ``STEP`` (the step number t, the
counter of the stochastic rounding's random bits), which only the GPU layer keeps."""

SCALAR_COUNT = len(SCALAR_SLOTS)
SLOT: dict[str, int] = {name: index for index, name in enumerate(SCALAR_SLOTS)}


def _enum_prefixed(prefix: str, table: Mapping[Any, int]) -> dict[str, int]:
    return {f"{prefix}_{member.name}": code for member, code in table.items()}


FAST_CONVENTIONS = Conventions(Family.ADAM, WeightDecay.DECOUPLED_LR)
"""Plain AdamW (torch.optim.AdamW's conventions): the host build's fused loop has a branch-free,
vectorised instance for it (``AO_FAST_FLAGS``); the arithmetic is the same element function."""


def compile_definitions() -> dict[str, int]:
    """Every preprocessor macro the header needs, name -> integer value."""
    out: dict[str, int] = {}
    for name, (shift, width) in FLAG_FIELDS.items():
        out[f"AO_FLAG_{name}_SHIFT"] = shift
        out[f"AO_FLAG_{name}_MASK"] = (1 << width) - 1
    out.update(_enum_prefixed("AO_FAMILY", FAMILY_CODES))
    out.update(_enum_prefixed("AO_WD", WEIGHT_DECAY_CODES))
    out.update(_enum_prefixed("AO_TARGET", TARGET_CODES))
    out.update(_enum_prefixed("AO_EPS", EPS_CODES))
    out.update(_enum_prefixed("AO_AMS", AMSGRAD_CODES))
    out.update(_enum_prefixed("AO_ROUND", ROUNDING_CODES))
    out.update(_enum_prefixed("AO_SUM", SUMMATION_CODES))
    out["AO_WD_COUPLED_MASK"] = WD_COUPLED_MASK
    out["AO_WD_DECOUPLED_MASK"] = WD_DECOUPLED_MASK
    for name, index in SLOT.items():
        out[f"AO_S_{name}"] = index
    out["AO_S_COUNT"] = SCALAR_COUNT
    out["AO_FAST_FLAGS"] = FAST_FLAGS
    return out


def compile_options() -> list[str]:
    """``-DNAME=VALUE`` options for NVRTC and for the host compiler (sorted, so cache keys are stable)."""
    return [f"-D{name}={value}" for name, value in sorted(compile_definitions().items())]


def _field(name: str, code: int) -> int:
    shift, width = FLAG_FIELDS[name]
    if not 0 <= code < (1 << width):
        raise ValueError(f"code {code} does not fit flag field {name}")
    return code << shift


def flags_for(config: OptimizerConfig, rounding: ParamRounding = ParamRounding.NEAREST,
              summation: ParamSummation = ParamSummation.PLAIN) -> int:
    """The flags word of a configuration (conventions, plus SGD's momentum/Nesterov switches, how the
    parameter is rounded into its storage and whether it is kept with Kahan compensation)."""
    hyper = config.hyper
    return flags_for_conventions(config.conventions, momentum=hyper.momentum != 0, nesterov=hyper.nesterov,
                                 rounding=rounding, summation=summation)


def flags_for_conventions(conv: Conventions, *, momentum: bool = False, nesterov: bool = False,
                          rounding: ParamRounding = ParamRounding.NEAREST,
                          summation: ParamSummation = ParamSummation.PLAIN) -> int:
    """The flags word of conventions; ``momentum``/``nesterov`` only count for the SGD family."""
    sgd = conv.family is Family.SGD
    return (
        _field("FAMILY", FAMILY_CODES[conv.family])
        | _field("WD", WEIGHT_DECAY_CODES[conv.weight_decay])
        | _field("TARGET", TARGET_CODES[conv.decay_target])
        | _field("EPS", EPS_CODES[conv.eps_placement])
        | _field("BIAS", BIAS_CODES[conv.bias_correction])
        | _field("AMSGRAD", AMSGRAD_CODES[conv.amsgrad])
        | _field("MAXIMIZE", int(conv.maximize))
        | _field("MOMENTUM", int(sgd and momentum))
        | _field("NESTEROV", int(sgd and nesterov))
        | _field("ROUNDING", ROUNDING_CODES[rounding])
        | _field("SUMMATION", SUMMATION_CODES[summation])
    )


def decode_flags(flags: int) -> dict[str, int]:
    """The fields of a flags word (for error messages and tests)."""
    return {name: (flags >> shift) & ((1 << width) - 1) for name, (shift, width) in FLAG_FIELDS.items()}


FAST_FLAGS = flags_for_conventions(FAST_CONVENTIONS)
