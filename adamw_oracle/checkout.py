"""Where the committed data lives: a source checkout, or the copy installed with the package.

In a checkout (an editable install, or ``python -m adamw_oracle`` from the repository) the golden
traces are ``traces/`` and the documents ``docs/`` at the repository root, next to the package. A wheel
carries a read-only copy of ``traces/`` as package data (``adamw_oracle/_data/traces``, put there by
``setup.py`` at build time). Commands that rewrite committed files (``traces --write``, ``prove
--check-docs`` and ``prove --format ...`` without ``--output``) need a checkout and refuse to write into
an installed package.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_DATA_DIR = PACKAGE_DIR / "_data"
"""Package data installed with a wheel (absent in a checkout)."""

_DISTRIBUTION_LINE = 'name = "adamw-oracle"'


def checkout_root() -> Path | None:
    """The repository root when the package is imported from a source checkout, else ``None``.

    A checkout is recognised by the ``pyproject.toml`` of this distribution beside the package folder.
    """
    root = PACKAGE_DIR.parent
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if _DISTRIBUTION_LINE in text else None


def committed_dir(name: str) -> tuple[Path, bool]:
    """``(path, writable)`` of the committed folder ``name`` (``"traces"``, ``"docs"``, ...).

    The checkout's folder when there is a checkout (``writable`` is True), else the installed package
    data copy (``writable`` is False; the path may not exist when the wheel ships no such folder).
    """
    root = checkout_root()
    if root is not None:
        return root / name, True
    return PACKAGED_DATA_DIR / name, False


def inside_installed_package(path: Path) -> bool:
    """True when ``path`` lies inside the installed package (site-packages): never written to."""
    if checkout_root() is not None:
        return False
    try:
        path.resolve().relative_to(PACKAGE_DIR)
    except ValueError:
        return False
    return True
