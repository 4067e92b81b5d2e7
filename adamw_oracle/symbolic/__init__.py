"""The symbolic layer: sympy proofs of the AdamW identities and a second formulation of the step.

* :func:`prove_all` -- prove every theorem (T1-T12); a list of :class:`TheoremResult`
  (``name``, ``statement``, ``held``, ``residual``).
* :func:`lambdified_step` -- the symbolic one-step update of a configuration, evaluated in a private
  mpmath context: ``fn(p, g, m, v, vmax, t, *, prec=256) -> dict[str, mpf]``.
* :func:`interval_step` -- the same in interval arithmetic (enclosures of the exact values).
* :func:`adam_step` / :func:`sgd_step` -- the step expressions themselves (sympy).
* :func:`render_markdown` / :func:`render_latex` -- the derivations document.
"""
from adamw_oracle.symbolic.catalog import THEOREMS, prove_all
from adamw_oracle.symbolic.lambdified import StepFunction, interval_step, lambdified_step
from adamw_oracle.symbolic.render import render_latex, render_markdown, stale_documents, write_documents
from adamw_oracle.symbolic.step import adam_step, sgd_step
from adamw_oracle.symbolic.theorem import Claim, Derivation, DerivationStep, Theorem, TheoremResult

__all__ = [
    "Claim", "Derivation", "DerivationStep", "StepFunction", "THEOREMS", "Theorem", "TheoremResult", "adam_step",
    "interval_step", "lambdified_step", "prove_all", "render_latex", "render_markdown", "sgd_step",
    "stale_documents", "write_documents",
]
