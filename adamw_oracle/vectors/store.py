"""The committed suite under ``vectors/``: regenerate it in memory, compare it, or write it atomically.

Files: ``<preset>.<dtype>.json`` for every preset of the contract and every dtype,
``<preset>+<variant>.<dtype>.json`` for the conventions and precision models no preset has
(:mod:`adamw_oracle.vectors.variants`), and the JSON Schema ``adamw-oracle-vectors.schema.json``. The text is deterministic: header fields one per line, then one
line per group header and one line per vector, so a difference shows as a readable line diff naming the
vector's id.
"""
from __future__ import annotations

import difflib
import json
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adamw_oracle.atomic import write_atomically
from adamw_oracle.checkout import committed_dir, inside_installed_package
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.presets import PRESETS
from adamw_oracle.errors import InvalidArgumentError, UsageError
from adamw_oracle.vectors.catalogue import DTYPES
from adamw_oracle.vectors.document import SCHEMA_NAME, file_document
from adamw_oracle.vectors.schema import schema_text
from adamw_oracle.vectors.variants import VARIANTS_BY_LABEL

ENVIRONMENT_VARIABLE = "ADAMW_ORACLE_VECTORS_DIR"
DIFF_LINES = 12


def default_vectors_dir() -> Path:
    """``$ADAMW_ORACLE_VECTORS_DIR`` if set, else the checkout's ``vectors/``, else the copy installed
    with the package (read-only; see :mod:`adamw_oracle.checkout`). The one place that knows where the
    suite lives."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        return Path(override)
    return committed_dir("vectors")[0]


def check_writable(folder: Path) -> None:
    """Refuse to rewrite the suite installed inside the package (site-packages)."""
    if inside_installed_package(folder):
        raise UsageError(
            f"vectors --write needs a source checkout: {folder} is the read-only copy installed with the "
            "package (run it inside a checkout of adamw-oracle, or pass --dir FOLDER)"
        )


def file_name(preset: str, dtype: Dtype) -> str:
    return f"{preset}.{dtype.value}.json"


def dumps(document: dict[str, Any]) -> str:
    """The file text of one vector document (see the module docstring for the layout)."""
    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    header = [key for key in document if key != "groups"]
    for key in header:
        lines.append(f" {one(key)}: {one(document[key])},")
    lines.append(' "groups": [')
    for g, group in enumerate(document["groups"]):
        head = {k: v for k, v in group.items() if k != "vectors"}
        lines.append("  " + one(head)[:-1] + ',"vectors":[')
        vectors = group["vectors"]
        for i, vector in enumerate(vectors):
            lines.append("   " + one(vector) + ("," if i < len(vectors) - 1 else ""))
        lines.append("  ]}" + ("," if g < len(document["groups"]) - 1 else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SuiteFile:
    """One file of the suite, regenerated: its name, text and number of vectors (0 for the schema)."""

    name: str
    text: str
    vectors: int


def _generate(item: tuple[str, str]) -> SuiteFile:
    preset, dtype_name = item
    dtype = Dtype(dtype_name)
    document = file_document(preset, dtype)
    return SuiteFile(file_name(preset, dtype), dumps(document), document["numberOfVectors"])


def selection(presets: Iterable[str] | None = None, dtypes: Iterable[Dtype | str] | None = None) -> list[tuple[str, str]]:
    """(preset or variant label, dtype) pairs in suite order: every preset in every dtype, then every
    variant (:mod:`adamw_oracle.vectors.variants`) in its own dtypes; unknown names are refused."""
    names = [*PRESETS, *VARIANTS_BY_LABEL]
    chosen = list(presets) if presets is not None else names
    for name in chosen:
        if name not in names:
            raise InvalidArgumentError("preset", name, "one of " + ", ".join(names))
    kinds = [Dtype.parse(d) for d in dtypes] if dtypes is not None else list(DTYPES)
    pairs = []
    for p in chosen:
        own = VARIANTS_BY_LABEL[p].dtypes if p in VARIANTS_BY_LABEL else DTYPES
        pairs += [(p, d.value) for d in kinds if d in own]
    return pairs


def suite_files(presets: Iterable[str] | None = None, dtypes: Iterable[Dtype | str] | None = None, *,
                jobs: int | None = None) -> list[SuiteFile]:
    """Every file of the suite (or of a selection), regenerated in memory; the schema comes last.

    Files are independent, so they are generated in ``jobs`` processes (default: the CPU count, at
    most 4); the result does not depend on ``jobs``.
    """
    items = selection(presets, dtypes)
    workers = jobs if jobs is not None else min(4, os.cpu_count() or 1)
    if workers < 1:
        raise InvalidArgumentError("jobs", jobs, "an int >= 1")
    if workers == 1 or len(items) == 1:
        files = [_generate(item) for item in items]
    else:
        # spawn, not fork: the caller may have threads (JAX starts some), and forking those can deadlock
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            files = list(pool.map(_generate, items))
    files.append(SuiteFile(SCHEMA_NAME, schema_text(), 0))
    return files


@dataclass(frozen=True)
class FileDifference:
    """A committed file that differs from its regeneration (or is missing)."""

    name: str
    diff: list[str]

    def describe(self) -> str:
        return f"{self.name} differs from its regeneration:\n" + "\n".join(self.diff)


def _directory(directory: str | Path | None) -> Path:
    path = Path(directory) if directory is not None else default_vectors_dir()
    if path.exists() and not path.is_dir():
        raise InvalidArgumentError("directory", str(path), "a directory (the test-vector folder)")
    return path


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def difference(name: str, committed: str | None, fresh: str) -> FileDifference | None:
    """A readable diff: per changed line its number, the start of the line (a vector line starts with
    its id) and the committed and regenerated text around the first character that differs."""
    if committed == fresh:
        return None
    if committed is None:
        return FileDifference(name, ["  (missing: run `adamw-oracle vectors --write`)"])
    old, new = committed.splitlines(), fresh.splitlines()
    shown: list[str] = []
    changed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            a = old[i1 + offset] if i1 + offset < i2 else None
            b = new[j1 + offset] if j1 + offset < j2 else None
            changed += 1
            if len(shown) < DIFF_LINES * 3:
                shown.extend(_changed_line(i1 + offset + 1, a, b))
    if changed > DIFF_LINES:
        shown = shown[:DIFF_LINES * 3]
        shown.append(f"  ... {changed - DIFF_LINES} more changed lines")
    return FileDifference(name, shown)


def _changed_line(number: int, committed: str | None, fresh: str | None) -> list[str]:
    if committed is None or fresh is None:
        kept = committed if committed is not None else fresh
        assert kept is not None
        what = "only in the committed file" if fresh is None else "only in the regeneration"
        return [f"  line {number} ({what}): {_clip(kept, 0)}"]
    first = next((k for k, (x, y) in enumerate(zip(committed, fresh)) if x != y), min(len(committed), len(fresh)))
    head = committed[:min(first, 40)]
    return [f"  line {number}, {head}... differs at character {first + 1}:",
            f"    committed:   {_clip(committed, first)}", f"    regenerated: {_clip(fresh, first)}"]


def _clip(line: str, at: int, width: int = 90) -> str:
    start = max(0, at - width // 3)
    return ("..." if start else "") + line[start:start + width] + ("..." if start + width < len(line) else "")


def compare_suite(directory: str | Path | None = None, files: list[SuiteFile] | None = None) -> tuple[list[FileDifference], int]:
    """(differences, number of vectors regenerated); nothing is written."""
    folder = _directory(directory)
    fresh = files if files is not None else suite_files()
    found = [d for f in fresh if (d := difference(f.name, _read(folder / f.name), f.text)) is not None]
    return found, sum(f.vectors for f in fresh)


def write_suite(directory: str | Path | None = None, files: list[SuiteFile] | None = None) -> list[Path]:
    """Atomically replace the files whose content changed; returns the paths written."""
    folder = _directory(directory)
    check_writable(folder)
    written = []
    for f in files if files is not None else suite_files():
        target = folder / f.name
        if _read(target) != f.text:
            write_atomically(target, f.text)
            written.append(target)
    return written
