"""The package's layering, read from the source with ``ast``: imports point down, never up or in a circle.

Layers (a module may import its own layer's package and any lower layer, never a higher one):

====  ============================================================================================
rank  packages
====  ============================================================================================
0     ``errors``, ``checkout``, ``atomic`` (leaf utilities)
1     ``contract``; then the package root ``adamw_oracle/__init__.py`` (it re-exports the contract)
2     ``reference``, ``symbolic``, ``gpu``: the three independent formulations; none imports another
3     ``verify``, ``traces``: built on the formulations
3.5   ``vectors``: the test-vector suite (its tolerances are the error model's, its writes atomic)
4     ``adapters``, ``check`` (check may use adapters, never the reverse), ``strategies`` (public alias)
5     ``plots``, ``pytest_plugin``; then ``cli`` (it draws plots); then ``__main__``
====  ============================================================================================

Every import of an ``adamw_oracle`` module counts, at module level or inside a function (a late import
hides a cycle from the interpreter, not from the design). The module graph must also be acyclic.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "adamw_oracle"

RANK: dict[str, float] = {
    "errors": 0, "checkout": 0, "atomic": 0,
    "contract": 1, "(root)": 1.5,
    "reference": 2, "symbolic": 2, "gpu": 2,
    "verify": 3, "traces": 3, "vectors": 3.5,
    "adapters": 4, "check": 4, "strategies": 4,
    "plots": 5, "pytest_plugin": 5, "cli": 5.5, "__main__": 6,
}
SAME_RANK_ALLOWED = {("check", "adapters")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "(root)"
    return parts[1]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (annotations only: never imported at run time)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every ``adamw_oracle`` module that ``path`` imports, with the line number (type-only imports under
    ``if TYPE_CHECKING:`` excepted: they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "adamw_oracle" or node.module.startswith("adamw_oracle."):
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names
                         if alias.name == "adamw_oracle" or alias.name.startswith("adamw_oracle."))
    return found


def _graph() -> dict[str, list[tuple[str, int]]]:
    return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str, modules: set[str]) -> str:
    """The module an import names (``from adamw_oracle.x import y`` imports module ``adamw_oracle.x``)."""
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def test_every_layer_is_known() -> None:
    layers = {_layer(name) for name in _graph()}
    assert layers <= set(RANK), f"packages missing from the layering table: {sorted(layers - set(RANK))}"


def test_imports_point_down() -> None:
    wrong = []
    for module, imports in _graph().items():
        source = _layer(module)
        for target, line in imports:
            destination = _layer(target)
            if destination == source:
                continue
            ok = RANK[destination] < RANK[source] or (source, destination) in SAME_RANK_ALLOWED
            if not ok:
                wrong.append(f"{module}:{line} imports {target} ({source} rank {RANK[source]} -> "
                             f"{destination} rank {RANK[destination]})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_module_graph_is_acyclic() -> None:
    graph = _graph()
    modules = set(graph)
    edges = {m: sorted({_resolve(t, modules) for t, _ in imps} - {m}) for m, imps in graph.items()}
    # a package's __init__ re-exporting its submodules is the usual structure, not a cycle of design:
    # drop the edges from a package to its own submodules
    edges = {m: [t for t in ts if not t.startswith(m + ".")] for m, ts in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("source, target, expected", [
    ("adamw_oracle.verify.judge", "adamw_oracle.adapters.registry", False),
    ("adamw_oracle.gpu.host", "adamw_oracle.reference.adam", False),
    ("adamw_oracle.check.runner", "adamw_oracle.adapters.registry", True),
    ("adamw_oracle.cli.main_job", "adamw_oracle.check.runner", True),
    ("adamw_oracle.contract.case", "adamw_oracle.verify.judge", False),
])
def test_the_rule_itself(source: str, target: str, expected: bool) -> None:
    """The rule rejects the edges the architecture forbids (so the tests above can fail)."""
    s, d = _layer(source), _layer(target)
    assert (s == d or RANK[d] < RANK[s] or (s, d) in SAME_RANK_ALLOWED) is expected


def test_every_late_import_says_why() -> None:
    """A function-level import is kept only for an optional or heavy dependency (or to keep the command
    line's start-up fast), and its line says which: a late import without a reason hides a cycle."""
    silent = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    own = " ".join(lines[node.lineno - 1:node.end_lineno])
                    above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                    if "#" not in own and not above.startswith("#"):
                        silent.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not silent, "late imports without a reason:\n" + "\n".join(sorted(set(silent)))
