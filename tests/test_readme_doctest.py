"""Every `>>>` example in README.md runs and prints what the README says (the README cannot drift)."""
from __future__ import annotations

import doctest
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_readme_doctest_passes() -> None:
    result = doctest.testfile(str(README), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5, "the README should keep its runnable examples"
    assert result.failed == 0


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    fence = lines.index("```bash")
    install_and_run, install_and_test = lines[fence + 1], lines[fence + 2]
    assert install_and_run.endswith("&& adamw-oracle")
    assert "pytest" in install_and_test
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert install_and_test in ci
