"""Comparison of committed trace files with their fresh regeneration, reported at the first difference.

Files are compared byte for byte. At the first differing line, the report names the file, the line
number and, for JSON traces, the field path of that line in the regenerated document (known from
:func:`adamw_oracle.traces.jsonlines.json_lines`), so a hand edit or a truncation reads as
"runs[0].steps[4].elements[0].p_new: committed ... but regenerated ...".
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TraceDifference:
    """The first difference between a committed file and its regeneration.

    ``kind`` is ``"missing"`` (no committed file), ``"differs"`` (a line differs), ``"truncated"`` (the
    committed file ends early), ``"longer"`` (it has extra lines at the end), ``"not_a_file"`` (a
    directory has the file's name) or ``"extra"`` (a name in the folder that is no golden file). ``field`` is the JSON
    path of the differing line (None for Markdown files); ``line`` is 1-based.
    """

    file: str
    kind: str
    line: int | None = None
    field: str | None = None
    committed: str | None = None
    regenerated: str | None = None

    def describe(self) -> str:
        where = f"{self.file}"
        if self.line is not None:
            where += f" line {self.line}"
        if self.field:
            where += f" (field {self.field})"
        if self.kind == "missing":
            return f"{self.file}: missing (regenerate with `adamw-oracle traces --write`)"
        if self.kind == "not_a_file":
            return f"{self.file}: is a directory, not a file (remove it, then run `adamw-oracle traces --write`)"
        if self.kind == "extra":
            return f"{self.file}: extra file, not produced by the regeneration (remove it if it is not needed)"
        if self.kind == "truncated":
            return f"{where}: the committed file ends here (truncated?); regenerated has {self.regenerated!r}"
        if self.kind == "longer":
            return f"{where}: the committed file has extra content {self.committed!r}"
        return f"{where}: committed {self.committed!r} but the certified regeneration gives {self.regenerated!r}"

    def __str__(self) -> str:
        return self.describe()


def _field_detail(path: str, committed: str, regenerated: str) -> str:
    """Refine a one-line object's path to the member that differs (e.g. ``...p_new.decimal``)."""
    def members(line: str) -> dict | None:
        text = line.strip().rstrip(",")
        if ": " in text and text.startswith('"'):
            text = text.split(": ", 1)[1]
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    old, new = members(committed), members(regenerated)
    if old is None or new is None:
        return path
    for key in new:
        if old.get(key) != new[key]:
            return f"{path}.{key}" if path else key
    return path


def first_difference(file: str, committed: str | None, regenerated: str, paths: list[str] | None = None) -> TraceDifference | None:
    """None when identical; else the first differing line (``paths[i]`` names line i of ``regenerated``)."""
    if committed is None:
        return TraceDifference(file, "missing")
    if committed == regenerated:
        return None
    old_lines, new_lines = committed.splitlines(keepends=True), regenerated.splitlines(keepends=True)
    for index, new in enumerate(new_lines):
        path = paths[index] if paths is not None and index < len(paths) else None
        if index >= len(old_lines):
            return TraceDifference(file, "truncated", index + 1, path, None, new.rstrip("\n"))
        old = old_lines[index]
        if old != new:
            if not old.endswith("\n") and new.startswith(old):
                return TraceDifference(file, "truncated", index + 1, path, old, new.rstrip("\n"))
            detail = _field_detail(path, old, new) if path is not None else None
            return TraceDifference(file, "differs", index + 1, detail, old.rstrip("\n"), new.rstrip("\n"))
    return TraceDifference(file, "longer", len(new_lines) + 1, None, old_lines[len(new_lines)].rstrip("\n"), None)


def read_committed(path: Path) -> str | None:
    """The committed text of ``path`` or None when it does not exist (undecodable bytes are kept visible)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
