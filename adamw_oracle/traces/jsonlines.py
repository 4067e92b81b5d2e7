"""A deterministic JSON writer that knows the field path of every line it writes.

Objects and arrays whose members are all scalars are written on one line (a certified value, a
gradient row); everything else one member per line, indented by two spaces. Knowing each line's path
lets a comparison name the first field that differs, even in a truncated file that no longer parses.
"""
from __future__ import annotations

import json
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


def _inline(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(v, _SCALARS) for v in value.values())
    if isinstance(value, list):
        return all(isinstance(v, _SCALARS) for v in value)
    return True


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def json_lines(document: Any) -> list[tuple[str, str]]:
    """``(field path, line)`` for each line of the serialisation of ``document``."""
    out: list[tuple[str, str]] = []

    def emit(value: Any, path: str, indent: str, prefix: str, suffix: str) -> None:
        if _inline(value):
            out.append((path, f"{indent}{prefix}{_scalar(value)}{suffix}"))
            return
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        out.append((path, f"{indent}{prefix}{opening}"))
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for position, (key, member) in enumerate(items):
            member_prefix = f"{_scalar(key)}: " if isinstance(value, dict) else ""
            emit(member, _join(path, key), indent + "  ", member_prefix, "," if position < len(items) - 1 else "")
        out.append((path, f"{indent}{closing}{suffix}"))

    emit(document, "", "", "", "")
    return out


def dumps(document: Any) -> str:
    """The serialisation of ``document`` (ends with a newline)."""
    return "".join(line + "\n" for _, line in json_lines(document))
