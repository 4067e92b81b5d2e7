"""The part of the case space a user restricts ``check`` to, validated once and stated in the report.

Real libraries reject some hyperparameters by design (lr = 0, eps = 0, a half-precision eps that
underflows), and a user may only care about part of the space (no maximize, one learning-rate range).
A :class:`CaseSpace` says so:

* ``ranges``: closed ranges ``{name: (low, high)}`` for lr, weight_decay, beta1, beta2, eps, momentum
  (each inside the hyperparameter's valid domain, low <= high);
* ``positive_lr``: lr > 0 (lr = 0 and the tiny edges are not drawn; the lowest lr is 1e-10);
* ``maximize`` / ``amsgrad``: False leaves that switch off (None: both settings, when the target has it);
* ``dtype_range``: lr, eps and weight decay are normal numbers of the checked dtype (no hyperparameter
  that the dtype would flush to zero or to a subnormal when a framework stores it in the parameters' dtype);
* ``ordinary_only``: only the ordinary cases (a fresh optimizer's zero state, at most ``max_size`` elements
  x ``max_steps`` steps): no seeded states, long runs or tensor-sized cases.

Every restriction is listed by :meth:`CaseSpace.describe` (the report header's ``restricted:`` line), so a
PASS says what it covers.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError

#: The valid domain of each hyperparameter a range can restrict: (low, high, high is open).
DOMAINS: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, 10.0, False), "weight_decay": (0.0, 1.0, False), "beta1": (0.0, 1.0, True),
    "beta2": (0.0, 1.0, True), "eps": (0.0, 10.0, False), "momentum": (0.0, 1.0, True),
}
POSITIVE_LR_FLOOR = 1e-10
"""The smallest lr drawn with ``positive_lr`` (the tiny edge the strategies also draw)."""


def _domain_text(name: str) -> str:
    low, high, open_high = DOMAINS[name]
    return f"[{low:g}, {high:g}{')' if open_high else ']'}"


@dataclass(frozen=True)
class CaseSpace:
    """A validated restriction of the drawn cases (see the module docstring); the default restricts nothing."""

    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    positive_lr: bool = False
    maximize: bool | None = None
    amsgrad: bool | None = None
    dtype_range: bool = False
    ordinary_only: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.ranges, Mapping):
            raise InvalidArgumentError("ranges", self.ranges, "a mapping {name: (low, high)} over " + ", ".join(DOMAINS))
        clean: dict[str, tuple[float, float]] = {}
        for name, value in self.ranges.items():
            if name not in DOMAINS:
                raise InvalidArgumentError("range", name, "one of " + ", ".join(DOMAINS))
            try:
                low, high = (float(x) for x in value)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"range {name}", value, "two numbers (low, high)") from None
            d_low, d_high, open_high = DOMAINS[name]
            inside = all(math.isfinite(x) and d_low <= x and (x < d_high if open_high else x <= d_high) for x in (low, high))
            if not inside or low > high:
                raise InvalidArgumentError(f"range {name}", f"{value[0]}:{value[1]}",
                                           f"low <= high, both in {_domain_text(name)}")
            clean[name] = (low, high)
        object.__setattr__(self, "ranges", clean)
        for name in ("positive_lr", "dtype_range", "ordinary_only"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(name, getattr(self, name), "True or False")
        for name in ("maximize", "amsgrad"):
            if getattr(self, name) not in (None, False, True):
                raise InvalidArgumentError(name, getattr(self, name), "None (both), False or True")
        if self.positive_lr and "lr" in clean and clean["lr"][1] <= 0:
            raise InvalidArgumentError("range lr", "{}:{}".format(*clean["lr"]), "a range with values > 0 (positive_lr is set)")

    @classmethod
    def of(cls, value: CaseSpace | Mapping[str, Any] | None) -> CaseSpace:
        """A CaseSpace from itself, a dict of its fields, or None (no restriction)."""
        if value is None:
            return cls()
        if isinstance(value, CaseSpace):
            return value
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in FIELDS]
            if unknown:
                raise InvalidArgumentError("space", unknown[0], "one of " + ", ".join(FIELDS))
            return cls(**value)
        raise InvalidArgumentError("space", value, "a CaseSpace, a dict of its fields, or None")

    @property
    def restricted(self) -> bool:
        return bool(self.ranges) or self.positive_lr or self.maximize is not None or self.amsgrad is not None \
            or self.dtype_range or self.ordinary_only

    def bounds(self, dtype: Dtype) -> dict[str, tuple[float, float]]:
        """The ranges the strategies draw from in ``dtype`` (positive lr and the dtype's range folded in)."""
        out = dict(self.ranges)

        def floor(name: str, low: float) -> None:
            lo, hi = out.get(name, (DOMAINS[name][0], DOMAINS[name][1]))
            out[name] = (max(lo, low), max(hi, low))

        if self.positive_lr:
            floor("lr", POSITIVE_LR_FLOOR)
        if self.dtype_range:
            normal = float(dtype.format.smallest_normal)
            floor("lr", normal)
            floor("eps", normal)
        return out

    def describe(self, dtype: Dtype | None = None) -> list[str]:
        """One phrase per restriction (empty when nothing is restricted)."""
        out = [f"{name} in [{low:g}, {high:g}]" for name, (low, high) in self.ranges.items()]
        if self.positive_lr:
            out.append("lr > 0")
        if self.maximize is not None:
            out.append("maximize " + ("only" if self.maximize else "off"))
        if self.amsgrad is not None:
            out.append("amsgrad " + ("only" if self.amsgrad else "off"))
        if self.dtype_range:
            where = f" {dtype.value}" if dtype is not None else " the dtype's"
            out.append(f"lr and eps normal numbers of{where}")
        if self.ordinary_only:
            out.append("ordinary cases only (zero state; no seeded, long or tensor-sized runs)")
        return out


FIELDS = ("ranges", "positive_lr", "maximize", "amsgrad", "dtype_range", "ordinary_only")
"""The fields of :class:`CaseSpace` (the keys a dict given for ``space`` may have)."""
