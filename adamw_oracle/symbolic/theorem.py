"""The theorem framework: a named statement, its assumptions, a derivation, and checked claims.

A :class:`Theorem` builds its :class:`Derivation` lazily (a list of :class:`DerivationStep` for the
document, and the :class:`Claim` objects that carry the proof obligation). Proving checks every claim:

* ``zero``     -- the residual (lhs - rhs) simplifies to exactly 0;
* ``nonzero``  -- the expression is not identically 0: sympy decides it is non-zero under the symbols'
  assumptions, or it evaluates exactly to a non-zero number at the stated witness point;
* ``positive`` / ``negative`` -- sympy's assumption system decides the sign on the stated domain
  (``None``, i.e. undecided, counts as a failure: an unproved claim is not a held claim);
* ``rounds_to`` -- the exact value rounds to the given decimal string at its number of decimals.

A theorem holds only if every claim holds; otherwise the first failing claim's residual is reported.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

import sympy as sp

from adamw_oracle.errors import InvalidArgumentError

ClaimKind = Literal["zero", "nonzero", "positive", "negative", "rounds_to"]
_KINDS = ("zero", "nonzero", "positive", "negative", "rounds_to")


@dataclass(frozen=True)
class DerivationStep:
    """One line of a derivation: ``lhs = rhs`` with a sentence saying what was done."""

    text: str
    lhs: sp.Basic
    rhs: sp.Basic


@dataclass(frozen=True)
class Claim:
    """One proof obligation (see the module docstring for the kinds)."""

    kind: ClaimKind
    expression: sp.Expr
    text: str
    witness: Mapping[sp.Symbol, sp.Expr] | None = None
    decimal: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InvalidArgumentError("kind", self.kind, "one of " + ", ".join(_KINDS))
        if not isinstance(self.expression, sp.Basic):
            raise InvalidArgumentError("expression", self.expression, "a sympy expression")
        if self.kind == "rounds_to" and (self.decimal is None or "." not in self.decimal):
            raise InvalidArgumentError("decimal", self.decimal, "a decimal string such as '0.999204' for rounds_to")

    def check(self) -> ClaimOutcome:
        """Decide the claim; the outcome carries the simplified residual."""
        if self.kind == "zero":
            residual = simplify_residual(self.expression)
            return ClaimOutcome(self, residual == 0, residual)
        if self.kind == "nonzero":
            residual = simplify_residual(self.expression)
            if residual == 0:
                return ClaimOutcome(self, False, residual)
            if residual.is_zero is False:
                return ClaimOutcome(self, True, residual)
            if self.witness is None:
                return ClaimOutcome(self, False, residual)
            at_witness = sp.simplify(residual.xreplace(dict(self.witness)))
            return ClaimOutcome(self, at_witness.is_zero is False, at_witness)
        if self.kind in ("positive", "negative"):
            residual = sp.factor(sp.together(self.expression))
            decided = residual.is_positive if self.kind == "positive" else residual.is_negative
            return ClaimOutcome(self, decided is True, residual)
        value = sp.N(self.expression, 40)
        places = len(self.decimal.split(".")[1])  # type: ignore[union-attr]
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        return ClaimOutcome(self, str(rounded) == self.decimal, sp.Float(value, 20))


@dataclass(frozen=True)
class ClaimOutcome:
    claim: Claim
    held: bool
    residual: sp.Basic


@dataclass(frozen=True)
class Derivation:
    """The steps shown in the document and the claims that are checked."""

    steps: tuple[DerivationStep, ...]
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class TheoremResult:
    """The outcome of proving one theorem.

    ``residual`` is ``"0"`` for a held theorem whose claims are identities, the decided quantity for
    sign/rounding claims, and the first failing claim's simplified residual when ``held`` is False.
    """

    name: str
    statement: str
    held: bool
    residual: str
    assumptions: tuple[str, ...] = ()
    steps: tuple[DerivationStep, ...] = ()
    outcomes: tuple[ClaimOutcome, ...] = ()
    seconds: float = 0.0

    def line(self) -> str:
        """One line: name, statement, held / FAILED with the residual."""
        verdict = "held" if self.held else f"FAILED (residual: {self.residual})"
        return f"{self.name}: {self.statement} -- {verdict}"


@dataclass(frozen=True)
class Theorem:
    """A named theorem: statement, assumptions and a function building its derivation."""

    name: str
    statement: str
    assumptions: tuple[str, ...]
    derive: Callable[[], Derivation] = field(repr=False)

    def prove(self) -> TheoremResult:
        """Build the derivation and check every claim (all claims are checked, for the document)."""
        start = time.perf_counter()
        derivation = self.derive()
        outcomes = tuple(claim.check() for claim in derivation.claims)
        if not outcomes:
            failed: ClaimOutcome | None = None
            held = False
            residual = "no claims: nothing was proved"
        else:
            failed = next((o for o in outcomes if not o.held), None)
            held = failed is None
            residual = sp.sstr(failed.residual) if failed is not None else _held_residual(outcomes)
        return TheoremResult(
            self.name, self.statement, held, residual, self.assumptions, derivation.steps, outcomes,
            time.perf_counter() - start,
        )


def _held_residual(outcomes: tuple[ClaimOutcome, ...]) -> str:
    zero_claims = [o for o in outcomes if o.claim.kind == "zero"]
    return "0" if zero_claims else sp.sstr(outcomes[0].residual)


def simplify_residual(expr: sp.Expr) -> sp.Expr:
    """Reduce a residual to 0 when it is identically 0, trying cheap rewrites before ``simplify``."""
    for rewrite in (sp.expand, lambda e: sp.cancel(sp.together(e)), sp.simplify):
        expr = rewrite(expr)
        if expr == 0:
            return sp.Integer(0)
    return expr
