"""The README's checking section runs as written: code blocks are extracted from README.md itself, so
the examples cannot drift from the code."""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from adamw_oracle.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def _section(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"<!-- section: {name} -->")
    end = text.find("<!-- section:", start + 1)
    return text[start:end if end != -1 else None]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section("checking"), flags=re.S)


def test_section_has_the_documented_examples() -> None:
    python = _blocks("python")
    assert any("from_callable" in b for b in python), "custom adapter example missing"
    assert any("SubprocessImplementation" in b for b in python), "subprocess example missing"
    assert any(b.startswith("# test_") for b in python), "pytest example missing"


def test_python_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "readme"}
    out = io.StringIO()
    for block in _blocks("python"):
        if block.startswith("# test_"):
            continue  # a test file: run by test_pytest_example_runs
        # the custom adapter must stay within the promised ten lines of user code
        if "def my_adamw" in block:
            body = block[block.index("def my_adamw"):block.index("return np.array(out)")].splitlines()
            assert len(body) + 1 <= 10
        with contextlib.redirect_stdout(out):
            exec(compile(block, "README.md", "exec"), namespace)
    assert "('torch.AdamW', 'optax.adamw')" in out.getvalue()  # what the README comment says identify prints
    assert "PASS" in out.getvalue()


def test_pytest_example_runs(pytester: pytest.Pytester) -> None:
    block = next(b for b in _blocks("python") if b.startswith("# test_"))
    name = block.split()[1]
    pytester.makepyfile(**{name[:-3]: block})
    command = block.splitlines()[0].split("run with:", 1)[1].split()
    assert command[0] == "pytest"
    result = pytester.runpytest_subprocess(*command[1:], "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["adamw-oracle target: torch.AdamW", "adamw-oracle dtype: float32"])


def test_shell_examples_parse() -> None:
    parser = build_parser()
    lines = [line.split("#", 1)[0].strip() for b in _blocks("bash") for line in b.splitlines()]
    commands = [shlex.split(line) for line in lines if line.startswith("adamw-oracle ")]
    assert len(commands) >= 3
    for argv in commands:
        args = parser.parse_args(argv[1:])
        assert args.command in ("check", "identify")
        if args.cmd:
            program = shlex.split(args.cmd)[-1]
            assert (ROOT / program).is_file(), program
    assert os.path.isfile(ROOT / "docs" / "checking.md")
