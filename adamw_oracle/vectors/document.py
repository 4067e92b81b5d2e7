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
from adamw_oracle.contract.presets import PRESETS
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import CertificationError
from adamw_oracle.vectors.bits import hex_bits, to_bits, ulp_distance
from adamw_oracle.vectors.catalogue import GroupDesign, VectorDesign, design_run, group_config, groups_for, other_config
from adamw_oracle.vectors.expected import Expected, expected_trajectory, rounded_params
from adamw_oracle.vectors.flags import FLAGS
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


def tells_apart(run: Run, dtype: Dtype, preset_name: str, group: GroupDesign,
                expected: list[dict[str, list[Expected]]]) -> list[str]:
    """The presets whose exact result for the same inputs, correctly rounded, fails this vector."""
    apart = []
    verdicts: dict[tuple[object, object], bool] = {(run.config.conventions, run.config.hyper): False}
    for name, other in PRESETS.items():
        if name == preset_name:
            continue
        config = other_config(run.config, PRESETS[preset_name], other, amsgrad=group.amsgrad, maximize=group.maximize)
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


def vector_document(vid: int, run: Run, dtype: Dtype, preset_name: str, group: GroupDesign,
                    design: VectorDesign) -> dict[str, Any]:
    """The JSON-ready record of one vector."""
    expected = expected_trajectory(Case(run, dtype))
    reasons = sorted({e.why for row in expected for items in row.values() for e in items if e.why is not None})
    st = run.initial_state
    assert st is not None
    initial: dict[str, Any] = {"step": st.step, "params": _values(run.initial_params, dtype)}
    for name in expected[0]:
        if name != "p":
            initial[name] = _values(getattr(st, name), dtype)
    if group.amsgrad:
        initial["vmax"] = _values(st.vmax, dtype)
    steps = []
    for grads, row in zip(run.gradients, expected):
        step: dict[str, Any] = {"grads": _values(tuple(g for g in grads if isinstance(g, Fraction)), dtype)}
        for name, items in row.items():
            step[name] = _quantity(items, dtype)
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
    """The whole file of one preset and dtype."""
    preset = PRESETS[preset_name]
    groups = []
    vid = 0
    used: set[str] = set()
    for group in groups_for(preset_name, dtype):
        config = group_config(preset, group)
        vectors = []
        for design in group.vectors:
            vid += 1
            run = design_run(preset, group, design, f"{preset_name}/{dtype.value}/{vid}")
            vectors.append(vector_document(vid, run, dtype, preset_name, group, design))
            used.update(design.flags)
        groups.append({"name": group.name, "amsgrad": group.amsgrad, "maximize": group.maximize,
                       "conventions": config.conventions.as_dict(),
                       "hyperparameters": _hyper_document(config.hyper, dtype), "vectors": vectors})
    return {
        "schema": SCHEMA_NAME,
        "suiteVersion": SUITE_VERSION,
        "preset": preset_name,
        "summary": preset.summary,
        "dtype": dtype.value,
        "numberOfVectors": vid,
        "bound": {"slack": SLACK, "precisionModel": "conservative", "rule": BOUND_RULE},
        "flags": {name: {"text": FLAGS[name].text, "bug": FLAGS[name].bug} for name in sorted(used)},
        "groups": groups,
    }

