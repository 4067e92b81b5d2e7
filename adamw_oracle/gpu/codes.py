"""The one place where the contract's conventions become the integer codes the kernels read.

A configuration is packed into one ``int`` (the *flags word*) of bit fields, and the per-step scalars
into a ``double[AO_S_COUNT]`` vector whose slots are named here. The kernels' header
(``kernels/ao_element.cuh``) defines none of these numbers itself: :func:`compile_definitions` turns
the tables below into ``-D`` options given to both NVRTC and the host C++ compiler, so the device code,
the host build and Python can never disagree.

Flags word (field: shift, width)::

    FAMILY   0 1   ADAM=0, SGD=1
    WD       1 3   NONE=0, COUPLED_L2=1, DECOUPLED_LR=2, DECOUPLED_SCHEDULE=3, DECOUPLED_UNSCALED=4
    TARGET   4 1   PREVIOUS_PARAM=0, UPDATED_PARAM=1
    EPS      5 2   AFTER_ROOT=0, EPSILON_HAT=1, INSIDE_ROOT=2
    BIAS     7 1   ON=0, OFF=1  (informational: bias correction is carried by bc1 = bc2 = 1)
    AMSGRAD  8 2   OFF=0, MAX_RAW_V=1, MAX_V_HAT=2
    MAXIMIZE 10 1
    MOMENTUM 11 1  SGD momentum > 0
    NESTEROV 12 1  SGD Nesterov
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

FAMILY_CODES: dict[Family, int] = {Family.ADAM: 0, Family.SGD: 1}
WEIGHT_DECAY_CODES: dict[WeightDecay, int] = {
    WeightDecay.NONE: 0, WeightDecay.COUPLED_L2: 1, WeightDecay.DECOUPLED_LR: 2,
    WeightDecay.DECOUPLED_SCHEDULE: 3, WeightDecay.DECOUPLED_UNSCALED: 4,
}
TARGET_CODES: dict[DecayTarget, int] = {DecayTarget.PREVIOUS_PARAM: 0, DecayTarget.UPDATED_PARAM: 1}
EPS_CODES: dict[EpsPlacement, int] = {EpsPlacement.AFTER_ROOT: 0, EpsPlacement.EPSILON_HAT: 1, EpsPlacement.INSIDE_ROOT: 2}
BIAS_CODES: dict[BiasCorrection, int] = {BiasCorrection.ON: 0, BiasCorrection.OFF: 1}
AMSGRAD_CODES: dict[AmsGrad, int] = {AmsGrad.OFF: 0, AmsGrad.MAX_RAW_V: 1, AmsGrad.MAX_V_HAT: 2}

# field name -> (shift, width)
FLAG_FIELDS: dict[str, tuple[int, int]] = {
    "FAMILY": (0, 1), "WD": (1, 3), "TARGET": (4, 1), "EPS": (5, 2), "BIAS": (7, 1),
    "AMSGRAD": (8, 2), "MAXIMIZE": (10, 1), "MOMENTUM": (11, 1), "NESTEROV": (12, 1),
}

SCALAR_SLOTS: tuple[str, ...] = (
    "BETA1", "ONE_MINUS_BETA1", "BETA2", "ONE_MINUS_BETA2", "BC1", "BC2", "LR_T", "EPS", "EPS_ROOT",
    "WEIGHT_DECAY", "DECAY_COEF", "ALPHA", "MOMENTUM", "ONE_MINUS_DAMPENING", "FIRST_STEP",
)
"""Slot names of the per-step scalar vector, in order (``AO_S_<NAME>`` in the header)."""

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


def flags_for(config: OptimizerConfig) -> int:
    """The flags word of a configuration (conventions, plus SGD's momentum/Nesterov switches)."""
    hyper = config.hyper
    return flags_for_conventions(config.conventions, momentum=hyper.momentum != 0, nesterov=hyper.nesterov)


def flags_for_conventions(conv: Conventions, *, momentum: bool = False, nesterov: bool = False) -> int:
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
    )


def decode_flags(flags: int) -> dict[str, int]:
    """The fields of a flags word (for error messages and tests)."""
    return {name: (flags >> shift) & ((1 << width) - 1) for name, (shift, width) in FLAG_FIELDS.items()}


FAST_FLAGS = flags_for_conventions(FAST_CONVENTIONS)
