"""Hyperparameters of one run, held as exact rationals and validated on construction.

===================  ==========  ====================================================
field                range       meaning
===================  ==========  ====================================================
lr                   >= 0        base learning rate (alpha)
beta1, beta2         [0, 1)      moment decay rates (Adam)
eps                  >= 0        epsilon of the denominator
eps_root             >= 0        epsilon inside the root (INSIDE_ROOT only; else 0)
weight_decay         >= 0        lambda (L2 coefficient or decoupled decay rate)
momentum             [0, 1]      SGD momentum (0: plain SGD)
dampening            [0, 1]      SGD dampening
nesterov             bool        SGD Nesterov momentum (needs momentum > 0, dampening 0)
schedule_multiplier  >= 0        eta_t of the paper; multiplies lr (and the decay for
                                 DECOUPLED_SCHEDULE); 1 means "no schedule"
===================  ==========  ====================================================

Values may be given as decimal strings (exact), ints, Fractions or binary floats (their exact value).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.exact import to_exact
from adamw_oracle.errors import InvalidArgumentError

_ZERO = Fraction(0)
_ONE = Fraction(1)


@dataclass(frozen=True)
class Hyperparameters:
    """Exact hyperparameters; see the module docstring for ranges. Construction validates."""

    lr: Fraction = Fraction(1, 1000)
    beta1: Fraction = Fraction(9, 10)
    beta2: Fraction = Fraction(999, 1000)
    eps: Fraction = Fraction(1, 10**8)
    eps_root: Fraction = _ZERO
    weight_decay: Fraction = _ZERO
    momentum: Fraction = _ZERO
    dampening: Fraction = _ZERO
    nesterov: bool = False
    schedule_multiplier: Fraction = _ONE

    def __post_init__(self) -> None:
        for field in fields(self):
            if field.name == "nesterov":
                if not isinstance(self.nesterov, bool):
                    raise InvalidArgumentError("nesterov", self.nesterov, "True or False")
                continue
            exact = to_exact(getattr(self, field.name), field.name)
            object.__setattr__(self, field.name, exact)
        _require(self.lr >= 0, "lr", self.lr, "a number >= 0")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            _require(0 <= value < 1, name, value, "a number in [0, 1)")
        for name in ("eps", "eps_root", "weight_decay", "schedule_multiplier"):
            _require(getattr(self, name) >= 0, name, getattr(self, name), "a number >= 0")
        for name in ("momentum", "dampening"):
            value = getattr(self, name)
            _require(0 <= value <= 1, name, value, "a number in [0, 1]")
        if self.nesterov:
            _require(self.momentum > 0 and self.dampening == 0, "nesterov", True,
                     "False unless momentum > 0 and dampening == 0 (as in torch.optim.SGD)")

    def replace(self, **changes: Any) -> Hyperparameters:
        return replace(self, **changes)

    @property
    def lr_t(self) -> Fraction:
        """The scheduled learning rate lr * schedule_multiplier."""
        return self.lr * self.schedule_multiplier

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every rational as its exact string (``"1/1000"`` style) and nesterov as bool."""
        return {f.name: (self.nesterov if f.name == "nesterov" else exact_str(getattr(self, f.name))) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hyperparameters:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidArgumentError("hyperparameters", sorted(unknown), "keys among " + ", ".join(sorted(known)))
        return cls(**data)


def exact_str(value: Fraction) -> str:
    """A rational as a short exact string: ``"0.001"`` when it is a terminating decimal, else ``"p/q"``."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = value * 10**digits
    sign = "-" if scaled < 0 else ""
    text = str(abs(scaled.numerator)).rjust(digits + 1, "0")
    if digits == 0:
        return sign + text
    whole, frac = text[:-digits], text[-digits:].rstrip("0")
    if len(frac) > 12 and whole == "0":
        # very small terminating decimals read better in scientific notation
        stripped = str(abs(scaled.numerator)).rstrip("0")
        exponent = len(str(abs(scaled.numerator))) - 1 - digits
        mantissa = stripped[0] + ("." + stripped[1:] if len(stripped) > 1 else "")
        return f"{sign}{mantissa}e{exponent}"
    return f"{sign}{whole}.{frac}" if frac else sign + whole


def _require(condition: bool, argument: str, value: Any, allowed: str) -> None:
    if not condition:
        shown = exact_str(value) if isinstance(value, Fraction) else value
        raise InvalidArgumentError(argument, shown, allowed)
