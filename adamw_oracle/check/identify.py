"""Black-box identification: which convention does an optimizer implement?

:func:`identify` runs the designed probes of :mod:`adamw_oracle.check.probes` through the target, and
compares each observed trajectory with what every candidate convention predicts (computed by the
reference layer). A candidate is *consistent* with a probe when, at every step k (0-based) and element,

    |observed - predicted| <= PROBE_SLACK * u * (k + 1) * (|p| + |update| + |decay| + |p_new|)

where u is the unit roundoff of the hypothesised arithmetic format and the quantities are the
candidate's reference intermediates. This is a first-order forward-error allowance for the few dozen roundings of a step on
these well-conditioned probes (no cancellation, sqrt(v) far from eps), and it also covers the float64
or dtype rounding of the hyperparameters; the probes separate the candidates by relative amounts of
1e-4 or more, far outside it. The candidates consistent with every probe are the identification; the
preset(s) with those conventions name it. If none is consistent, the closest candidates are
reported with their distance in multiples of the allowance.

The target is probed in its own precision: the allowance is tried under a ladder of (arithmetic,
scalars) hypotheses, finest first (:func:`precision_ladder`), and the finest one under which a
candidate fits is part of the precision fingerprint (:mod:`adamw_oracle.check.fingerprint`), which
also reads the state format, the half-precision arithmetic and the rounding of the parameters.
The AMSGrad form is probed after the convention is found: max of raw v, max of v-hat, or the flag
ignored.

Candidates indistinguishable through a framework's interface are merged: decay scaled by the schedule
multiplier only is the unscaled form at multiplier 1 (no framework here has a separate schedule), and
inside-root eps with eps_root=0 is after-root eps.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from adamw_oracle.adapters.registry import resolve_target
from adamw_oracle.check.fingerprint import PrecisionFingerprint, precision_fingerprint
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
from adamw_oracle.contract.precision import PrecisionModel
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
    * ``amsgrad_form``: the AMSGrad form found with the amsgrad flag on (None if the target has none or
      ignores the flag).
    * ``presets``: names of presets with these conventions (see :func:`identify`); those that are
      exactly what the target does come first (``preset_exact``), the others carry a note in
      ``preset_notes`` ("at weight_decay=0", "amsgrad -> max_raw_v (hf.AdamW has no AMSGrad)").
    * ``maximize_honoured``: whether ``maximize=True`` negated the gradient (None: no such option).
    * ``ignored``: options the target accepts but that have no effect (``amsgrad``, ``maximize``,
      ``weight_decay``, ``eps_root``).
    * ``precision``: the :class:`~adamw_oracle.check.fingerprint.PrecisionFingerprint` for ``dtype``.
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
    precision: PrecisionFingerprint | None = None
    ignored: tuple[str, ...] = ()
    preset_notes: Mapping[str, str] = field(default_factory=dict, hash=False)
    preset_exact: tuple[str, ...] = ()

    @property
    def identified(self) -> bool:
        return self.conventions is not None

    @property
    def expected(self) -> str | Conventions | None:
        """What to pass as ``check_target(expect=...)``: the preset name if one is exactly what the target
        does, else the conventions (with the AMSGrad form as their ``amsgrad``)."""
        if self.preset_exact:
            return self.preset_exact[0]
        if self.conventions is not None and self.amsgrad_form is not None:
            return self.conventions.replace(amsgrad=self.amsgrad_form)
        return self.conventions

    @property
    def precision_model(self) -> PrecisionModel | None:
        """The precision model to check the target under in ``dtype`` (None: the judge's default, or none fits)."""
        return self.precision.model() if self.precision is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "dtype": self.dtype.value, "capabilities": capability_names(self.capabilities),
            "identified": self.identified,
            "conventions": self.conventions.as_dict() if self.conventions else None,
            "amsgrad_form": self.amsgrad_form.value if self.amsgrad_form else None,
            "presets": list(self.presets), "preset_notes": dict(self.preset_notes),
            "maximize_honoured": self.maximize_honoured, "ignored": list(self.ignored),
            "precision": self.precision.as_dict() if self.precision else None,
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
            if self.presets:
                shown = [n + (f" ({self.preset_notes[n]})" if n in self.preset_notes else "") for n in self.presets]
                lines.append("  preset:     " + " = ".join(shown))
            else:
                lines.append("  preset:     none (explicit choices above)")
            if self.precision is not None:
                lines.append(f"  precision:  {self.precision.describe()}")
            if len(self.alternatives) > 1:
                lines.append(f"  ({len(self.alternatives)} equivalent descriptions fit; the first is shown)")
        else:
            lines.append("  no convention fits every probe; closest:")
            for cand, dist in self.closest:
                lines.append(f"    {cand.describe()}  (off by {dist:.3g} x the allowance)")
        if self.maximize_honoured is not None:
            lines.append(f"  maximize:   {'honoured' if self.maximize_honoured else 'NOT honoured'}")
        for name in self.ignored:
            lines.append(f"  {name}: ignored (accepted, but it has no effect)")
        lines.append("  evidence:")
        lines += [f"    - {e.describe()}" for e in self.evidence]
        if self.precision is not None:
            lines += [f"    - {note}" for note in self.precision.evidence]
        return "\n".join(lines)


def candidate_space(capabilities: frozenset[Capability]) -> list[Candidate]:
    """Every distinguishable Adam convention (AMSGrad off) for a target with these options; the AMSGrad
    form is decided afterwards, by its own probe, for the convention found."""
    decays: list[tuple[WeightDecay, DecayTarget]] = [(WeightDecay.NONE, DecayTarget.PREVIOUS_PARAM)]
    if Capability.WEIGHT_DECAY in capabilities:
        decays.append((WeightDecay.COUPLED_L2, DecayTarget.PREVIOUS_PARAM))
        decays += [(wd, t) for wd in (WeightDecay.DECOUPLED_LR, WeightDecay.DECOUPLED_UNSCALED) for t in DecayTarget]
    eps_forms = [EpsPlacement.AFTER_ROOT, EpsPlacement.EPSILON_HAT, EpsPlacement.FLOOR]
    if Capability.EPS_ROOT in capabilities:
        eps_forms.append(EpsPlacement.INSIDE_ROOT)
    out = []
    for wd, target in decays:
        for eps in eps_forms:
            for bias in BiasCorrection:
                if eps is EpsPlacement.EPSILON_HAT and bias is BiasCorrection.OFF:
                    continue  # identical to after-root without bias correction
                out.append(Candidate(Conventions(Family.ADAM, wd, target, eps, bias), None))
    return out


_Prediction = tuple[np.ndarray, np.ndarray]  # predicted p_new per step/element, allowance scale per step/element


def _predict(probe: Probe, cand: Candidate, scalars: Dtype | None = None, *,
             amsgrad_form: AmsGrad | None = None) -> _Prediction | None:
    """(predicted p_new, allowance / u) per step and element, or None if not applicable."""
    run = probe.candidate_run(cand.conventions, amsgrad_form if probe.amsgrad else cand.amsgrad_form, scalars)
    if run is None:
        return None
    tr = run_trajectory(run, PointBackend(_PREC))
    pred = np.array([[float(mpf_to_fraction(e.p_new)) for e in row] for row in tr.steps])
    scale = np.array([[sum(abs(float(mpf_to_fraction(q))) for q in (e.p, e.update, e.decay, e.p_new)) for e in row]
                      for row in tr.steps])
    steps = np.arange(1, len(tr.steps) + 1)[:, None]
    return pred, PROBE_SLACK * steps * scale


def _distance(observed: Observation, predicted: _Prediction, arithmetic: Dtype) -> float:
    pred, scale = predicted
    tol = scale * float(arithmetic.format.unit_roundoff)
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


def _algebra_dtype(dtype: Dtype, supported: Any) -> Dtype:
    """Where the algebra is identified: half formats cannot separate the conventions (their spacing is
    coarser than the probes' differences), so a target probed in one is identified from float32 runs."""
    if dtype in (Dtype.BFLOAT16, Dtype.FLOAT16) and (supported is None or Dtype.FLOAT32 in supported):
        return Dtype.FLOAT32
    return dtype


def precision_ladder(dtype: Dtype) -> list[tuple[Dtype, Dtype | None]]:
    """(arithmetic, scalars) hypotheses for parameters in ``dtype``, finest first (scalars None: as given).

    float64 parameters: float64 throughout, then a float32 allowance with float32 scalars -- either a
    target casting to float32 for the step, or float64 arithmetic on scalars formed in float32 (Keras'
    float32 variables); the fingerprint tells them apart by whether the parameters lie on the float32
    grid. Other formats: the format itself (float32 scalars for half formats), then scalars in the format.
    """
    if dtype is Dtype.FLOAT64:
        return [(dtype, None), (Dtype.FLOAT32, Dtype.FLOAT32)]
    if dtype is Dtype.FLOAT32:
        return [(dtype, dtype)]
    return [(dtype, Dtype.FLOAT32), (dtype, dtype)]


def _aspect_value(cand: Candidate, aspect: str) -> str:
    if aspect == "amsgrad_form":
        return cand.amsgrad_form.value if cand.amsgrad_form else "none"
    if aspect in ("maximize", "scalars"):
        return aspect
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
    path, ``torch.optim:AdamW`` -- or Implementation) with the probes, in its own precision.

    ``dtype`` is the parameter format probed (default float64 when the target runs it, else float32).
    The algebraic probes are scored under a ladder of precision hypotheses, finest first
    (:func:`precision_ladder`): a target that computes in float32 whatever its parameters' format is
    identified in float64 too, and reported as such (``precision``: "computes in float32 for float64
    parameters"). For float16/bfloat16 the algebra comes from float32 runs and the precision probes
    (:mod:`adamw_oracle.check.fingerprint`) run in the half format. ``options`` are fixed constructor
    arguments of an optimizer class or factory given by import path.

    Guarantees:

    * every predicted value comes from the reference layer for the candidate convention;
    * the result names a preset only if the preset's conventions equal the identified ones, up to what
      the target's interface cannot show (a target without weight decay matches torch.Adam "at
      weight_decay=0"; after-root eps matches optax's inside-root form "at eps_root=0"); a different
      or missing AMSGrad form is noted beside the preset (:attr:`Identification.preset_notes`);
    * an option the target accepts but that has no effect is listed in ``ignored`` ("amsgrad");
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
    algebra_dtype = _algebra_dtype(probe_dtype, supported)
    probes = [p for p in probes_for(caps) if p.aspect not in ("maximize", "amsgrad_form")]
    space = candidate_space(caps)
    observations = {p.name: impl.run(Case(p.driver_run(), algebra_dtype)) for p in probes}
    cache: dict[tuple[str, Candidate, Dtype | None], _Prediction | None] = {}

    def predicted(p: Probe, c: Candidate, scalars: Dtype | None) -> _Prediction | None:
        key = (p.name, c, scalars)
        if key not in cache:
            cache[key] = _predict(p, c, scalars)
        return cache[key]

    def scores(arithmetic: Dtype, scalars: Dtype | None) -> dict[Candidate, float]:
        out = {}
        for c in space:
            # a probe the target failed (exception, hang, garbage) counts as infinitely far from every candidate
            dists = [_distance(observations[p.name], pr, arithmetic) for p in probes
                     if (pr := predicted(p, c, scalars)) is not None]
            out[c] = max(dists, default=0.0)
        return out

    ladder = precision_ladder(algebra_dtype)
    level = ladder[0]
    score = scores(*level)
    consistent = [c for c in space if score[c] <= 1.0]
    for hypothesis in ladder[1:]:
        if consistent:
            break
        trial = scores(*hypothesis)
        if any(v <= 1.0 for v in trial.values()):
            level, score = hypothesis, trial
            consistent = [c for c in space if score[c] <= 1.0]
    arithmetic, scalars = level
    best = consistent[0] if consistent else min(space, key=lambda c: score[c])
    evidence = [_evidence(p, observations[p.name], best, space, arithmetic, scalars, ladder, predicted) for p in probes]
    ignored: list[str] = []
    amsgrad_form = None
    if Capability.AMSGRAD in caps and consistent:
        amsgrad_form, ams_evidence = _amsgrad(impl, caps, best, algebra_dtype, arithmetic, scalars)
        evidence.append(ams_evidence)
        if ams_evidence.matching == ("ignored",):
            ignored.append("amsgrad")
    maximize_honoured = None
    if Capability.MAXIMIZE in caps and consistent:
        mp = next(p for p in probes_for(caps) if p.aspect == "maximize")
        mobs = impl.run(Case(mp.driver_run(), algebra_dtype))
        pr = _predict(mp, best, scalars)
        maximize_honoured = pr is not None and _distance(mobs, pr, arithmetic) <= 1.0
        plain = _predict(replace(mp, maximize=False), best, scalars)
        matching = ("honoured",) if maximize_honoured else (
            ("ignored",) if plain and _distance(mobs, plain, arithmetic) <= 1.0 else ())
        if matching == ("ignored",):
            ignored.append("maximize")
        evidence.append(ProbeEvidence(
            mp.name, mp.question, _final_row(mobs),
            {"honoured": tuple(float(x) for x in pr[0][-1]) if pr else (),
             "ignored": tuple(float(x) for x in plain[0][-1]) if plain else ()},
            matching, mobs.error))
    if not consistent:
        ranked = sorted(space, key=lambda c: score[c])[:3]
        return Identification(impl.name, probe_dtype, caps, None, None, (), tuple(evidence), maximize_honoured,
                              closest=tuple((c, score[c]) for c in ranked))
    if Capability.WEIGHT_DECAY in caps and best.conventions.weight_decay is WeightDecay.NONE:
        ignored.append("weight_decay")
    if Capability.EPS_ROOT in caps and best.conventions.eps_placement is not EpsPlacement.INSIDE_ROOT:
        ignored.append("eps_root")
    fingerprint = precision_fingerprint(
        impl, best.conventions, probe_dtype,
        observations=list(observations.values()) if algebra_dtype is probe_dtype else [],
        arithmetic=arithmetic, scalars=scalars or arithmetic,
        evidence=[f"algebra identified from {algebra_dtype.value} runs"] if algebra_dtype is not probe_dtype else [])
    names, notes, exact = _matching_presets(best.conventions, amsgrad_form, caps, impl.name)
    return Identification(impl.name, probe_dtype, caps, best.conventions, amsgrad_form, names, tuple(evidence),
                          maximize_honoured, tuple(consistent), precision=fingerprint, ignored=tuple(ignored),
                          preset_notes=notes, preset_exact=exact)


def _final_row(obs: Observation) -> tuple[float, ...]:
    return tuple(float(x) for x in obs.params[-1]) if obs.params.size and not obs.error else ()


def _evidence(p: Probe, obs: Observation, best: Candidate, space: list[Candidate], arithmetic: Dtype,
              scalars: Dtype | None, ladder: list[tuple[Dtype, Dtype | None]], predicted: Any) -> ProbeEvidence:
    """What ``p`` showed: the observation and what each alternative of its aspect predicts."""
    preds: dict[str, tuple[float, ...]] = {}
    matching = []
    if p.aspect == "scalars":
        for arith, scal in ladder:
            pr = predicted(p, best, scal)
            label = f"{arith.value} arithmetic, scalars {'as given' if scal is None else 'in ' + scal.value}"
            if pr is None:
                continue
            preds[label] = tuple(float(x) for x in pr[0][-1])
            if _distance(obs, pr, arith) <= 1.0:
                matching.append(label)
        return ProbeEvidence(p.name, p.question, _final_row(obs), preds, tuple(matching), obs.error)
    for alt in _vary(best, p.aspect, space):
        pr = predicted(p, alt, scalars)
        if pr is None:
            continue
        label = _label(alt, p.aspect)
        if label in preds:
            continue
        preds[label] = tuple(float(x) for x in pr[0][-1])
        if _distance(obs, pr, arithmetic) <= 1.0:
            matching.append(label)
    return ProbeEvidence(p.name, p.question, _final_row(obs), preds, tuple(matching), obs.error)


def _amsgrad(impl: Implementation, caps: frozenset[Capability], best: Candidate, dtype: Dtype, arithmetic: Dtype,
             scalars: Dtype | None) -> tuple[AmsGrad | None, ProbeEvidence]:
    """The AMSGrad form the target uses with its flag on: max of raw v, max of v-hat, or none (ignored)."""
    probe = next(p for p in probes_for(caps) if p.aspect == "amsgrad_form")
    obs = impl.run(Case(probe.driver_run(), dtype))
    preds: dict[str, tuple[float, ...]] = {}
    matching: list[str] = []
    found: AmsGrad | None = None
    for form, label in ((AmsGrad.MAX_RAW_V, AmsGrad.MAX_RAW_V.value), (AmsGrad.MAX_V_HAT, AmsGrad.MAX_V_HAT.value),
                        (None, "ignored")):
        pr = _predict(probe, best, scalars, amsgrad_form=form)
        if pr is None:
            continue
        preds[label] = tuple(float(x) for x in pr[0][-1])
        if _distance(obs, pr, arithmetic) <= 1.0:
            matching.append(label)
            if form is not None and found is None:
                found = form
    return found, ProbeEvidence(probe.name, probe.question, _final_row(obs), preds, tuple(matching), obs.error)


def _label(cand: Candidate, aspect: str) -> str:
    if aspect in ("weight_decay", "decay_target"):
        c = cand.conventions
        return c.weight_decay.value + (f"/{c.decay_target.value}" if c.weight_decay.is_decoupled else "")
    if aspect == "eps_placement":
        return f"{cand.conventions.eps_placement.value}/bias {cand.conventions.bias_correction.value}"
    return _aspect_value(cand, aspect)


def _matching_presets(conv: Conventions, amsgrad_form: AmsGrad | None, caps: frozenset[Capability],
                      target_name: str) -> tuple[tuple[str, ...], dict[str, str], tuple[str, ...]]:
    """(names, notes per name, names that are exactly what the target does through its interface).

    A preset matches when its conventions equal ``conv`` after two equivalences: a target identified
    without weight decay matches any decay form at weight_decay=0, and after-root eps matches the
    inside-root form at eps_root=0. A note says which equivalence was used (it is exact when the target
    has no such option) and how the AMSGrad forms compare.
    """
    names: list[str] = []
    notes: dict[str, str] = {}
    exact: list[str] = []
    for name, p in PRESETS.items():
        pc = p.conventions
        if pc.family is not Family.ADAM or pc.amsgrad is not AmsGrad.OFF:
            continue
        said: list[str] = []
        interface_only = True
        if conv.weight_decay is WeightDecay.NONE and pc.weight_decay is not WeightDecay.NONE:
            pc = pc.replace(weight_decay=WeightDecay.NONE, decay_target=DecayTarget.PREVIOUS_PARAM)
            said.append("at weight_decay=0")
            interface_only &= Capability.WEIGHT_DECAY not in caps
        if conv.eps_placement is EpsPlacement.AFTER_ROOT and pc.eps_placement is EpsPlacement.INSIDE_ROOT:
            pc = pc.replace(eps_placement=EpsPlacement.AFTER_ROOT)
            said.append("at eps_root=0")
            interface_only &= Capability.EPS_ROOT not in caps
        if pc != conv:
            continue
        if amsgrad_form is not None and p.amsgrad_form is not amsgrad_form:
            if p.amsgrad_form is not None:
                continue  # a different AMSGrad form is a different optimizer
            said.append(f"amsgrad -> {amsgrad_form.value}: {name} has no AMSGrad")
            interface_only = False
        names.append(name)
        if said:
            notes[name] = "; ".join(said)
        if interface_only:
            exact.append(name)
    base = target_name.split("[", 1)[0]
    names.sort(key=lambda n: (n not in exact, n != base, bool(notes.get(n)), n))
    return tuple(names), notes, tuple(n for n in names if n in exact)
