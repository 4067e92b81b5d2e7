"""Targets by import path, with no glue: torch optimizer classes, optax factories and Keras optimizer
classes are mapped by their signatures (adamw_oracle/adapters/signature.py); a switch a class lacks is a
capability it lacks. Verdicts come from the error model; no test here has its own tolerance.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from adamw_oracle import Dtype, Run, constant_gradients, preset  # noqa: E402
from adamw_oracle.adapters import Case, resolve_target  # noqa: E402
from adamw_oracle.adapters.signature import parse_option  # noqa: E402
from adamw_oracle.adapters.torch import TorchImplementation  # noqa: E402
from adamw_oracle.check import check_target, evaluate, identify  # noqa: E402
from adamw_oracle.cli import main  # noqa: E402
from adamw_oracle.contract.capabilities import Capability, capabilities_of  # noqa: E402
from adamw_oracle.errors import InvalidArgumentError  # noqa: E402

pytest_plugins = ["pytester"]

SMALL: dict[str, Any] = dict(examples=5, max_steps=3)
HERE = "import_path_optimizers"


@pytest.fixture(autouse=True)
def _tests_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


@pytest.mark.parametrize(("target", "expect"), [("torch.optim:AdamW", "torch.AdamW"), ("torch.optim:Adam", "torch.Adam")])
def test_torch_class_by_import_path_passes(target: str, expect: str) -> None:
    impl = resolve_target(target)
    assert capabilities_of(impl) == {Capability.WEIGHT_DECAY, Capability.AMSGRAD, Capability.MAXIMIZE}
    report = check_target(target, expect=expect, dtype="float32", **SMALL)
    assert report.passed, report.describe()


def test_cli_check_torch_class_with_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "torch.optim:AdamW", "--expect", "torch.AdamW", "--option", "foreach=false",
                 "--examples", "4", "--max-steps", "3", "--quiet"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_class_without_switches_is_checked_and_lacks_them() -> None:
    target = f"{HERE}:PlainAdamW"
    impl = resolve_target(target)
    assert capabilities_of(impl) == {Capability.WEIGHT_DECAY}  # no amsgrad, maximize, eps_root
    report = check_target(target, expect="torch.AdamW", dtype="float64", **SMALL)
    assert report.passed, report.describe()  # never called with amsgrad/maximize/foreach/fused
    assert "options:    weight_decay (lacks amsgrad, maximize, eps_root" in report.describe()
    assert report.as_dict()["capabilities"] == ["weight_decay"]
    found = identify(target)
    assert found.presets[:1] == ("torch.AdamW",) and Capability.AMSGRAD not in found.capabilities
    assert "options: weight_decay)" in found.describe()
    # an amsgrad case is refused by the adapter, not passed on as an unknown keyword
    case = Case(Run(preset("torch.AdamW", amsgrad=True), (0.5,), constant_gradients([0.25], 1)), Dtype.FLOAT32)
    assert "no option for amsgrad" in (impl.run(case).error or "")
    with pytest.raises(InvalidArgumentError, match="fused"):
        TorchImplementation(optimizer_class=impl.optimizer_class, path="fused")


def test_forwarding_kwargs_read_from_the_base_class() -> None:
    assert capabilities_of(resolve_target(f"{HERE}:ForwardingAdamW")) == {
        Capability.WEIGHT_DECAY, Capability.AMSGRAD, Capability.MAXIMIZE}


def test_in_place_grad_write_of_an_import_path_class_is_a_finding() -> None:
    impl = resolve_target(f"{HERE}:ZeroesGradAdamW")
    run = Run(preset("torch.AdamW", lr="0.01", weight_decay="0.1"), (0.5,), constant_gradients([0.25], 2))
    result = evaluate(impl, Case(run, Dtype.FLOAT32))
    assert [f.kind for f in result.findings] == ["mutated_input", "mutated_input"], result.findings


def test_identify_torch_class_by_import_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["identify", "torch.optim:AdamW"]) == 0
    assert "preset:     torch.AdamW" in capsys.readouterr().out


def test_identify_float32_arithmetic_class_at_its_own_dtype() -> None:
    target = f"{HERE}:Float32AdamW"
    # probed in float64 it is identified in its own precision (issue 13: it used to fit no convention)
    wide = identify(target)
    assert wide.presets[:1] == ("torch.AdamW",) and wide.precision.arithmetic is Dtype.FLOAT32
    found = identify(target, dtype="float32")
    assert found.dtype is Dtype.FLOAT32 and found.presets[:1] == ("torch.AdamW",)


def test_cli_identify_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["identify", f"{HERE}:Float32AdamW", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "probes in float32" in out and "preset:     torch.AdamW" in out


def test_optax_factory_by_import_path() -> None:
    pytest.importorskip("optax")
    impl = resolve_target("optax:adamw")
    # its state holds one Adam node (count, mu, nu), so it takes seeded states (adapters/optax_state.py)
    assert capabilities_of(impl) == {Capability.WEIGHT_DECAY, Capability.EPS_ROOT, Capability.SEEDED_STATE}
    report = check_target("optax:adamw", expect="optax.adamw", dtype="float32", **SMALL)
    assert report.passed, report.describe()


def test_keras_class_by_import_path() -> None:
    pytest.importorskip("keras")
    report = check_target("keras.optimizers:AdamW", expect="keras.AdamW", dtype="float32", **SMALL)
    assert report.passed, report.describe()
    assert "backend" in report.versions


@pytest.mark.parametrize("argv", [
    ["check", "torch.optim:Adagrad", "--expect", "torch.Adam"],              # not Adam- or SGD-family
    ["check", f"{HERE}:not_an_optimizer", "--expect", "torch.AdamW"],        # a function of one argument
    ["check", "torch.optim:AdamW", "--option", "nosuch=1"],                  # not a parameter of the class
    ["check", "torch.optim:AdamW", "--option", "lr=0.5"],                    # set by every case
    ["check", "torch.optim:AdamW", "--option", "foreach"],                   # no value
    ["check", "torch.AdamW", "--option", "foreach=false"],                   # a built-in target takes none
    ["identify", "torch.optim:AdamW", "--dtype", "float8"],
])
def test_cli_usage_errors_are_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("adamw-oracle: error: ") and err.count("\n") == 1, err


def test_option_values_are_parsed() -> None:
    assert [parse_option(t) for t in ("foreach=false", "k=3", "x=2.5", "s=abc", "n=None")] == [
        ("foreach", False), ("k", 3), ("x", 2.5), ("s", "abc"), ("n", None)]


PLUGIN_TEST = """
from hypothesis import given, settings
from adamw_oracle.check import assert_conforms
from adamw_oracle.pytest_plugin import selected_cases

@settings(max_examples=4, deadline=None, database=None)
@given(case=selected_cases(max_steps=3))
def test_conforms(adamw_target, case):
    assert adamw_target.options == {"foreach": False}
    assert_conforms(adamw_target, case)
"""


def test_pytest_plugin_takes_an_import_path_with_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_opt=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("--adamw-target", "torch.optim:AdamW", "--adamw-option", "foreach=false",
                                           "--adamw-expect", "torch.AdamW", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["adamw-oracle target: torch.optim:AdamW"])
