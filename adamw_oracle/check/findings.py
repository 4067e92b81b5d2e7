"""What can be wrong with one case, as named findings.

Kinds, in the order they are decided for one observation:

* ``exception``: the optimizer raised (the adapter's error text names the exception and where);
* ``timeout``: no answer within the per-case time limit (the process was killed);
* ``bad_output``: wrong shape, wrong dtype, or output that is not numbers;
* ``mutated_input``: the optimizer modified the gradient (or parameter) arrays it was given in place;
* ``nonfinite``: NaN or infinity where the exact result is finite;
* ``outside_bound``: a finite value farther from the exact result than the error model allows;
* ``checker_error``: the judge itself failed on the case (a defect of adamw-oracle, reported as such).

Ill-conditioned elements (where the error model's derivation does not hold) are counted by the judge
and are not findings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adamw_oracle.contract.case import Observation

KINDS = ("exception", "timeout", "bad_output", "mutated_input", "nonfinite", "outside_bound", "checker_error")


@dataclass(frozen=True)
class Finding:
    """One problem: its kind, a one-line message, and (when it is about a value) where it happened."""

    kind: str
    message: str
    step: int | None = None
    element: int | None = None

    def describe(self) -> str:
        where = f" [step {self.step}, element {self.element}]" if self.step is not None else ""
        return f"{self.kind}{where}: {self.message}"

    def __str__(self) -> str:
        return self.describe()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "step": self.step, "element": self.element}


def classify(observation: Observation, judgement: Any | None) -> list[Finding]:
    """The findings of one observation given its judgement (``None`` when the run itself failed)."""
    out: list[Finding] = []
    if observation.error is not None:
        err = observation.error
        if err.startswith("timeout"):
            kind = "timeout"
        elif err.startswith("bad output"):
            kind = "bad_output"
        else:
            kind = "exception"
        out.append(Finding(kind, err))
    out += [Finding("mutated_input", text) for text in observation.findings]
    if observation.error is None and judgement is not None:
        if getattr(judgement, "error", None):
            out.append(Finding("bad_output", judgement.error))
        failure = judgement.first_failure
        if failure is not None:
            kind = "nonfinite" if not math.isfinite(failure.observed) else "outside_bound"
            quantity = getattr(failure, "quantity", "param")
            what = "" if quantity == "param" else f"stored state {quantity}: "
            msg = (f"{what}implementation {failure.observed!r}, exact {float(failure.exact)!r}, bound ±{failure.bound:.3g}, "
                   f"error {failure.ulps:.4g} ulp ({failure.fraction_of_bound:.3g}x the bound)")
            out.append(Finding(kind, msg, failure.step, failure.element))
    return out
