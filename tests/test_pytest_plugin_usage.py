"""The pytest plugin's usage errors (issue 14): a bad selection is one line and exit status 4 (a pytest
usage error), never an INTERNALERROR; a module next to the tests is importable with plain ``pytest``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST_FILE = """
from hypothesis import given, settings
from adamw_oracle.check import assert_conforms
from adamw_oracle.pytest_plugin import selected_cases

@settings(max_examples=3, deadline=None, database=None)
@given(case=selected_cases(max_steps=2))
def test_conforms(adamw_target, case):
    assert_conforms(adamw_target, case)
"""

MY_OPT = """
import numpy as np

def sgd(params, grads, hyper):
    out, p = [], params.copy()
    for g in grads:
        p = (p - p.dtype.type(hyper["lr"]) * g).astype(params.dtype)
        out.append(p)
    return np.array(out)

from adamw_oracle.verify import NumpyImplementation as AdamW
"""


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Plain ``pytest`` (the console script, so the current directory is not on sys.path) in ``directory``."""
    script = Path(sys.executable).parent / "pytest"
    argv = [str(script)] if script.exists() else [sys.executable, "-c", "import sys, pytest; sys.path.pop(0); sys.exit(pytest.main())"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAMW_ORACLE_") and k != "PYTHONPATH"}
    return subprocess.run([*argv, "-p", "no:cacheprovider", *args], cwd=directory, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_opt.py").write_text(TEST_FILE)
    (tmp_path / "my_opt.py").write_text(MY_OPT)
    return tmp_path


def _one_line_usage_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    text = done.stdout + done.stderr
    assert done.returncode == 4, text
    assert "INTERNALERROR" not in text and "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.parametrize("args, needles", [
    (["--adamw-target", "torch.AdamWW"], ["--adamw-target='torch.AdamWW'", "did you mean"]),
    (["--adamw-target", "no_such_module:fn"], ["--adamw-target='no_such_module:fn'", "importable module"]),
    (["--adamw-target", "my_opt:missing"], ["--adamw-target='my_opt:missing'", "'missing' is missing"]),
    (["--adamw-target", "my_opt:AdamW", "--adamw-expect", "torch.AdamWW"], ["--adamw-expect='torch.AdamWW'"]),
    (["--adamw-target", "my_opt:AdamW", "--adamw-dtype", "float8"], ["--adamw-dtype='float8'", "bfloat16"]),
    (["--adamw-target", "my_opt:sgd"], ["plain function", "--adamw-expect"]),
])
def test_bad_selection_is_a_one_line_usage_error(project: Path, args: list[str], needles: list[str]) -> None:
    _one_line_usage_error(_pytest(project, *args), *needles)


def test_module_next_to_the_tests_is_importable_with_plain_pytest(project: Path) -> None:
    # not -q: the report header resolves the target before collection puts the tests' directory on sys.path
    done = _pytest(project, "--adamw-target", "my_opt:AdamW", "--adamw-expect", "torch.AdamW", "--adamw-dtype", "float64")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "adamw-oracle target: my_opt:AdamW" in done.stdout and "1 passed" in done.stdout
