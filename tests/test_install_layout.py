"""What a fresh install needs and where committed data is found (checkout vs installed wheel).

The dependency test reads the package's imports with ``ast``: every third-party module imported at
module level must come from a distribution declared in ``[project] dependencies`` (a missing one
breaks ``adamw-oracle`` on a fresh machine, as hypothesis once did); a function-level import of an
undeclared core module is caught the same way unless its distribution is declared in some extra.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from adamw_oracle import checkout
from adamw_oracle.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "adamw_oracle"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _requirement_name(spec: str) -> str:
    return re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_requirement_name(s) for s in project["dependencies"]}
    extras = {_requirement_name(s) for specs in project["optional-dependencies"].values() for s in specs}
    return core, extras - {"adamw-oracle"}


def _third_party_imports() -> tuple[dict[str, str], dict[str, str]]:
    """Top-level third-party module -> first place imported, at module level and inside functions."""
    top: dict[str, str] = {}
    late: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "pytest_plugin.py":
            continue  # loaded only by pytest itself, through its entry point: pytest is there
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_level = {id(node) for node in tree.body}
        guarded = {id(n) for node in tree.body if isinstance(node, ast.If) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root in STDLIB or root == "adamw_oracle":
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                target = top if id(node) in module_level and id(node) not in guarded else late
                target.setdefault(root, where)
    return top, late


def _distribution(module: str) -> set[str]:
    return {d.lower().replace("_", "-") for d in packages_distributions().get(module, [module])}


def test_module_level_imports_are_core_dependencies() -> None:
    core, _ = _declared()
    top, _ = _third_party_imports()
    undeclared = {m: w for m, w in top.items() if not _distribution(m) & core}
    assert not undeclared, f"imported at module level but not in [project] dependencies: {undeclared}"


def test_every_late_import_is_declared_somewhere() -> None:
    core, extras = _declared()
    _, late = _third_party_imports()
    undeclared = {m: w for m, w in late.items() if not _distribution(m) & (core | extras)}
    assert not undeclared, f"imported lazily but declared in no extra: {undeclared}"


def test_the_main_jobs_needs_are_core() -> None:
    """hypothesis (check, fuzz, strategies) and ml_dtypes (numpy implementations) are core, not test-only."""
    core, _ = _declared()
    assert {"hypothesis", "ml-dtypes", "numpy", "mpmath", "sympy", "gmpy2"} <= core


def test_a_checkout_is_recognised() -> None:
    assert checkout.checkout_root() == ROOT
    path, writable = checkout.committed_dir("traces")
    assert path == ROOT / "traces" and writable


def test_installed_package_copy_is_never_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Outside a checkout, --write into the package's own data folder is refused; a folder of the
    user's own is still accepted."""
    from adamw_oracle.traces import store

    monkeypatch.setattr(checkout, "checkout_root", lambda: None)
    packaged = checkout.PACKAGED_DATA_DIR / "traces"
    assert checkout.inside_installed_package(packaged)
    assert not checkout.inside_installed_package(tmp_path)
    with pytest.raises(UsageError, match="needs a source checkout"):
        store.check_writable(packaged)
    store.check_writable(tmp_path)


def test_docs_outside_a_checkout_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from adamw_oracle.cli import main
    from adamw_oracle.symbolic import render

    monkeypatch.setattr(render, "checkout_root", lambda: None)
    assert render.default_docs_dir() is None
    with pytest.raises(UsageError, match="only in a source checkout"):
        render.docs_dir_or_refuse(None)
    assert main(["prove", "--check-docs"]) == 2


def test_setup_hook_copies_the_traces(tmp_path: Path) -> None:
    """The build hook puts every committed trace file into the package data of the built tree."""
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    copied = sorted(p.name for p in (tmp_path / "adamw_oracle" / "_data" / "traces").iterdir())
    committed = sorted(p.name for p in (ROOT / "traces").iterdir() if p.suffix in (".json", ".md"))
    assert copied == committed and committed
