"""Check an optimizer on one long tensor: a small case tiled across ``total`` elements.

Some kernels treat elements differently by position: torch's CUDA foreach and fused optimizers split a
tensor into chunks of 65,536 elements, with vectorised loads inside a chunk and a scalar tail. A case
drawn by ``check`` has a handful of elements, far below that boundary, and the exact reference of a
65,537-element case is too slow to draw many of. :class:`TiledImplementation` bridges the two: for a
case of ``n`` elements it runs the wrapped optimizer once on a tensor of ``total`` elements, where
element ``j`` holds case element ``j mod n`` (its initial value and its gradients), and folds the result
back to ``n`` elements.

Folding is exact. Every copy of case element ``i`` has the same inputs, so the same exact trajectory and
the same error bound; the judge's verdict on a copy depends only on the copy's own output. When all
copies of every element agree bit for bit (NaNs compared as NaN), the folded observation holds that
common trajectory and judging it judges all ``total`` elements. When copies disagree (a position-dependent
result), the distinct variants are judged as ``n``-element observations, variant ``k`` of every element
together, and the observation returned is the first one with a finding, else the one nearest its bound:
a variant of any element outside its bound therefore fails the case, and a case passes only when every
copy is within its bound. :attr:`TiledImplementation.position_dependent` counts such cases.

The wrapped implementation must offer ``run_arrays(case, params, grads)`` (the torch adapters do).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.errors import InvalidArgumentError


class TiledImplementation:
    """``inner`` run on ``total`` elements per case, each case element tiled across them (module docstring)."""

    def __init__(self, inner: Any, total: int, *, precision: Any = None, name: str | None = None) -> None:
        """``precision`` is the judge's precision model for variant selection (default: what ``inner``
        declares through ``precision_model(dtype)``, else the judge's default; pass the one given to
        ``check_target`` when it is not the default).

        Raises:
            InvalidArgumentError: ``total`` is not an int >= 1, or ``inner`` has no ``run_arrays``.
        """
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise InvalidArgumentError("total", total, "an int >= 1 (elements of the tiled tensor)")
        if not callable(getattr(inner, "run_arrays", None)):
            raise InvalidArgumentError("inner", getattr(inner, "name", type(inner).__name__),
                                       "an implementation with run_arrays(case, params, grads) (the torch adapters)")
        self.inner = inner
        self.total = total
        self.precision = precision
        self.name = name or f"{inner.name} x{total}"
        self.position_dependent = 0
        for attribute in ("capabilities", "families", "dtypes"):
            if hasattr(inner, attribute):
                setattr(self, attribute, getattr(inner, attribute))
        inner_caps = getattr(inner, "capabilities", None)
        if inner_caps is not None:  # run_arrays takes no state: a tiled target starts fresh
            self.capabilities: frozenset[Capability] = frozenset(inner_caps) - {Capability.SEEDED_STATE}

    def versions(self) -> dict[str, str]:
        getter = getattr(self.inner, "versions", None)
        return dict(getter()) if callable(getter) else {}

    def precision_model(self, dtype: Any) -> Any:
        declare = getattr(self.inner, "precision_model", None)
        return declare(dtype) if callable(declare) else None

    def run(self, case: Case) -> Observation:
        n = case.run.size
        if n == 0 or n >= self.total:  # already as long as the tiled tensor: run it as it is
            return self.inner.run(case)
        index = np.arange(self.total) % n
        big = self.inner.run_arrays(case, case.initial_params()[index], case.gradients()[:, index])
        if big.error is not None:
            return Observation(np.zeros((0, n)), error=big.error, findings=big.findings)
        params = np.asarray(big.params, dtype=np.float64)
        variants = [_variants(params[:, i::n]) for i in range(n)]  # per element: positions (within its copies)
        count = max(len(v) for v in variants)
        observations = [self._fold(big, n, [i + n * v[min(k, len(v) - 1)] for i, v in enumerate(variants)])
                        for k in range(count)]
        if count == 1:
            return observations[0]
        self.position_dependent += 1
        return self._worst(case, observations)

    @staticmethod
    def _fold(big: Observation, n: int, positions: list[int]) -> Observation:
        params = np.asarray(big.params, dtype=np.float64)[:, positions].reshape(-1, n)
        state = {key: np.asarray(value, dtype=np.float64).reshape(-1)[positions] for key, value in big.state.items()}
        comp = None if big.compensation is None else np.asarray(big.compensation, dtype=np.float64)[:, positions].reshape(-1, n)
        return Observation(params, state, findings=big.findings, compensation=comp)  # Kahan: the copies' compensation

    def _worst(self, case: Case, observations: list[Observation]) -> Observation:
        from adamw_oracle.verify import judge  # heavy or optional

        precision = self.precision if self.precision is not None else self.precision_model(case.dtype)
        worst, worst_fraction = observations[0], -1.0
        for observation in observations:
            verdict = judge(case, observation, precision=precision) if precision is not None else judge(case, observation)
            if verdict.first_failure is not None or getattr(verdict, "error", None):
                return observation
            if verdict.max_fraction_of_bound > worst_fraction:
                worst, worst_fraction = observation, verdict.max_fraction_of_bound
        return worst


def _variants(copies: np.ndarray) -> list[int]:
    """Column indices of the distinct trajectories among ``copies`` (steps x copies), first occurrences,
    in order; NaNs of any payload count as one value."""
    bits = np.where(np.isnan(copies), np.nan, copies).view(np.uint64)
    if bool((bits == bits[:, :1]).all()):  # the usual case, without sorting 65,536 columns
        return [0]
    _, first = np.unique(bits.T, axis=0, return_index=True)
    return sorted(int(j) for j in first)
