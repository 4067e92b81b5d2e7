"""Build hook: the wheel carries a read-only copy of the committed golden data as package data.

``traces/`` (and ``vectors/`` when present) live at the repository root, where they are reviewed and
regenerated; ``build_py`` copies them to ``adamw_oracle/_data/`` inside the built package so that an
installed (non-editable) package can compare against them from any directory. Editable installs read
the checkout's folders directly (see ``adamw_oracle/checkout.py``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_FOLDERS = ("traces", "vectors")
DATA_SUFFIXES = (".json", ".md")


class BuildPyWithData(build_py):
    """``build_py`` plus the committed data folders under ``adamw_oracle/_data/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for folder in DATA_FOLDERS:
            source = ROOT / folder
            if not source.is_dir():
                continue
            target = Path(self.build_lib) / "adamw_oracle" / "_data" / folder
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for path in sorted(source.iterdir()):
                if path.is_file() and path.suffix in DATA_SUFFIXES:
                    shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithData})
