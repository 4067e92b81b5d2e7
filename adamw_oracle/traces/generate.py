"""Certify every run of a trace and turn the result into the trace document (a JSON-ready dict).

Only the quantities a trace stores, at the steps it stores, are rounded (see
:func:`adamw_oracle.reference.certify.certify_run`); the interval run covers every step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import CertificationError
from adamw_oracle.reference.certify import CertifiedTrajectory, CertifiedValue, certify_run
from adamw_oracle.traces.catalogue import TRACE_DIGITS, LabelledRun, TraceSpec

FORMAT = "adamw-oracle-trace/1"

QUANTITY_LEGEND = {
    "p": "parameter before the step (the seed's w)",
    "g": "gradient as given",
    "g_used": "gradient used: negated for maximize, plus wd*p for coupled L2",
    "m": "first moment after the step (SGD: momentum buffer)",
    "v": "second moment after the step",
    "m_hat": "m / (1 - beta1^t)",
    "v_hat": "v / (1 - beta2^t)",
    "vmax": "AMSGrad running maximum after the step (0 when AMSGrad is off)",
    "denom": "denominator of the adaptive update, per eps placement",
    "direction": "SGD step direction (buffer, or g' + momentum*buffer with Nesterov)",
    "update": "adaptive (or SGD) step, subtracted: the seed's adam_upd",
    "decay": "decoupled decay, subtracted (0 for none and coupled L2)",
    "p_new": "parameter after the step: p - decay - update",
}


@dataclass(frozen=True)
class CertifiedRun:
    """One labelled run with its certified values (``certified.steps[j]`` is stored step ``indices[j]``)."""

    labelled: LabelledRun
    certified: CertifiedTrajectory

    def value(self, t: int, element: int, quantity: str) -> CertifiedValue:
        """The certified ``quantity`` of ``element`` at step number ``t`` (the t of the update rule)."""
        state = self.labelled.run.initial_state
        row = self.certified.step_indices.index(t - 1 - (state.step if state else 0))
        return self.certified.steps[row][element][quantity]


@dataclass(frozen=True)
class GeneratedTrace:
    """A trace specification together with the certified values of each of its runs."""

    spec: TraceSpec
    runs: tuple[CertifiedRun, ...]


def certify_trace(spec: TraceSpec, digits: int = TRACE_DIGITS) -> GeneratedTrace:
    """Certify ``digits`` significant digits of every stored quantity of every run of ``spec``."""
    runs = []
    for labelled in spec.runs:
        certified = certify_run(labelled.run, digits, spec.quantities(labelled.run), steps=spec.stored_steps)
        runs.append(CertifiedRun(labelled, certified))
    return GeneratedTrace(spec, tuple(runs))


def value_entry(value: CertifiedValue, dtype: Dtype | None = None) -> dict[str, Any]:
    """``{"decimal": certified digits, "float64": ..., "float32": ...}`` (roundings as JSON numbers), and
    for a half-precision ``dtype`` its ``{"nearest", "down", "up"}`` values (see :func:`neighbours`)."""
    entry: dict[str, Any] = {"decimal": value.decimal, "float64": _json_float(value.float64), "float32": _json_float(value.float32)}
    if dtype in HALF_DTYPES:
        assert dtype is not None
        entry[dtype.value] = neighbours(value, dtype)
    return entry


HALF_DTYPES = (Dtype.FLOAT16, Dtype.BFLOAT16)


def neighbours(value: CertifiedValue, dtype: Dtype) -> dict[str, float | str]:
    """The value's rounding to nearest in ``dtype`` and its two neighbours there: the largest value of
    the format <= it (``down``) and the smallest >= it (``up``; both the value itself when it is one),
    certified: both ends of the enclosure give the same three (else :class:`CertificationError`)."""
    fmt = dtype.format
    found: list[tuple[Fraction | float, Fraction, Fraction]] = []
    for end in (value.lower, value.upper):
        quantum = fmt.ulp(end)
        scaled = end / quantum
        down = (scaled.numerator // scaled.denominator) * quantum
        up = down if down == end else down + quantum
        nearest = fmt.round(end)
        found.append((nearest, down, up))
    largest = fmt.largest
    if found[0] != found[1] or not isinstance(found[0][0], Fraction) or max(abs(found[0][1]), abs(found[0][2])) > largest:
        raise CertificationError(f"cannot certify the {dtype.value} neighbours of {value.decimal}")
    nearest, down, up = found[0]
    return {"nearest": _json_float(float(nearest)), "down": _json_float(float(down)), "up": _json_float(float(up))}


def _json_float(x: float) -> float | str:
    # JSON has no infinity; a float32 overflow is written as the string "inf"/"-inf"
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def trace_document(generated: GeneratedTrace) -> dict[str, Any]:
    """The machine-readable trace: the runs as given (exact strings) and every certified value."""
    spec = generated.spec
    runs = []
    for record in generated.runs:
        run = record.labelled.run
        described = run.as_dict()
        steps = []
        for index, row in zip(record.certified.step_indices, record.certified.steps):
            t = (run.initial_state.step if run.initial_state else 0) + index + 1
            dtype = record.labelled.dtype
            steps.append({
                "t": t,
                "elements": [{name: value_entry(values[name], dtype if name == "p_new" else None)
                              for name in spec.quantities(run)} for values in row],
            })
        extra: dict[str, Any] = {}
        if record.labelled.dtype is not None:
            extra["dtype"] = record.labelled.dtype.value
        if record.labelled.precision is not None:
            extra["precision_model"] = record.labelled.precision.describe()
        runs.append({
            "label": record.labelled.label,
            **extra,
            "config": described["config"],
            "initial_params": described["initial_params"],
            "initial_state": described["initial_state"],
            "gradients": described["gradients"],
            "certified_bits": record.certified.prec,
            "steps": steps,
        })
    return {
        "format": FORMAT,
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "digits": generated.runs[0].certified.digits if generated.runs else TRACE_DIGITS,
        "value_format": "decimal: certified significant digits (rounded to nearest, ties to even; a few more "
                        "digits for a decimal tie); float64/float32: the certified correctly rounded values",
        "quantities": {name: QUANTITY_LEGEND[name] for name in _stored_names(generated)},
        "runs": runs,
    }


def _stored_names(generated: GeneratedTrace) -> list[str]:
    names: list[str] = []
    for record in generated.runs:
        for name in generated.spec.quantities(record.labelled.run):
            if name not in names:
                names.append(name)
    return names
