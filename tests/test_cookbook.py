"""docs/checking.md's cookbook runs as written: every code block of its "Cookbook" section, in order, in a
fresh directory -- ``bash`` blocks line by line through the command line (``adamw-oracle ARGS`` is
``adamw_oracle.cli.main(ARGS)``, and a ``--cmd "python ..."`` runs this interpreter), ``python`` blocks
with ``exec``, and a block whose first line is ``# file: NAME`` written to NAME first. Every command
must exit 0 and every block must run without an exception."""
from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

from adamw_oracle.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "checking.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_NEEDS = {"torch": "torch", "optax": "optax", "keras": "keras", "jax": "jax"}


def cookbook_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the Cookbook section."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Cookbook")
    end = text.index("\n## ", start + 1)
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(text[start:end])]


def test_the_cookbook_has_the_five_recipes() -> None:
    code = "\n".join(c for _, c in cookbook_blocks())
    for needle in ("torch.optim:AdamW", "torch.optim.Optimizer", "optax:adamw", "keras.optimizers:AdamW",
                   "--cmd", "from_callable"):
        assert needle in code, needle


def test_cookbook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    missing = [mod for mod in _NEEDS.values() if importlib.util.find_spec(mod) is None]
    if missing:
        pytest.skip(f"the cookbook uses {', '.join(missing)} (not installed)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for lang, code in cookbook_blocks():
        first = code.splitlines()[0] if code.strip() else ""
        if first.startswith("# file: "):
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(code, encoding="utf-8")
        elif lang == "bash":
            for line in filter(None, (raw.strip() for raw in code.splitlines())):
                argv = shlex.split(line)
                assert argv[0] == "adamw-oracle", line
                argv = [arg.replace("python ", shlex.quote(sys.executable) + " ", 1) if arg.startswith("python ")
                        else arg for arg in argv[1:]]
                status = main(argv)
                assert status == 0, f"{line}: exit {status}\n{capsys.readouterr().out[-3000:]}"
        elif lang == "python":
            exec(compile(code, f"{DOC.name} cookbook block", "exec"), {"__name__": "cookbook"})
