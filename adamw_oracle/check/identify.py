"""Black-box identification: which convention does an optimizer implement?

:func:`identify` runs the designed probes of :mod:`adamw_oracle.check.probes` through the target, and
compares each observed trajectory with what every candidate convention predicts (computed by the
reference layer). A candidate is *consistent* with a probe when, at every step k (0-based) and element,

    |observed - predicted| <= PROBE_SLACK * u * (k + 1) * (|p| + |update| + |decay| + |p_new|)

where u is the unit roundoff of the probe dtype and the quantities are the candidate's reference
intermediates. This is a first-order forward-error allowance for the few dozen roundings of a step on
these well-conditioned probes (no cancellation, sqrt(v) far from eps), and it also covers the float64
or dtype rounding of the hyperparameters; the probes separate the candidates by relative amounts of
1e-4 or more, far outside it. The candidates consistent with every probe are the identification; the
preset(s) with exactly those conventions name it. If none is consistent, the closest candidates are
reported with their distance in multiples of the allowance.

Candidates indistinguishable through a framework's interface are merged: decay scaled by the schedule
multiplier only is the unscaled form at multiplier 1 (no framework here has a separate schedule), and
inside-root eps with eps_root=0 is after-root eps.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from adamw_oracle.adapters.registry import resolve_target
from adamw_oracle.check.probes import Probe, probes_for
from adamw_oracle.contract.capabilities import Capability, capabilities_of, capability_names
from adamw_oracle.contract.case import Case, Implementation, Observation
from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    WeightDecay,
)
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.presets import PRESETS
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference import PointBackend, mpf_to_fraction, run_trajectory

PROBE_SLACK = 64
_PREC = 160


@dataclass(frozen=True)
class Candidate:
    """A convention (AMSGrad off) plus the AMSGrad form used when the flag is on (None: not probed)."""

    conventions: Conventions
    amsgrad_form: AmsGrad | None

    def describe(self) -> str:
        c = self.conventions
        parts = [f"weight_decay={c.weight_decay.value}"]
        if c.weight_decay.is_decoupled:
            parts.append(f"decay_target={c.decay_target.value}")
        parts += [f"eps_placement={c.eps_placement.value}", f"bias_correction={c.bias_correction.value}"]
        if self.amsgrad_form is not None:
            parts.append(f"amsgrad_form={self.amsgrad_form.value}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ProbeEvidence:
    """What one probe showed: observed values, and what each alternative of its aspect predicts."""

    probe: str
    question: str
    observed: tuple[float, ...]
    predictions: dict[str, tuple[float, ...]]
    matching: tuple[str, ...]
    error: str | None = None

    def describe(self) -> str:
        if self.error:
            return f"{self.probe}: target failed ({self.error})"
        obs = ", ".join(f"{x:.9g}" for x in self.observed)
        alts = "; ".join(f"{name} -> {', '.join(f'{x:.9g}' for x in vals)}" + (" (match)" if name in self.matching else "")
                         for name, vals in self.predictions.items())
        return f"{self.probe}: {self.question} observed {obs}; {alts}"


@dataclass(frozen=True)
class Identification:
    """The result of :func:`identify`.

    * ``conventions``: the identified conventions (AMSGrad off), None if nothing was consistent.
    * ``amsgrad_form``: the AMSGrad form found with the amsgrad flag on (None if the target has none).
    * ``presets``: names of presets with exactly these conventions (and AMSGrad form, when probed).
    * ``maximize_honoured``: whether ``maximize=True`` negated the gradient (None: no such option).
    * ``closest``: when nothing matched, up to three (candidate, distance) pairs, distance in multiples
      of the probe allowance (1 would be a match).
    """

    target: str
    dtype: Dtype
    capabilities: frozenset[Capability]
    conventions: Conventions | None
    amsgrad_form: AmsGrad | None
    presets: tuple[str, ...]
    evidence: tuple[ProbeEvidence, ...]
    maximize_honoured: bool | None = None
    alternatives: tuple[Candidate, ...] = ()
    closest: tuple[tuple[Candidate, float], ...] = ()

    @property
    def identified(self) -> bool:
        return self.conventions is not None

    @property
    def expected(self) -> str | Conventions | None:
        """What to pass as ``check_target(expect=...)``: the preset name if one matches, else the conventions."""
        if self.presets:
            return self.presets[0]
        return self.conventions

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "dtype": self.dtype.value, "capabilities": capability_names(self.capabilities),
            "identified": self.identified,
            "conventions": self.conventions.as_dict() if self.conventions else None,
            "amsgrad_form": self.amsgrad_form.value if self.amsgrad_form else None,
            "presets": list(self.presets), "maximize_honoured": self.maximize_honoured,
            "evidence": [{"probe": e.probe, "question": e.question, "observed": list(e.observed),
                          "predictions": {k: list(v) for k, v in e.predictions.items()},
                          "matching": list(e.matching), "error": e.error} for e in self.evidence],
            "closest": [{"conventions": c.describe(), "distance": d} for c, d in self.closest],
        }

    def describe(self) -> str:
        lines = [f"identify {self.target} (probes in {self.dtype.value}; options: {', '.join(capability_names(self.capabilities)) or 'none'})"]
        if self.identified:
            cand = Candidate(self.conventions, self.amsgrad_form)  # type: ignore[arg-type]
            lines.append(f"  convention: {cand.describe()}")
            lines.append("  preset:     " + (" = ".join(self.presets) if self.presets else "none (explicit choices above)"))
            if len(self.alternatives) > 1:
                lines.append(f"  ({len(self.alternatives)} equivalent descriptions fit; the first is shown)")
        else:
            lines.append("  no convention fits every probe; closest:")
            for cand, dist in self.closest:
                lines.append(f"    {cand.describe()}  (off by {dist:.3g} x the allowance)")
        if self.maximize_honoured is not None:
            lines.append(f"  maximize:   {'honoured' if self.maximize_honoured else 'NOT honoured'}")
        lines.append("  evidence:")
        lines += [f"    - {e.describe()}" for e in self.evidence]
        return "\n".join(lines)


def candidate_space(capabilities: frozenset[Capability]) -> list[Candidate]:
    """Every distinguishable Adam convention for a target with these options."""
    decays: list[tuple[WeightDecay, DecayTarget]] = [(WeightDecay.NONE, DecayTarget.PREVIOUS_PARAM)]
    if Capability.WEIGHT_DECAY in capabilities:
        decays.append((WeightDecay.COUPLED_L2, DecayTarget.PREVIOUS_PARAM))
        decays += [(wd, t) for wd in (WeightDecay.DECOUPLED_LR, WeightDecay.DECOUPLED_UNSCALED) for t in DecayTarget]
    eps_forms = [EpsPlacement.AFTER_ROOT, EpsPlacement.EPSILON_HAT]
    if Capability.EPS_ROOT in capabilities:
        eps_forms.append(EpsPlacement.INSIDE_ROOT)
    ams_forms: list[AmsGrad | None] = [AmsGrad.MAX_RAW_V, AmsGrad.MAX_V_HAT] if Capability.AMSGRAD in capabilities else [None]
    out = []
    for wd, target in decays:
        for eps in eps_forms:
            for bias in BiasCorrection:
                if eps is EpsPlacement.EPSILON_HAT and bias is BiasCorrection.OFF:
                    continue  # identical to after-root without bias correction
                for ams in ams_forms:
                    out.append(Candidate(Conventions(Family.ADAM, wd, target, eps, bias), ams))
    return out


def _predict(probe: Probe, cand: Candidate, dtype: Dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """(predicted p_new per step/element, allowance per step/element) or None if not applicable."""
    run = probe.candidate_run(cand.conventions, cand.amsgrad_form)
    if run is None:
        return None
    tr = run_trajectory(run, PointBackend(_PREC))
    u = float(dtype.format.unit_roundoff)
    pred = np.array([[float(mpf_to_fraction(e.p_new)) for e in row] for row in tr.steps])
    scale = np.array([[sum(abs(float(mpf_to_fraction(q))) for q in (e.p, e.update, e.decay, e.p_new)) for e in row]
                      for row in tr.steps])
    steps = np.arange(1, len(tr.steps) + 1)[:, None]
    return pred, PROBE_SLACK * u * steps * scale


def _distance(observed: Observation, predicted: tuple[np.ndarray, np.ndarray]) -> float:
    pred, tol = predicted
    obs = observed.params
    if observed.error or obs.shape != pred.shape:
        return math.inf
    both_nan = np.isnan(obs) & np.isnan(pred)
    with np.errstate(invalid="ignore"):
        diff = np.where(both_nan, 0.0, np.abs(obs - pred))
    diff = np.where(np.isnan(diff), np.inf, diff)
    return float(np.max(diff / np.maximum(tol, np.finfo(float).tiny)))


def _probe_dtype(impl: Implementation) -> Dtype:
    dtypes = getattr(impl, "dtypes", None)
    if dtypes is None or Dtype.FLOAT64 in dtypes:
        return Dtype.FLOAT64
    return Dtype.FLOAT32


def _aspect_value(cand: Candidate, aspect: str) -> str:
    if aspect == "amsgrad_form":
        return cand.amsgrad_form.value if cand.amsgrad_form else "none"
    if aspect == "maximize":
        return "honoured"
    value = getattr(cand.conventions, aspect)
    return value.value


def _vary(best: Candidate, aspect: str, space: list[Candidate]) -> list[Candidate]:
    """Candidates equal to ``best`` except in ``aspect`` (decay aspects vary decay kind and target)."""
    def key(c: Candidate, skip: set[str]) -> tuple:
        conv = c.conventions.as_dict()
        return tuple(v for k, v in sorted(conv.items()) if k not in skip) + (
            () if "amsgrad_form" in skip else (c.amsgrad_form,))
    skip = {"weight_decay", "decay_target"} if aspect in ("weight_decay", "decay_target") else {aspect}
    if aspect == "eps_placement":
        skip.add("bias_correction")
    return [c for c in space if key(c, skip) == key(best, skip)]


def identify(target: Any, *, dtype: Dtype | str | None = None, options: Mapping[str, Any] | None = None) -> Identification:
    """Fingerprint ``target`` (built-in name, ``module:attribute`` -- e.g. an optimizer class by import
    path, ``torch.optim:AdamW`` -- or Implementation) with the probes.

    ``dtype`` is the format the probes run in (default float64 when the target runs it, else float32):
    probe in the format the target computes in. The allowance then uses that format's unit roundoff,
    so a target that computes in float32 whatever its parameters' format is identified with
    ``dtype="float32"`` (in float64 its float32 rounding is ~1e8 allowances off every candidate).
    ``options`` are fixed constructor arguments of an optimizer class or factory given by import path.

    Guarantees:

    * every predicted value comes from the reference layer for the candidate convention;
    * the result names a preset only if the preset's conventions (and AMSGrad form) equal the
      identified ones;
    * the target's exceptions become evidence (``error``), never propagate.

    Raises:
        InvalidArgumentError: the target declares (``families``) that it is not an Adam-family
            optimizer (e.g. ``torch.SGD``): the probes fingerprint Adam-family conventions only; or
            ``dtype`` is not a format the target declares it runs.
    """
    impl = resolve_target(target, options=options)
    families = getattr(impl, "families", None)
    if families is not None and Family.ADAM not in families:
        raise InvalidArgumentError(
            "target", impl.name, "an Adam-family optimizer: identify probes Adam-family conventions only",
            hint="check an SGD-family target against its preset instead: check_target(target, expect='torch.SGD') "
                 "or adamw-oracle check TARGET --expect torch.SGD")
    caps = capabilities_of(impl)
    probe_dtype = Dtype.parse(dtype) if dtype is not None else _probe_dtype(impl)
    supported = getattr(impl, "dtypes", None)
    if supported is not None and probe_dtype not in supported:
        raise InvalidArgumentError("dtype", probe_dtype.value, f"one of {', '.join(d.value for d in supported)} for {impl.name}")
    probes = [p for p in probes_for(caps) if p.aspect != "maximize"]
    space = candidate_space(caps)
    observations = {p.name: impl.run(Case(p.driver_run(), probe_dtype)) for p in probes}
    predictions = {(p.name, c): _predict(p, c, probe_dtype) for p in probes for c in space}
    score: dict[Candidate, float] = {}
    for c in space:
        # a probe the target failed (exception, hang, garbage) counts as infinitely far from every candidate
        dists = [_distance(observations[p.name], pr) for p in probes if (pr := predictions[(p.name, c)]) is not None]
        score[c] = max(dists, default=0.0)
    consistent = [c for c in space if score[c] <= 1.0]
    best = consistent[0] if consistent else min(space, key=lambda c: score[c])
    evidence = []
    for p in probes:
        obs = observations[p.name]
        alts = _vary(best, p.aspect, space)
        preds: dict[str, tuple[float, ...]] = {}
        matching = []
        for alt in alts:
            pr = predictions[(p.name, alt)]
            if pr is None:
                continue
            label = _label(alt, p.aspect)
            if label in preds:
                continue
            preds[label] = tuple(float(x) for x in pr[0][-1])
            if _distance(obs, pr) <= 1.0:
                matching.append(label)
        observed = tuple(float(x) for x in obs.params[-1]) if obs.params.size and not obs.error else ()
        evidence.append(ProbeEvidence(p.name, p.question, observed, preds, tuple(matching), obs.error))
    maximize_honoured = None
    if Capability.MAXIMIZE in caps and consistent:
        mp = next(p for p in probes_for(caps) if p.aspect == "maximize")
        mobs = impl.run(Case(mp.driver_run(), probe_dtype))
        pr = _predict(mp, best, probe_dtype)
        maximize_honoured = pr is not None and _distance(mobs, pr) <= 1.0
        plain = _predict(replace(mp, maximize=False), best, probe_dtype)
        evidence.append(ProbeEvidence(
            mp.name, mp.question, tuple(float(x) for x in mobs.params[-1]) if mobs.params.size and not mobs.error else (),
            {"honoured": tuple(float(x) for x in pr[0][-1]) if pr else (),
             "ignored": tuple(float(x) for x in plain[0][-1]) if plain else ()},
            ("honoured",) if maximize_honoured else (("ignored",) if plain and _distance(mobs, plain) <= 1.0 else ()),
            mobs.error))
    if not consistent:
        ranked = sorted(space, key=lambda c: score[c])[:3]
        return Identification(impl.name, probe_dtype, caps, None, None, (), tuple(evidence), maximize_honoured,
                              closest=tuple((c, score[c]) for c in ranked))
    return Identification(impl.name, probe_dtype, caps, best.conventions, best.amsgrad_form,
                          _matching_presets(best, impl.name), tuple(evidence), maximize_honoured, tuple(consistent))


def _label(cand: Candidate, aspect: str) -> str:
    if aspect in ("weight_decay", "decay_target"):
        c = cand.conventions
        return c.weight_decay.value + (f"/{c.decay_target.value}" if c.weight_decay.is_decoupled else "")
    if aspect == "eps_placement":
        return f"{cand.conventions.eps_placement.value}/bias {cand.conventions.bias_correction.value}"
    return _aspect_value(cand, aspect)


def _matching_presets(cand: Candidate, target_name: str) -> tuple[str, ...]:
    names = []
    for name, p in PRESETS.items():
        if p.conventions.family is not Family.ADAM or p.conventions.amsgrad is not AmsGrad.OFF:
            continue
        if p.conventions != cand.conventions:
            continue
        if cand.amsgrad_form is not None and p.amsgrad_form is not cand.amsgrad_form:
            continue
        names.append(name)
    base = target_name.split("[", 1)[0]
    names.sort(key=lambda n: (n != base, n))
    return tuple(names)
