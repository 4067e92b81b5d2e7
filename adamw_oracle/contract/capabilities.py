"""The optional switches an optimizer under test may offer, as one enum.

A target *has* a capability when it takes that option from the caller; cases that need a missing one
are never drawn for it (``check``), never probed (``identify``) and refused (adapters):

* ``WEIGHT_DECAY``: a weight-decay coefficient (coupled or decoupled, as its convention says);
* ``AMSGRAD``: an AMSGrad switch (which AMSGrad form it then uses is what ``identify`` finds);
* ``MAXIMIZE``: a maximize switch (g -> -g);
* ``EPS_ROOT``: an epsilon added inside the square root (optax's ``eps_root``).

User-written targets may declare ``capabilities`` as strings (``{"weight_decay"}``);
:func:`parse_capabilities` turns either form into members and rejects unknown names.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from adamw_oracle.errors import InvalidArgumentError


class Capability(enum.Enum):
    """One optional switch of an optimizer under test (see the module docstring)."""

    WEIGHT_DECAY = "weight_decay"
    AMSGRAD = "amsgrad"
    MAXIMIZE = "maximize"
    EPS_ROOT = "eps_root"


#: Every capability: what a target that declares nothing is assumed to offer.
ALL_CAPABILITIES: frozenset[Capability] = frozenset(Capability)


def parse_capabilities(value: Iterable[Capability | str] | None, argument: str = "capabilities") -> frozenset[Capability]:
    """Members from members or their names; ``None`` means all of them.

    Raises:
        InvalidArgumentError: a name that is not a capability, or a value that is not a collection.
    """
    if value is None:
        return ALL_CAPABILITIES
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(argument, value, "a set of " + ", ".join(c.value for c in Capability))
    items = list(value)
    out = set()
    for item in items:
        if isinstance(item, Capability):
            out.add(item)
            continue
        try:
            out.add(Capability(item))
        except ValueError:
            raise InvalidArgumentError(argument, sorted(getattr(i, "value", i) for i in items),
                                       "a subset of " + ", ".join(c.value for c in Capability)) from None
    return frozenset(out)


def capabilities_of(impl: Any) -> frozenset[Capability]:
    """The capabilities an implementation declares (its ``capabilities`` attribute; all when absent)."""
    return parse_capabilities(getattr(impl, "capabilities", None))


def capability_names(capabilities: Iterable[Capability]) -> list[str]:
    """Sorted names, for reports and JSON."""
    return sorted(c.value for c in capabilities)
