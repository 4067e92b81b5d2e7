"""The JSON Schema (draft 2020-12) of a vector file, written to ``vectors/`` with the suite."""
from __future__ import annotations

import json
from typing import Any

from adamw_oracle.contract.presets import PRESETS
from adamw_oracle.vectors.variants import VARIANTS

_HEX = {"type": "string", "pattern": "^0x([0-9a-f]{4}|[0-9a-f]{8}|[0-9a-f]{16})$"}
_DECIMAL = {"type": "string", "pattern": "^-?[0-9]\\.[0-9]+e[+-][0-9]{2,}$|^0$"}
_EXACT = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?(e-?[0-9]+)?(/[0-9]+)?$"}


def _array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_QUANTITY = {
    "type": "object",
    "description": "one quantity (p, m or v) after the step, per element",
    "required": ["bits", "decimal", "ulps"],
    "additionalProperties": False,
    "properties": {
        "bits": {**_array(_HEX), "description": "the correctly rounded exact value, as the dtype's bit pattern"},
        "decimal": {**_array(_DECIMAL), "description": "the exact value to 21 (up to 25) significant digits"},
        "ulps": {**_array({"type": ["integer", "null"], "minimum": 0}),
                 "description": "tolerance in representable steps from bits; null: acceptable (any finite value)"},
    },
}

_HIGH_PRECISION = {
    "type": "object",
    "description": "Kahan variant: the exact parameter and the bound on |p + c - exact| (c: the compensation)",
    "required": ["decimal", "bound"],
    "additionalProperties": False,
    "properties": {
        "decimal": {**_array(_DECIMAL), "description": "the exact parameter to 21 (up to 25) significant digits"},
        "bound": {**_array({"type": ["number", "null"], "minimum": 0}),
                  "description": "largest |p + c - exact| allowed; null: acceptable (any finite value)"},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "adamw-oracle-vectors.schema.json",
    "title": "adamw-oracle optimizer test vectors (one preset, one dtype)",
    "type": "object",
    "required": ["schema", "suiteVersion", "preset", "summary", "dtype", "numberOfVectors", "bound", "flags", "groups"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": "adamw-oracle-vectors.schema.json"},
        "suiteVersion": {"type": "integer", "minimum": 1},
        "preset": {"enum": list(PRESETS)},
        "variant": {
            "type": "object", "required": ["name", "label", "conventions", "precisionModel"],
            "additionalProperties": False,
            "description": "a convention or precision model no preset has, on the base preset (adamw_oracle.vectors.variants)",
            "properties": {"name": {"enum": [v.name for v in VARIANTS]}, "label": {"enum": [v.label for v in VARIANTS]},
                           "conventions": {"type": "object", "additionalProperties": {"type": ["string", "boolean"]}},
                           "precisionModel": {"type": "string"}},
        },
        "summary": {"type": "string"},
        "dtype": {"enum": ["float64", "float32", "float16", "bfloat16"]},
        "numberOfVectors": {"type": "integer", "minimum": 1},
        "bound": {
            "type": "object", "required": ["slack", "precisionModel", "rule"], "additionalProperties": False,
            "properties": {"slack": {"type": "number", "minimum": 1}, "precisionModel": {"type": "string"},
                           "rule": {"type": "string"}},
        },
        "flags": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "required": ["text", "bug"], "additionalProperties": False,
                "properties": {"text": {"type": "string"}, "bug": {"type": ["string", "null"], "pattern": "^https://"}},
            },
        },
        "groups": _array({
            "type": "object",
            "required": ["name", "amsgrad", "maximize", "conventions", "hyperparameters", "vectors"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "amsgrad": {"type": "boolean"},
                "maximize": {"type": "boolean"},
                "conventions": {"type": "object", "additionalProperties": {"type": ["string", "boolean"]}},
                "hyperparameters": {
                    "type": "object",
                    "required": ["lr", "beta1", "beta2", "eps", "eps_root", "weight_decay", "momentum", "dampening",
                                 "nesterov", "schedule_multiplier"],
                    "additionalProperties": False,
                    "properties": {
                        **{name: {"type": "object", "required": ["decimal", "bits"], "additionalProperties": False,
                                  "properties": {"decimal": _EXACT, "bits": _HEX}}
                           for name in ("lr", "beta1", "beta2", "eps", "eps_root", "weight_decay", "momentum",
                                        "dampening", "schedule_multiplier")},
                        "nesterov": {"type": "boolean"},
                    },
                },
                "vectors": {**_array({
                    "type": "object",
                    "required": ["id", "comment", "flags", "result", "why", "tellsApart", "initial", "steps"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer", "minimum": 1},
                        "comment": {"type": "string"},
                        "flags": {**_array({"type": "string"}), "minItems": 1},
                        "result": {"enum": ["valid", "acceptable"]},
                        "why": {"type": ["string", "null"]},
                        "tellsApart": _array({"enum": list(PRESETS)}),
                        "initial": {
                            "type": "object", "required": ["step", "params"], "additionalProperties": False,
                            "properties": {"step": {"type": "integer", "minimum": 0}, "params": _array(_HEX),
                                           "m": _array(_HEX), "v": _array(_HEX), "vmax": _array(_HEX),
                                           "compensation": _array(_HEX)},
                        },
                        "steps": {**_array({
                            "type": "object", "required": ["grads", "p"], "additionalProperties": False,
                            "properties": {"grads": _array(_HEX), "p": _QUANTITY, "m": _QUANTITY, "v": _QUANTITY,
                                           "highPrecision": _HIGH_PRECISION},
                        }), "minItems": 1},
                    },
                }), "minItems": 1},
            },
        }),
    },
}


def schema_text() -> str:
    """The schema file's text (deterministic)."""
    return json.dumps(SCHEMA, indent=1, ensure_ascii=False) + "\n"
