"""The pytest plugin: target selection by option or environment, report header, fixtures, skipping."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
from hypothesis import given, settings
from adamw_oracle.check import assert_conforms
from adamw_oracle.pytest_plugin import selected_cases

@settings(max_examples=5, deadline=None, database=None)
@given(case=selected_cases(max_steps=3))
def test_conforms(adamw_target, case):
    assert_conforms(adamw_target, case)

def test_fixtures(adamw_expected, adamw_dtype):
    assert adamw_dtype in ("float32", "float64")
    assert adamw_expected.label
"""


def test_target_from_environment_with_header(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_opt=TEST_FILE)
    monkeypatch.setenv("ADAMW_ORACLE_TARGET", "adamw_oracle.verify:NumpyImplementation")
    monkeypatch.setenv("ADAMW_ORACLE_EXPECT", "torch.AdamW")
    result = pytester.runpytest_subprocess("--adamw-dtype", "float64", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "adamw-oracle target: adamw_oracle.verify:NumpyImplementation (numpy*)",
        "adamw-oracle versions: adamw-oracle *",
        "adamw-oracle convention: torch.AdamW: *weight_decay=decoupled_lr*",
        "adamw-oracle dtype: float64",
    ])


def test_broken_target_fails_with_the_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_opt=TEST_FILE)
    result = pytester.runpytest_subprocess(
        "--adamw-target", "adamw_oracle.verify.mutations:DecayNotScaledByLr", "--adamw-expect", "torch.AdamW",
        "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ConformanceError*does not conform*", "*outside_bound*", "*Case(float32*"])


def test_no_target_skips(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADAMW_ORACLE_TARGET", raising=False)
    pytester.makepyfile(test_opt=TEST_FILE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    assert "adamw-oracle target" not in result.stdout.str()
