"""One vector file: every group of one preset and dtype, with expected numbers and computed tells-apart.

The layout (see ``vectors/adamw-oracle-vectors.schema.json`` for the full schema)::

    {"schema": ..., "suiteVersion": 1, "preset": "torch.AdamW", "dtype": "float32", "conventions": {...},
     "numberOfVectors": N, "bound": {...how to judge...}, "flags": {name: {"text": ..., "bug": url|null}},
     "groups": [{"name": ..., "amsgrad": bool, "maximize": bool, "hyperparameters": {name: {"decimal", "bits"}},
                 "vectors": [{"id", "comment", "flags", "result", "why", "tellsApart", "initial", "steps"}]}]}

Each step lists the gradient (patterns) and, per quantity (p, and m, v where the convention has them),
``bits`` (the correctly rounded pattern), ``decimal`` (the exact value to 21 significant digits) and
``ulps`` (the tolerance; null for an acceptable element).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters, exact_str
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.presets import PRESETS, Preset
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import CertificationError
from adamw_oracle.vectors.bits import hex_bits, to_bits, ulp_distance
from adamw_oracle.vectors.catalogue import GroupDesign, VectorDesign, design_run, group_config, groups_for, other_config
from adamw_oracle.vectors.expected import Expected, expected_trajectory, quantities, rounded_params
from adamw_oracle.vectors.flags import FLAGS
from adamw_oracle.vectors.variants import VARIANTS_BY_LABEL, Variant
from adamw_oracle.verify.judge import SLACK

SUITE_VERSION = 1
SCHEMA_NAME = "adamw-oracle-vectors.schema.json"

BOUND_RULE = (
    "An element passes when |ordinal(observed) - ordinal(expected)| <= ulps, where ordinal maps a bit pattern "
    "to its position among the dtype's values in numeric order (+0 and -0 both 0). ulps is the error model's "
    "running bound (conservative precision model: every operation rounded to the dtype, scalars in float32 for "
    "the half formats) times the judge's slack, counted in representable values from the expected pattern. "
    "An element with ulps null is acceptable: any finite value passes, and so does the expected pattern itself "
    "when it is an infinity (an exact value beyond the largest finite one, as v = g*g can be). A vector is valid when every element "
    "has a bound, acceptable when some element is ill-conditioned (why says which)."
)


def _hyper_entry(value: Fraction, dtype: Dtype) -> dict[str, str]:
    rounded = dtype.format.round(value)
    return {"decimal": exact_str(value), "bits": hex_bits(rounded, dtype)}


def _hyper_document(hyper: Hyperparameters, dtype: Dtype) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Hyperparameters.__dataclass_fields__:
        value = getattr(hyper, name)
        out[name] = value if name == "nesterov" else _hyper_entry(value, dtype)
    return out


def _values(values: tuple[Fraction, ...], dtype: Dtype) -> list[str]:
    return [hex_bits(x, dtype) for x in values]


def _quantity(items: list[Expected], dtype: Dtype) -> dict[str, list[Any]]:
    return {"bits": [f"0x{e.bits:0{_width(dtype)}x}" for e in items], "decimal": [e.decimal for e in items],
            "ulps": [e.ulps for e in items]}


def _width(dtype: Dtype) -> int:
    from adamw_oracle.vectors.bits import WIDTH  # heavy or optional

    return WIDTH[dtype] // 4


def tells_apart(run: Run, dtype: Dtype, preset_name: str | Preset, group: GroupDesign,
                expected: list[dict[str, list[Expected]]]) -> list[str]:
    """The presets whose exact result for the same inputs, correctly rounded, fails this vector
    (``preset_name`` may be a variant's :class:`Preset`)."""
    mine = PRESETS[preset_name] if isinstance(preset_name, str) else preset_name
    apart = []
    verdicts: dict[tuple[object, object], bool] = {(run.config.conventions, run.config.hyper): False}
    for name, other in PRESETS.items():
        if name == mine.name:
            continue
        config = other_config(run.config, mine, other, amsgrad=group.amsgrad, maximize=group.maximize)
        key = (config.conventions, config.hyper)  # presets that compute the same thing share one verdict
        if key not in verdicts:
            try:
                verdicts[key] = _fails(rounded_params(run.replace(config=config), dtype), expected, dtype)
            except CertificationError:  # their result cannot be rounded (e.g. a 0/0): not counted
                verdicts[key] = False
        if verdicts[key]:
            apart.append(name)
    return apart


def _fails(theirs: list[list[Fraction | float]], ours: list[dict[str, list[Expected]]], dtype: Dtype) -> bool:
    for their_row, our_row in zip(theirs, ours):
        for value, mine in zip(their_row, our_row["p"]):
            if mine.ulps is not None and ulp_distance(to_bits(value, dtype), mine.bits, dtype) > mine.ulps:
                return True
    return False


def _high_precision(items: list[Expected]) -> dict[str, list[Any]]:
    return {"decimal": [e.decimal for e in items], "bound": [e.bound for e in items]}


def vector_document(vid: int, run: Run, dtype: Dtype, preset_name: str | Preset, group: GroupDesign,
                    design: VectorDesign, precision: PrecisionModel | None = None) -> dict[str, Any]:
    """The JSON-ready record of one vector (tolerances under ``precision``, default conservative)."""
    expected = expected_trajectory(Case(run, dtype), precision)
    reasons = sorted({e.why for row in expected for items in row.values() for e in items if e.why is not None})
    st = run.initial_state
    assert st is not None
    initial: dict[str, Any] = {"step": st.step, "params": _values(run.initial_params, dtype)}
    for name in quantities(run):  # the initial state of every moment, listed after each step or not
        if name != "p":
            initial[name] = _values(getattr(st, name), dtype)
    if group.amsgrad:
        initial["vmax"] = _values(st.vmax, dtype)
    if "highPrecision" in expected[0]:  # Kahan summation: the compensation starts at 0
        initial["compensation"] = _values(tuple(Fraction(0) for _ in run.initial_params), dtype)
    steps = []
    for grads, row in zip(run.gradients, expected):
        step: dict[str, Any] = {"grads": _values(tuple(g for g in grads if isinstance(g, Fraction)), dtype)}
        for name, items in row.items():
            step[name] = _high_precision(items) if name == "highPrecision" else _quantity(items, dtype)
        steps.append(step)
    return {
        "id": vid,
        "comment": design.comment,
        "flags": list(design.flags),
        "result": "acceptable" if reasons else "valid",
        "why": "; ".join(reasons) if reasons else None,
        "tellsApart": tells_apart(run, dtype, preset_name, group, expected),
        "initial": initial,
        "steps": steps,
    }


def file_document(preset_name: str, dtype: Dtype) -> dict[str, Any]:
    """The whole file of one preset (or variant label, :mod:`adamw_oracle.vectors.variants`) and dtype."""
    variant = VARIANTS_BY_LABEL.get(preset_name)
    preset = variant.preset() if variant is not None else PRESETS[preset_name]
    precision = variant.model(dtype) if variant is not None else None
    groups = []
    vid = 0
    used: set[str] = set()
    for group in groups_for(preset, dtype):
        config = group_config(preset, group)
        vectors = []
        for design in group.vectors:
            vid += 1
            run = design_run(preset, group, design, f"{preset_name}/{dtype.value}/{vid}")
            vectors.append(vector_document(vid, run, dtype, preset, group, design, precision))
            used.update(design.flags)
        groups.append({"name": group.name, "amsgrad": group.amsgrad, "maximize": group.maximize,
                       "conventions": config.conventions.as_dict(),
                       "hyperparameters": _hyper_document(config.hyper, dtype), "vectors": vectors})
    document: dict[str, Any] = {
        "schema": SCHEMA_NAME,
        "suiteVersion": SUITE_VERSION,
        "preset": variant.base if variant is not None else preset_name,
    }
    if variant is not None:
        assert precision is not None
        document["variant"] = {"name": variant.name, "label": variant.label,
                               "conventions": preset.conventions.as_dict(), "precisionModel": precision.describe()}
    document.update({
        "summary": preset.summary,
        "dtype": dtype.value,
        "numberOfVectors": vid,
        "bound": ({"slack": SLACK, "precisionModel": "conservative", "rule": BOUND_RULE} if variant is None else
                  {"slack": SLACK, "precisionModel": variant.name, "rule": variant_rule(variant, dtype)}),
        "flags": {name: {"text": FLAGS[name].text, "bug": FLAGS[name].bug} for name in sorted(used)},
        "groups": groups,
    })
    return document


def variant_rule(variant: Variant, dtype: Dtype) -> str:
    """The bound rule of a variant's file: the preset files' rule under its precision model."""
    model = variant.model(dtype)
    if model == PrecisionModel.conservative(dtype):
        return BOUND_RULE
    text = BOUND_RULE.replace("(conservative precision model: every operation rounded to the dtype, scalars in "
                              "float32 for the half formats)", f"(precision model: {model.describe()})")
    text += " Only p is listed: under this model the state is not stored in the file's dtype."
    if variant.kahan(dtype):
        text += (" The parameter is kept with Kahan compensation c (initial.compensation, in the dtype): p alone "
                 "passes by the rule above (its ulps include the compensation's bound), and the compensated value "
                 "passes when |p + c - decimal| <= bound (highPrecision; p + c summed exactly, e.g. in float64; "
                 "bound null: acceptable).")
    if variant.stochastic(dtype):
        text += (" The parameter is stored by stochastic rounding, so no single pattern is expected: bits is the "
                 "round-to-nearest pattern of the exact value, and every value within ulps of it is one that a "
                 "correct stochastic rounding may hold after that step, whatever its random bits (each rounding "
                 "may err by up to one full spacing). That the roundings are unbiased is not a property of one "
                 "vector: judge many runs (adamw_oracle.verify.stochastic).")
    return text

