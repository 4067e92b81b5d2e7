"""Every theorem of the symbolic layer, in document order, and the function that proves them."""
from __future__ import annotations

from collections.abc import Iterable

from adamw_oracle.symbolic.theorem import Theorem, TheoremResult
from adamw_oracle.symbolic.theorems_adam import ADAM_THEOREMS
from adamw_oracle.symbolic.theorems_conventions import CONVENTION_THEOREMS, EPS_FLOOR_THEOREM
from adamw_oracle.symbolic.theorems_seeds import SEED_THEOREMS
from adamw_oracle.symbolic.theorems_sgd import SGD_THEOREMS

THEOREMS: tuple[Theorem, ...] = SGD_THEOREMS + ADAM_THEOREMS + CONVENTION_THEOREMS + SEED_THEOREMS + (EPS_FLOOR_THEOREM,)


def prove_all(theorems: Iterable[Theorem] | None = None) -> list[TheoremResult]:
    """Prove every theorem (default: :data:`THEOREMS`); one :class:`TheoremResult` each, in order.

    * a theorem holds only if every claim of its derivation holds;
    * a failing theorem is reported with the simplified residual of its first failing claim;
    * nothing is raised for a failure: callers decide (``adamw-oracle prove`` exits 1).
    """
    return [theorem.prove() for theorem in (THEOREMS if theorems is None else tuple(theorems))]
