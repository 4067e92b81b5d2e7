"""Regenerate every golden file in memory, compare it with ``traces/``, or write it atomically.

Both :func:`compare_all` and :func:`write_all` first tidy the folder after an interrupted ``--write``:
leftover temporary files of the atomic writer (``.NAME.XXXXXXXX.tmp``) are removed, and the journal
``.write-journal`` (the list of files a write was about to replace, written before the first rename
and removed after the last) is read to say which of those files were replaced and which were not. Each
such note goes to ``report``. A name in the folder that is not a golden file is reported too: as an
``extra`` difference by :func:`compare_all`, as a note (the file is left alone) by :func:`write_all`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adamw_oracle.checkout import committed_dir, inside_installed_package
from adamw_oracle.errors import InvalidArgumentError, UsageError
from adamw_oracle.traces.atomic import TEMPORARY_PATTERN, write_atomically
from adamw_oracle.traces.catalogue import TraceSpec, catalogue
from adamw_oracle.traces.compare import TraceDifference, first_difference, read_committed
from adamw_oracle.traces.errata import errata_document, errata_markdown
from adamw_oracle.traces.generate import GeneratedTrace, certify_trace, trace_document
from adamw_oracle.traces.jsonlines import json_lines
from adamw_oracle.traces.markdown import trace_markdown

ENVIRONMENT_VARIABLE = "ADAMW_ORACLE_TRACES_DIR"
ERRATA_STEM = "errata"
JOURNAL_NAME = ".write-journal"

PACKAGING_NAMES = frozenset({"__init__.py", "__pycache__"})
"""Names a packaged traces folder may hold besides the golden files (never reported as extra)."""

Report = Callable[[str], None]


@dataclass(frozen=True)
class GoldenFile:
    """One file of ``traces/``: its name, its text and (for JSON) the field path of each line."""

    name: str
    text: str
    paths: list[str] | None = None


def default_traces_dir() -> Path:
    """``$ADAMW_ORACLE_TRACES_DIR`` if set, else the checkout's ``traces/``, else the copy installed with
    the package (read-only; see :mod:`adamw_oracle.checkout`)."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        return Path(override)
    return committed_dir("traces")[0]


def check_writable(folder: Path) -> None:
    """Refuse to rewrite the golden traces installed inside the package (site-packages)."""
    if inside_installed_package(folder):
        raise UsageError(
            f"traces --write needs a source checkout: {folder} is the read-only copy installed with the "
            "package (run it inside a checkout of adamw-oracle, or pass --dir FOLDER)"
        )


def _json_file(name: str, document: object) -> GoldenFile:
    lines = json_lines(document)
    return GoldenFile(name, "".join(line + "\n" for _, line in lines), [path for path, _ in lines])


def golden_files(specs: tuple[TraceSpec, ...] | None = None) -> list[GoldenFile]:
    """Every golden file regenerated in memory: ``<trace>.json`` and ``<trace>.md`` per trace, then
    ``errata.json`` and ``errata.md`` (the errata need every trace of the full catalogue)."""
    chosen = specs if specs is not None else catalogue()
    generated: dict[str, GeneratedTrace] = {spec.name: certify_trace(spec) for spec in chosen}
    files = []
    for name, trace in generated.items():
        files.append(_json_file(f"{name}.json", trace_document(trace)))
        files.append(GoldenFile(f"{name}.md", trace_markdown(trace)))
    if specs is None:
        document = errata_document(generated)
        files.append(_json_file(f"{ERRATA_STEM}.json", document))
        files.append(GoldenFile(f"{ERRATA_STEM}.md", errata_markdown(document)))
    return files


def _directory(directory: str | Path | None) -> Path:
    path = Path(directory) if directory is not None else default_traces_dir()
    if not path.exists():
        raise InvalidArgumentError("directory", str(path), "an existing directory (no such directory)")
    if not path.is_dir():
        raise InvalidArgumentError("directory", str(path), "a directory (the golden traces folder)")
    return path


def _tidy(folder: Path, files: list[GoldenFile], report: Report | None) -> None:
    """Remove leftovers of an interrupted write and report what that write had done."""
    if inside_installed_package(folder):
        return  # the read-only copy installed with the package: never written, so nothing to tidy
    say = report or (lambda _line: None)
    names = {golden.name: golden for golden in files}
    for entry in sorted(folder.iterdir()):
        match = TEMPORARY_PATTERN.match(entry.name)
        if match and (match.group("name") in names or match.group("name") == JOURNAL_NAME) and entry.is_file():
            entry.unlink()
            say(f"removed {entry.name}: a temporary file left by an interrupted `traces --write`")
    journal = folder / JOURNAL_NAME
    if not journal.is_file():
        return
    try:
        planned = [str(name) for name in json.loads(journal.read_text(encoding="utf-8"))["replacing"]]
    except (OSError, ValueError, KeyError, TypeError):
        planned = []
    replaced = [n for n in planned if n in names and _committed_text(folder / n) == names[n].text]
    pending = [n for n in planned if n not in replaced]
    say(f"an earlier `traces --write` was interrupted: of {len(planned)} file(s) it was replacing, "
        f"replaced: {', '.join(replaced) or 'none'}; not replaced: {', '.join(pending) or 'none'}")
    journal.unlink()


def _committed_text(path: Path) -> str | None:
    return None if path.is_dir() else read_committed(path)


def _extra_names(folder: Path, files: list[GoldenFile]) -> list[str]:
    known = {golden.name for golden in files} | {JOURNAL_NAME} | PACKAGING_NAMES
    return sorted(entry.name for entry in folder.iterdir() if entry.name not in known)


def compare_all(directory: str | Path | None = None, *, report: Report | None = None) -> list[TraceDifference]:
    """The first difference of every golden file that differs from its certified regeneration.

    An empty list means every committed file matches byte for byte and the folder holds nothing else
    (an extra name is a difference of kind ``extra``). Nothing is written, except that leftovers of an
    interrupted ``--write`` are removed and reported (see the module docstring).
    """
    folder = _directory(directory)
    files = golden_files()
    _tidy(folder, files, report)
    differences = []
    for golden in files:
        target = folder / golden.name
        if target.is_dir():
            differences.append(TraceDifference(golden.name, "not_a_file"))
            continue
        found = first_difference(golden.name, read_committed(target), golden.text, golden.paths)
        if found is not None:
            differences.append(found)
    differences.extend(TraceDifference(name, "extra") for name in _extra_names(folder, files))
    return differences


def write_all(directory: str | Path | None = None, *, report: Report | None = None) -> list[Path]:
    """Regenerate every golden file and atomically replace the ones whose content changed.

    Returns the paths written (unchanged files are not touched); ``report`` hears each one as it is
    written (so an interrupted write has said which files it replaced), and the notes of the module
    docstring. The journal is written before the first replacement and removed after the last.

    Raises:
        InvalidArgumentError: a golden file's name is taken by a directory (nothing is written).
    """
    folder = _directory(directory)
    check_writable(folder)
    files = golden_files()
    _tidy(folder, files, report)
    say = report or (lambda _line: None)
    blocked = [golden.name for golden in files if (folder / golden.name).is_dir()]
    if blocked:
        raise InvalidArgumentError("directory", str(folder), f"a folder where {', '.join(blocked)} can be written "
                                   "(a directory has that name; remove it)")
    for name in _extra_names(folder, files):
        say(f"note: {name} is not a golden file (left in place)")
    changed = [golden for golden in files if read_committed(folder / golden.name) != golden.text]
    if not changed:
        return []
    journal = folder / JOURNAL_NAME
    write_atomically(journal, json.dumps({"replacing": [golden.name for golden in changed]}) + "\n")
    written = []
    for golden in changed:
        target = folder / golden.name
        write_atomically(target, golden.text)
        written.append(target)
        say(f"wrote {target}")
    journal.unlink()
    return written
