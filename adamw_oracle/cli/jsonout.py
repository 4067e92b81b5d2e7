"""Strict JSON for every ``--json`` output.

Python's :func:`json.dumps` writes ``NaN``, ``Infinity`` and ``-Infinity`` by default, which are not
JSON (RFC 8259) and break strict parsers (``jq``, JavaScript's ``JSON.parse``). Here a non-finite float
is written as the *string* ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (documented in
docs/checking.md), and ``allow_nan=False`` guarantees that no bare token slips through.
"""
from __future__ import annotations

import json
import math
from typing import Any


def encodable(value: Any) -> Any:
    """``value`` with every non-finite float (also inside lists, tuples and dicts) made a string."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(item) for item in value]
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` (non-finite floats as strings, see the module docstring)."""
    return json.dumps(encodable(value), indent=indent, allow_nan=False)
