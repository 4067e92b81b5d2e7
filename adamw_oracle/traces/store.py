"""Regenerate every golden file in memory, compare it with ``traces/``, or write it atomically."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from adamw_oracle.checkout import committed_dir, inside_installed_package
from adamw_oracle.errors import InvalidArgumentError, UsageError
from adamw_oracle.traces.atomic import write_atomically
from adamw_oracle.traces.catalogue import TraceSpec, catalogue
from adamw_oracle.traces.compare import TraceDifference, first_difference, read_committed
from adamw_oracle.traces.errata import errata_document, errata_markdown
from adamw_oracle.traces.generate import GeneratedTrace, certify_trace, trace_document
from adamw_oracle.traces.jsonlines import json_lines
from adamw_oracle.traces.markdown import trace_markdown

ENVIRONMENT_VARIABLE = "ADAMW_ORACLE_TRACES_DIR"
ERRATA_STEM = "errata"


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
    if path.exists() and not path.is_dir():
        raise InvalidArgumentError("directory", str(path), "a directory (the golden traces folder)")
    return path


def compare_all(directory: str | Path | None = None) -> list[TraceDifference]:
    """The first difference of every golden file that differs from its certified regeneration.

    An empty list means every committed file matches byte for byte. Nothing is written.
    """
    folder = _directory(directory)
    differences = []
    for golden in golden_files():
        found = first_difference(golden.name, read_committed(folder / golden.name), golden.text, golden.paths)
        if found is not None:
            differences.append(found)
    return differences


def write_all(directory: str | Path | None = None) -> list[Path]:
    """Regenerate every golden file and atomically replace the ones whose content changed.

    Returns the paths written (unchanged files are not touched).
    """
    folder = _directory(directory)
    check_writable(folder)
    written = []
    for golden in golden_files():
        target = folder / golden.name
        if read_committed(target) != golden.text:
            write_atomically(target, golden.text)
            written.append(target)
    return written
