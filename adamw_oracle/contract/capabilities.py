"""The optional switches an optimizer under test may offer, as one enum.

A target *has* a capability when it takes that option from the caller; cases that need a missing one
are never drawn for it (``check``), never probed (``identify``) and refused (adapters):

* ``WEIGHT_DECAY``: a weight-decay coefficient (coupled or decoupled, as its convention says);
* ``AMSGRAD``: an AMSGrad switch (which AMSGrad form it then uses is what ``identify`` finds);
* ``MAXIMIZE``: a maximize switch (g -> -g);
* ``EPS_ROOT``: an epsilon added inside the square root (optax's ``eps_root``);
* ``DAMPENING``: an SGD dampening coefficient (torch.optim.SGD's ``dampening``; optax.sgd and Keras
  SGD have none), an SGD-family switch only (:data:`SGD_ONLY`);
* ``SEEDED_STATE``: the target can start from a given state (step count, m, v, vmax), e.g. through
  torch's ``load_state_dict``. It is not an option switch: a target has it only when it declares it
  (a target that declares nothing is assumed to offer the five switches, not this), and ``check``
  draws genuinely long runs for a target without it.

Training loops (:mod:`adamw_oracle.contract.loop`) need more than switches; what a loop target can do is
one :class:`LoopCapability` each, declared by the loop adapter (``loop_capabilities``), and ``check``'s
loop mode never draws a loop that needs one the target lacks:

* ``SEVERAL_TENSORS``: several parameter tensors of different sizes in one optimizer;
* ``PARAM_GROUPS``: parameter groups with their own hyperparameters (torch ``param_groups``);
* ``SCHEDULE``: a learning rate changed between steps (a per-step multiplier of each group's lr);
* ``MISSING_GRADS``: a tensor without a gradient at some steps is left untouched, its step counter
  not advanced (torch ``p.grad = None``);
* ``RESUME``: the state saved mid-run, loaded into a fresh optimizer, and the run continued.

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
    DAMPENING = "dampening"
    SEEDED_STATE = "seeded_state"


class LoopCapability(enum.Enum):
    """One feature of a training loop a loop target may support (see the module docstring)."""

    SEVERAL_TENSORS = "several_tensors"
    PARAM_GROUPS = "param_groups"
    SCHEDULE = "schedule"
    MISSING_GRADS = "missing_grads"
    RESUME = "resume"


#: Every option switch: what a target that declares nothing is assumed to offer (not SEEDED_STATE).
ALL_CAPABILITIES: frozenset[Capability] = frozenset(c for c in Capability if c is not Capability.SEEDED_STATE)
#: The switches that only an SGD-family optimizer can have (a report of an Adam target does not list them as lacking).
SGD_ONLY: frozenset[Capability] = frozenset({Capability.DAMPENING})
#: The option switches and SEEDED_STATE.
EVERY_CAPABILITY: frozenset[Capability] = frozenset(Capability)


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


def parse_loop_capabilities(value: Iterable[LoopCapability | str] | None,
                            argument: str = "loop_capabilities") -> frozenset[LoopCapability]:
    """Loop capabilities from members or their names; ``None`` means all of them.

    Raises:
        InvalidArgumentError: a name that is not a loop capability, or a value that is not a collection.
    """
    if value is None:
        return frozenset(LoopCapability)
    allowed = "a subset of " + ", ".join(c.value for c in LoopCapability)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(argument, value, allowed)
    out = set()
    for item in value:
        try:
            out.add(item if isinstance(item, LoopCapability) else LoopCapability(item))
        except ValueError:
            raise InvalidArgumentError(argument, item, allowed) from None
    return frozenset(out)


def capability_names(capabilities: Iterable[Capability | LoopCapability]) -> list[str]:
    """Sorted names, for reports and JSON."""
    return sorted(c.value for c in capabilities)
