"""The named conventions on which real Adam/AdamW/SGD implementations differ.

Every choice is an explicit enum member; a :class:`Conventions` value fixes all of them and is the
single description that the reference, symbolic and GPU layers and the checking harness consume.

Notation used throughout the docstrings of the toolkit (one element, step t = 1, 2, ...)::

    g'   = (-g if maximize else g) + [wd * p_{t-1} if COUPLED_L2]
    m_t  = b1 * m_{t-1} + (1 - b1) * g'
    v_t  = b2 * v_{t-1} + (1 - b2) * g'^2
    bc1  = 1 - b1^t,  bc2 = 1 - b2^t          (both 1 when bias correction is OFF)
    m^   = m_t / bc1, v^ = v_t / bc2
    lr_t = lr * s                              (s: schedule multiplier, 1 by default)

    AFTER_ROOT  : update = lr_t * m^ / (sqrt(v^) + eps)                     (torch)
    INSIDE_ROOT : update = lr_t * m^ / (sqrt(v^ + eps_root) + eps)          (optax)
    EPSILON_HAT : update = lr_t * sqrt(bc2) / bc1 * m_t / (sqrt(v_t) + eps) (Keras, TF, paper code)
    FLOOR       : update = lr_t * m^ / max(sqrt(v^), eps)                    (eps as a floor)

    decay coefficient c: DECOUPLED_LR -> lr_t * wd; DECOUPLED_SCHEDULE -> s * wd;
                         DECOUPLED_UNSCALED -> wd; NONE and COUPLED_L2 -> 0
    PREVIOUS_PARAM: p_t = p_{t-1} - c * p_{t-1} - update
    UPDATED_PARAM : q = p_{t-1} - update;  p_t = q - c * q
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace
from typing import Any

from adamw_oracle.errors import InvalidArgumentError


class Family(enum.Enum):
    """Which update rule: Adam (moments + adaptive denominator) or SGD (optional momentum)."""

    ADAM = "adam"
    SGD = "sgd"


class WeightDecay(enum.Enum):
    """How weight decay enters the step.

    * ``NONE``: no decay, whatever ``weight_decay`` holds (it must then be 0).
    * ``COUPLED_L2``: g += wd * p_{t-1} before the moments (torch Adam/SGD ``weight_decay``).
    * ``DECOUPLED_LR``: p -= lr_t * wd * p (torch AdamW, optax adamw, Keras, MLX, HF).
    * ``DECOUPLED_SCHEDULE``: p -= s * wd * p, the schedule multiplier only (the paper, Alg. 2).
    * ``DECOUPLED_UNSCALED``: p -= wd * p (TF-Addons AdamW / SGDW).
    """

    NONE = "none"
    COUPLED_L2 = "coupled_l2"
    DECOUPLED_LR = "decoupled_lr"
    DECOUPLED_SCHEDULE = "decoupled_schedule"
    DECOUPLED_UNSCALED = "decoupled_unscaled"

    @property
    def is_decoupled(self) -> bool:
        return self in (WeightDecay.DECOUPLED_LR, WeightDecay.DECOUPLED_SCHEDULE, WeightDecay.DECOUPLED_UNSCALED)


class DecayTarget(enum.Enum):
    """Which parameter value decoupled decay multiplies.

    * ``PREVIOUS_PARAM``: p_{t-1}, before the adaptive step (torch, optax, Keras, MLX, the paper).
    * ``UPDATED_PARAM``: the parameter after the adaptive step (HF transformers, bitsandbytes).
    """

    PREVIOUS_PARAM = "previous_param"
    UPDATED_PARAM = "updated_param"


class EpsPlacement(enum.Enum):
    """Where epsilon enters the denominator (see the module docstring for the equations).

    * ``AFTER_ROOT``: sqrt(v~) + eps (torch, MLX, HF).
    * ``EPSILON_HAT``: sqrt(raw v) + eps, with sqrt(bc2) folded into the step size (Keras, TF).
    * ``INSIDE_ROOT``: sqrt(v~ + eps_root) + eps (optax).
    * ``FLOOR``: max(sqrt(v~), eps): eps bounds the denominator from below instead of being added to
      it (``denom.clamp_(min=eps)`` in some third-party optimizers); v~ is v^ or the AMSGrad maximum as
      for ``AFTER_ROOT``. Where sqrt(v~) >= eps it is ``AFTER_ROOT`` with eps = 0, and everywhere
      max(a, eps) <= a + eps <= 2 max(a, eps): the two denominators differ by at most a factor 2.
    """

    AFTER_ROOT = "after_root"
    EPSILON_HAT = "epsilon_hat"
    INSIDE_ROOT = "inside_root"
    FLOOR = "floor"


class BiasCorrection(enum.Enum):
    """Whether m and v are divided by 1 - beta^t."""

    ON = "on"
    OFF = "off"


class AmsGrad(enum.Enum):
    """AMSGrad variant: which second-moment quantity keeps a running maximum.

    * ``OFF``: no maximum.
    * ``MAX_RAW_V``: vmax_t = max(vmax_{t-1}, v_t); the denominator uses vmax_t / bc2 (torch, Keras).
    * ``MAX_V_HAT``: vmax_t = max(vmax_{t-1}, v^_t); the denominator uses vmax_t (optax).
    """

    OFF = "off"
    MAX_RAW_V = "max_raw_v"
    MAX_V_HAT = "max_v_hat"


@dataclass(frozen=True)
class Conventions:
    """All algebraic conventions of one optimizer, as named choices.

    SGD uses only ``family``, ``weight_decay``, ``decay_target`` and ``maximize``; the Adam-only fields
    must stay at their defaults for SGD.
    """

    family: Family = Family.ADAM
    weight_decay: WeightDecay = WeightDecay.NONE
    decay_target: DecayTarget = DecayTarget.PREVIOUS_PARAM
    eps_placement: EpsPlacement = EpsPlacement.AFTER_ROOT
    bias_correction: BiasCorrection = BiasCorrection.ON
    amsgrad: AmsGrad = AmsGrad.OFF
    maximize: bool = False

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "maximize":
                if not isinstance(value, bool):
                    raise InvalidArgumentError("maximize", value, "True or False")
                continue
            enum_type = _FIELD_ENUMS[field.name]
            if not isinstance(value, enum_type):
                object.__setattr__(self, field.name, parse_choice(enum_type, value, field.name))
        if self.family is Family.SGD:
            for name in ("eps_placement", "bias_correction", "amsgrad"):
                if getattr(self, name) != _ADAM_DEFAULTS[name]:
                    raise InvalidArgumentError(
                        name, getattr(self, name).value, f"{_ADAM_DEFAULTS[name].value} for the SGD family"
                    )
        if not self.weight_decay.is_decoupled and self.decay_target is DecayTarget.UPDATED_PARAM:
            raise InvalidArgumentError(
                "decay_target",
                self.decay_target.value,
                f"previous_param with weight_decay={self.weight_decay.value} (only decoupled decay has a target)",
            )

    def replace(self, **changes: Any) -> Conventions:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The conventions as plain JSON-ready values."""
        return {f.name: (getattr(self, f.name) if f.name == "maximize" else getattr(self, f.name).value) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conventions:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidArgumentError("conventions", sorted(unknown), "keys among " + ", ".join(f.name for f in fields(cls)))
        return cls(**data)

    def describe(self) -> str:
        """One line naming every choice, e.g. for report headers."""
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())


_FIELD_ENUMS: dict[str, type[enum.Enum]] = {
    "family": Family,
    "weight_decay": WeightDecay,
    "decay_target": DecayTarget,
    "eps_placement": EpsPlacement,
    "bias_correction": BiasCorrection,
    "amsgrad": AmsGrad,
}
_ADAM_DEFAULTS = {
    "eps_placement": EpsPlacement.AFTER_ROOT,
    "bias_correction": BiasCorrection.ON,
    "amsgrad": AmsGrad.OFF,
}


def parse_choice(enum_type: type[enum.Enum], value: Any, argument: str) -> Any:
    """Turn a member, its value string or its name (any case) into the enum member."""
    if isinstance(value, enum_type):
        return value
    text = str(value).strip().lower().replace("-", "_")
    for member in enum_type:
        if text in (member.value, member.name.lower()):
            return member
    raise InvalidArgumentError(argument, value, "one of " + ", ".join(m.value for m in enum_type))


def all_conventions() -> list[Conventions]:
    """Every valid combination of conventions (the space the fuzzers cover)."""
    out: list[Conventions] = []
    for wd in WeightDecay:
        for target in DecayTarget:
            for maximize in (False, True):
                for family in Family:
                    adam_choices = (
                        [(e, b, a) for e in EpsPlacement for b in BiasCorrection for a in AmsGrad]
                        if family is Family.ADAM
                        else [(EpsPlacement.AFTER_ROOT, BiasCorrection.ON, AmsGrad.OFF)]
                    )
                    for eps, bias, ams in adam_choices:
                        try:
                            out.append(Conventions(family, wd, target, eps, bias, ams, maximize))
                        except InvalidArgumentError:
                            continue
    return out
