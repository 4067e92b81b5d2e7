"""The two cross-layer comparisons of the three-way fuzz, one case at a time.

* :func:`symbolic_disagreements` -- reference vs symbolic at working precision: for the same exact
  inputs, the reference step in interval arithmetic (``IntervalBackend``) and the symbolic step in
  interval arithmetic (``symbolic.interval_step``) each enclose the exact value of every quantity, so
  the two enclosures must overlap. Any quantity whose enclosures are disjoint is a real disagreement;
  no tolerance is involved.
* :func:`implementations_under_bound` -- the GPU host build and the numpy implementations judged by
  the error model, each with the precision model of the arithmetic it documents.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case, Implementation, Observation
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.precision import ParamSummation, PrecisionModel
from adamw_oracle.contract.state import OptimizerState
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.backends import IntervalBackend, PointBackend, interval_ends, mpf_to_fraction
from adamw_oracle.reference.records import ADAM_FIELDS, SGD_FIELDS
from adamw_oracle.reference.trajectory import run_trajectory, step_elements
from adamw_oracle.verify.error_model import BoundedTrajectory, bounded_trajectory
from adamw_oracle.verify.judge import Judgement, judge

SYMBOLIC_PREC = 256


@cache
def _backends(prec: int) -> tuple[PointBackend, IntervalBackend]:
    # each backend owns a private mpmath context whose precision is never changed after creation
    return PointBackend(prec), IntervalBackend(prec)


@dataclass(frozen=True)
class Disagreement:
    """Reference and symbolic enclosures of ``quantity`` that do not overlap."""

    step: int
    element: int
    quantity: str
    reference: tuple[Any, Any]
    symbolic: tuple[Any, Any]

    def describe(self) -> str:
        return (f"reference vs symbolic: {self.quantity}[step={self.step}, element={self.element}] "
                f"reference in [{float(self.reference[0])!r}, {float(self.reference[1])!r}] but symbolic in "
                f"[{float(self.symbolic[0])!r}, {float(self.symbolic[1])!r}]")


def checked_steps(steps: int, limit: int = 3) -> list[int]:
    """0-based step indices compared with the symbolic layer: the first two and the last."""
    chosen = sorted({0, 1, steps - 1} & set(range(steps)))
    return chosen[:limit]


def symbolic_disagreements(case: Case, step_function: Callable[..., Any], *, max_elements: int = 4,
                           step_for: Callable[[Any], Callable[..., Any]] | None = None) -> list[Disagreement]:
    """Quantities where the reference and symbolic enclosures are disjoint (see the module docstring).

    ``step_function`` is ``symbolic.interval_step(config)``. A run with a per-step schedule needs
    ``step_for`` (``symbolic.interval_step`` itself): step k is then compared with
    ``step_for(run.config_at(k))``, the symbolic step of that step's multiplier. The inputs of step k are the exact
    rationals of the 256-bit reference trajectory's state before step k (both layers get the same).
    """
    run = case.run
    if run.size == 0 or any(not isinstance(g, Fraction) for row in run.gradients for g in row):
        return []
    config = run.config
    if run.schedule is not None and step_for is None:
        raise InvalidArgumentError("step_for", None, "symbolic.interval_step (the run has a per-step schedule)")
    steps_by_config: dict[Any, Callable[..., Any]] = {config: step_function}
    fields = ADAM_FIELDS if config.conventions.family is Family.ADAM else SGD_FIELDS
    point_backend, iv = _backends(SYMBOLIC_PREC)
    point = run_trajectory(run, point_backend)
    st = run.initial_state
    assert st is not None
    n = min(run.size, max_elements)
    out: list[Disagreement] = []
    for k in checked_steps(run.steps):
        if k == 0:
            p: list[Fraction | float] = list(run.initial_params[:n])
            m: list[Fraction | float] = list(st.m[:n])
            v: list[Fraction | float] = list(st.v[:n])
            vmax: list[Fraction | float] = list(st.vmax[:n])
        else:
            prev = point.steps[k - 1][:n]
            p = [mpf_to_fraction(e.p_new) for e in prev]
            m = [mpf_to_fraction(e.m) for e in prev]
            v = [mpf_to_fraction(e.v) if e.v is not None else Fraction(0) for e in prev]
            vmax = [mpf_to_fraction(e.vmax) if e.vmax is not None else Fraction(0) for e in prev]
        grads = run.gradients[k][:n]
        t = run.t_at(k)
        state = OptimizerState(t - 1, [iv.const(x) for x in m], [iv.const(x) for x in v], [iv.const(x) for x in vmax])
        step_config = run.config_at(k)
        if step_config not in steps_by_config:
            assert step_for is not None
            steps_by_config[step_config] = step_for(step_config)
        ref = step_elements(iv, step_config, [iv.const(x) for x in p], [iv.const(g) for g in grads], state)
        for i in range(n):
            sym = steps_by_config[step_config](p[i], grads[i], m[i], v[i], vmax[i], t, prec=SYMBOLIC_PREC)
            for name in fields:
                r_lo, r_hi = interval_ends(getattr(ref[i], name))
                s_lo, s_hi = interval_ends(sym[name])
                if r_hi < s_lo or s_hi < r_lo:
                    out.append(Disagreement(k + 1, i, name, (r_lo, r_hi), (s_lo, s_hi)))
    return out


def natural_precision(implementation: Implementation, case: Case) -> PrecisionModel:
    """The precision model an implementation declares (``precision_model(dtype)``: numpy's variants, the
    GPU host build, adapters); else (or when it declares None) float32 arithmetic on half storage."""
    declare = getattr(implementation, "precision_model", None)
    model = declare(case.dtype) if callable(declare) else None
    return model if isinstance(model, PrecisionModel) else PrecisionModel.mixed(case.dtype)


def implementations_under_bound(case: Case, implementations: Sequence[Implementation]) -> list[tuple[Implementation, Judgement]]:
    """Judge every implementation on ``case``; the bound is computed once per precision model."""
    cache: dict[PrecisionModel, BoundedTrajectory] = {}
    out = []
    for impl in implementations:
        model = natural_precision(impl, case)
        if model not in cache and model.param_summation is ParamSummation.PLAIN:  # Kahan: judge() bounds it
            cache[model] = bounded_trajectory(case, model)
        try:
            observation = impl.run(case)
        except Exception as exc:  # an implementation that raises is a finding, not a crash of the fuzz


            observation = Observation(np.empty((0, case.run.size)), error=f"{type(exc).__name__}: {exc}")
        out.append((impl, judge(case, observation, precision=model, bounds=cache.get(model))))
    return out
