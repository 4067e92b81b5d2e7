"""The precision fingerprint: which formats an optimizer really computes and stores in, for one parameter format.

:func:`precision_fingerprint` takes what :func:`~adamw_oracle.check.identify.identify` already observed
(the probes' parameters and state in the parameter format ``D``, and the finest arithmetic/scalar
formats under which an algebraic convention fits them) and adds, for ``D`` other than float64, the
precision probes of :func:`~adamw_oracle.check.probes.precision_probes`. It reports

* ``arithmetic``: the format the step is computed in. For float64/float32 parameters it is the finest
  format whose allowance the identified convention fits (``float32`` for float64 parameters when a
  target casts to float32: then every parameter value also lies on the float32 grid, which is
  reported as evidence). For half formats it is read from the ``half_rounding`` probe judged by the
  error model (:func:`adamw_oracle.verify.judge`) under float32 arithmetic and under per-operation
  rounding to ``D``: the finest model that passes;
* ``state``: the coarsest format whose grid holds every observed state value with full-width
  significands (None when the target reports no state);
* ``scalars``: the format the hyperparameters are rounded to (``scalar_rounding`` probe);
* ``rounding`` of the parameter update: ``nearest``, ``compensated`` (Kahan summation), ``stochastic``
  or ``biased`` (the ``stagnation`` probe, see :mod:`adamw_oracle.check.probes`).

:meth:`PrecisionFingerprint.model` is the :class:`~adamw_oracle.contract.precision.PrecisionModel` to
judge the target under, when the contract has one for these formats; otherwise
:attr:`PrecisionFingerprint.outside_contract` says why (e.g. compensated summation, or float32
arithmetic for float64 parameters while the contract cannot express it).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.check.probes import Probe, precision_probes
from adamw_oracle.contract.case import Case, Implementation, Observation
from adamw_oracle.contract.conventions import Conventions
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference import mpf_to_fraction, run_trajectory
from adamw_oracle.verify import judge

ROUNDINGS = ("nearest", "compensated", "stochastic", "biased")
_HALF = (Dtype.BFLOAT16, Dtype.FLOAT16)
#: the precision probes are judged against the rigorous running bound itself (check's slack 2 would
#: let a one-ulp difference of per-operation rounding pass under float32 arithmetic)
_COARSE_FIRST = (Dtype.BFLOAT16, Dtype.FLOAT16, Dtype.FLOAT32, Dtype.FLOAT64)


@dataclass(frozen=True)
class PrecisionFingerprint:
    """The formats a target was seen to use for parameters in ``dtype`` (see the module docstring)."""

    dtype: Dtype
    arithmetic: Dtype
    state: Dtype | None
    scalars: Dtype
    rounding: str = "nearest"
    evidence: tuple[str, ...] = ()
    explained: bool = True  # False: no precision model of the contract explains the precision probes

    def model(self) -> PrecisionModel | None:
        """The contract's precision model for these formats (None: it has none, see :attr:`outside_contract`).

        Compensated summation and stochastic rounding are asked of the model by name
        (``param_summation="kahan"``, ``param_rounding="stochastic"``); a contract without those
        members, or without float32 arithmetic for float64 parameters, has no model for them.
        """
        if self.rounding == "biased" or not self.explained:
            return None
        extra: dict[str, dict[str, Any]] = {"compensated": {"param_summation": "kahan"},
                                            "stochastic": {"param_rounding": "stochastic"}}
        try:
            return PrecisionModel(self.arithmetic, self.state or self.arithmetic, self.dtype, scalars=self.scalars,
                                  **extra.get(self.rounding, {}))
        except (InvalidArgumentError, TypeError):  # TypeError: the contract has no such member
            return None

    @property
    def outside_contract(self) -> str | None:
        """Why the target cannot be judged by the contract's precision models in this format (None: it can)."""
        if self.model() is not None:
            return None
        if self.rounding == "compensated":
            return "parameters kept with compensated (Kahan) summation"
        if self.rounding in ("stochastic", "biased"):
            return f"{self.rounding} rounding of the parameters"
        if not self.explained:
            return "no precision model explains the precision probes"
        if self.arithmetic.format.precision < self.dtype.format.precision:
            return (f"{self.arithmetic.value} arithmetic for {self.dtype.value} parameters "
                    "(a precision model coarser than the parameter format)")
        return None

    def phrases(self) -> list[str]:
        """Short statements: "computes in float32 for float64 parameters", "state in float32", ..."""
        out = []
        d = self.dtype.value
        if self.arithmetic is not self.dtype:
            out.append(f"computes in {self.arithmetic.value} for {d} parameters")
        else:
            out.append(f"computes in {d}")
        if self.state is not None:
            out.append(f"state in {self.state.value}")
        usual = Dtype.FLOAT32 if self.arithmetic in _HALF else self.arithmetic  # PrecisionModel's default
        if self.scalars is not usual:
            out.append(f"hyperparameters (lr, betas) rounded to {self.scalars.value}")
        if self.rounding != "nearest":
            out.append({"compensated": "parameters kept with compensated (Kahan) summation",
                        "stochastic": "parameters rounded stochastically",
                        "biased": "parameters rounded with a bias (not to nearest)"}[self.rounding])
        if not self.explained:
            out.append("no precision model explains the precision probes")
        return out

    def describe(self) -> str:
        text = "; ".join(self.phrases())
        model = self.model()
        if model is not None:
            return f"{text} (judge under: {model.describe()})"
        return f"{text} -- outside the contract: {self.outside_contract}"

    def as_dict(self) -> dict[str, object]:
        model = self.model()
        return {"dtype": self.dtype.value, "arithmetic": self.arithmetic.value,
                "state": self.state.value if self.state else None, "scalars": self.scalars.value,
                "rounding": self.rounding, "explained": self.explained, "phrases": self.phrases(),
                "model": model.describe() if model else None, "outside_contract": self.outside_contract,
                "evidence": list(self.evidence)}


def full_width_on_grid(values: Sequence[float], fmt: Dtype, *, needed: int = 3) -> bool:
    """Whether every finite value lies on ``fmt``'s grid and at least ``needed`` distinct ones use
    (nearly) all of its significand bits -- so that short dyadic values (0, 1, 0.5) prove nothing."""
    wide = set()
    precision = fmt.format.precision
    for x in values:
        if not np.isfinite(x) or x == 0:
            continue
        exact = Fraction(float(x))
        if fmt.format.round(exact) != exact:
            return False
        significand = exact.numerator  # the denominator is a power of two: strip the numerator's twos
        while significand % 2 == 0:
            significand //= 2
        if abs(significand).bit_length() >= precision - 2:
            wide.add(float(x))
    return len(wide) >= needed


def grid_format(values: Sequence[float], dtype: Dtype) -> Dtype | None:
    """The coarsest format no finer than ``dtype`` on whose grid all ``values`` lie with full-width
    significands (None: too few informative values)."""
    for fmt in _COARSE_FIRST:
        if fmt.format.precision > dtype.format.precision:
            break
        if full_width_on_grid(values, fmt):
            return fmt
    return None


def observed_values(observations: Sequence[Observation], *, state: bool) -> list[float]:
    out: list[float] = []
    for obs in observations:
        if obs.error:
            continue
        if state:
            for arr in obs.state.values():
                out += [float(x) for x in np.asarray(arr, dtype=np.float64).ravel()]
        else:
            out += [float(x) for x in np.asarray(obs.params, dtype=np.float64).ravel()]
    return out


def precision_fingerprint(impl: Implementation, conventions: Conventions, dtype: Dtype, *,
                          observations: Sequence[Observation], arithmetic: Dtype, scalars: Dtype,
                          evidence: Sequence[str] = ()) -> PrecisionFingerprint:
    """The fingerprint of ``impl`` for ``dtype`` parameters, given the convention identified and the
    arithmetic/scalar formats under which it fits the algebraic probes (``observations``, run in
    ``dtype``; for half formats the algebra is identified from float32 runs and ``arithmetic`` is
    then decided here)."""
    notes = list(evidence)
    state_values = observed_values(observations, state=True)
    param_values = observed_values(observations, state=False)
    explained = True
    probes = precision_probes(dtype)
    runs = {p.name: impl.run(Case(p.driver_run(), dtype)) for p in probes}
    state_values += observed_values(list(runs.values()), state=True)
    state = grid_format(state_values, dtype) if state_values else None
    if state is not None:
        notes.append(f"state: every observed m/v value lies on the {state.value} grid")
    if dtype not in _HALF and arithmetic is not dtype:
        on = grid_format(param_values, dtype)
        if on is not None and on.format.precision <= arithmetic.format.precision:
            notes.append(f"parameters: every observed value lies on the {on.value} grid "
                         f"({len(param_values)} values): the update is computed in {arithmetic.value}")
        else:
            notes.append(f"parameters: the probes fit only a {arithmetic.value} allowance, but the parameters are off "
                         f"the {arithmetic.value} grid: {dtype.value} arithmetic on scalars formed in {scalars.value}")
            arithmetic = dtype
    rounding = "nearest"
    if "stagnation" in runs:
        rounding, note = _rounding(runs["stagnation"], next(p for p in probes if p.name == "stagnation"), conventions, dtype)
        notes.append(note)
    if dtype in _HALF:
        arithmetic, scalars, explained, note = _half_arithmetic(
            [(runs[p.name], p) for p in probes if p.aspect == "arithmetic"], conventions, dtype, state, rounding)
        notes.append(note)
        if rounding != "nearest":
            explained = True  # the rounding, not the arithmetic, is what the contract may lack
    return PrecisionFingerprint(dtype, arithmetic, state, scalars, rounding, tuple(notes), explained)


def _half_arithmetic(runs: Sequence[tuple[Observation, Probe]], conventions: Conventions, dtype: Dtype,
                     state: Dtype | None, rounding: str = "nearest") -> tuple[Dtype, Dtype, bool, str]:
    """(arithmetic, scalars, explained, evidence) for half-precision parameters: the finest model
    under which the error model passes every ``half_rounding`` probe. A target that rounds its
    parameters stochastically is judged under models with stochastic rounding when the contract has
    them, else under round-to-nearest models with slack 2 (a stochastic rounding errs by less than one
    spacing, twice the half spacing of rounding to nearest)."""
    for obs, probe in runs:
        if obs.error:
            return dtype, Dtype.FLOAT32, False, f"{probe.name}: target failed ({obs.error})"
    stored = state or Dtype.FLOAT32
    ladder = [(Dtype.FLOAT32, Dtype.FLOAT32), (dtype, Dtype.FLOAT32), (dtype, dtype)]
    tried = []
    for arithmetic, scalars in ladder:
        model_state = stored if arithmetic is Dtype.FLOAT32 else (state or dtype)
        model = PrecisionModel(arithmetic, model_state, dtype, scalars=scalars)
        slack = 1
        if rounding == "stochastic":
            extra: dict[str, Any] = {"param_rounding": "stochastic"}
            try:
                model = PrecisionModel(arithmetic, model_state, dtype, scalars=scalars, **extra)
            except (InvalidArgumentError, TypeError):  # no stochastic model for these formats (or at all)
                slack = 2
        outside, total = 0, 0
        for obs, probe in runs:
            run = probe.candidate_run(conventions, None)
            assert run is not None
            outside += judge(Case(run, dtype), obs, precision=model, slack=slack).counts["outside"]
            total += run.size * run.steps
        tried.append(f"{model.describe()}{', slack 2' if slack == 2 else ''}: {outside} of {total} outside")
        if outside == 0:
            return arithmetic, scalars, True, "half_rounding: passes under " + "; fails under ".join(reversed(tried))
    return dtype, dtype, False, "half_rounding: fails under every model (" + "; ".join(tried) + ")"


def _rounding(obs: Observation, probe: Probe, conventions: Conventions, dtype: Dtype) -> tuple[str, str]:
    """How the parameter update is rounded (``stagnation`` probe; see the module docstring)."""
    if obs.error or obs.params.size == 0:
        return "nearest", f"stagnation: target failed ({obs.error})"
    run = probe.candidate_run(conventions, None)
    assert run is not None
    exact = float(mpf_to_fraction(run_trajectory(run).steps[-1][0].p_new))
    final = np.asarray(obs.params[-1], dtype=np.float64)
    spacing = float(Fraction(1, 2 ** dtype.format.precision))
    start = float(probe.params[0])
    text = (f"stagnation: {len(final)} parameters at 1, 8 updates of a quarter spacing: observed "
            f"{', '.join(sorted({f'{x:.9g}' for x in final}))}; exact {exact:.9g}; round-to-nearest stays at {start:g}")
    if np.all(final == start):
        return "nearest", text
    if np.unique(final).size > 1:
        return "stochastic" if abs(float(np.mean(final)) - exact) <= 2 * spacing else "biased", text
    return ("compensated" if abs(float(final[0]) - exact) <= 2 * spacing else "biased"), text
