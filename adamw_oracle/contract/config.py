"""An optimizer configuration: conventions plus exact hyperparameters, validated together."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from adamw_oracle.contract.conventions import Conventions, EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.errors import InvalidArgumentError


@dataclass(frozen=True)
class OptimizerConfig:
    """What to compute: the conventions and the hyperparameters.

    Cross-checks: ``eps_root`` must be 0 unless eps is INSIDE_ROOT; ``weight_decay`` must be 0 when the
    convention is NONE; SGD-only hyperparameters (momentum, dampening, nesterov) must be 0/False for Adam.
    """

    conventions: Conventions
    hyper: Hyperparameters
    name: str = ""

    def __post_init__(self) -> None:
        conv, hyper = self.conventions, self.hyper
        if not isinstance(conv, Conventions):
            raise InvalidArgumentError("conventions", conv, "a Conventions instance")
        if not isinstance(hyper, Hyperparameters):
            raise InvalidArgumentError("hyper", hyper, "a Hyperparameters instance")
        if hyper.eps_root != 0 and not (conv.family is Family.ADAM and conv.eps_placement is EpsPlacement.INSIDE_ROOT):
            raise InvalidArgumentError("eps_root", str(hyper.eps_root), "0 unless eps_placement is inside_root")
        if conv.weight_decay is WeightDecay.NONE and hyper.weight_decay != 0:
            raise InvalidArgumentError(
                "weight_decay", str(hyper.weight_decay), "0 when the weight-decay convention is none",
                hint="choose coupled_l2 or a decoupled convention",
            )
        if conv.family is Family.ADAM:
            for name in ("momentum", "dampening"):
                if getattr(hyper, name) != 0:
                    raise InvalidArgumentError(name, str(getattr(hyper, name)), "0 for the Adam family (SGD only)")
            if hyper.nesterov:
                raise InvalidArgumentError("nesterov", True, "False for the Adam family (SGD only)")

    def replace(self, **changes: Any) -> OptimizerConfig:
        return replace(self, **changes)

    def with_hyper(self, **changes: Any) -> OptimizerConfig:
        return replace(self, hyper=self.hyper.replace(**changes))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "conventions": self.conventions.as_dict(), "hyper": self.hyper.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizerConfig:
        return cls(Conventions.from_dict(data["conventions"]), Hyperparameters.from_dict(data["hyper"]), data.get("name", ""))
