"""Issue 14, "Numbers and arguments": hostile numbers and arguments are refused at once, clearly.

Each test here failed before its fix (the exponent tests by hanging: they run in a subprocess with a
timeout so that a regression fails instead of stalling the suite).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from adamw_oracle import preset
from adamw_oracle.cli import main
from adamw_oracle.contract.run import MAX_STEPS, Run, constant_gradients
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference import certify_run

HOSTILE_NUMBERS = textwrap.dedent("""
    from decimal import Decimal
    from adamw_oracle import preset
    from adamw_oracle.cli import main
    from adamw_oracle.contract.exact import to_exact
    from adamw_oracle.contract.run import Run
    from adamw_oracle.errors import InvalidArgumentError

    def refused(call):
        try:
            call()
        except InvalidArgumentError as exc:
            print("REFUSED", exc)
        else:
            print("ACCEPTED")

    for text in ("1e-400000", "1e999999999", "0e99999999999999999999"):
        refused(lambda: to_exact(text, "lr"))
    refused(lambda: to_exact(Decimal("1e999999999"), "lr"))
    refused(lambda: preset("torch.AdamW", lr="1e-400000"))
    refused(lambda: Run(preset("torch.AdamW"), ("1e9999999",), (("0.1",),)))
    for argv in (["--lr", "1e-400000", "--params", "0.8"], ["--lr", "1e999999999", "--params", "0.8"],
                 ["--params", "1e9999999"]):
        print("EXIT", main(["trace", "--grads", "0.1", *argv]))
""")


def test_huge_and_tiny_exponents_are_refused_at_once() -> None:
    result = subprocess.run([sys.executable, "-c", HOSTILE_NUMBERS], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:6] == [line for line in lines[:6] if line.startswith("REFUSED")] and len(lines) == 9
    assert all("[-1000, 1000]" in line for line in lines[:6])
    assert "lr='1e-400000'" in lines[0] and "initial_params='1e9999999'" in lines[5]
    assert lines[6:] == ["EXIT 2"] * 3
    errors = result.stderr.splitlines()
    assert len(errors) == 3 and "--lr='1e-400000'" in errors[0] and "--params='1e9999999'" in errors[2]
    assert all("decimal exponent in [-1000, 1000]" in line for line in errors)


def test_the_documented_exponent_range_is_accepted() -> None:
    from adamw_oracle.contract.exact import to_exact

    assert to_exact("1e-1000") == Fraction(1, 10**1000)
    assert to_exact("2.5e+1000") == Fraction(25 * 10**999)


@pytest.mark.parametrize("timeout", ["inf", "1e300", "nan", "0", "-1"])
@pytest.mark.parametrize("command", ["check", "identify"])
def test_case_timeout_must_be_finite_positive_and_bounded(command: str, timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    # before the fix: check ran and reported its own "OverflowError: timestamp out of range" as a finding
    assert main([command, "torch.AdamW", "--case-timeout", timeout]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--case-timeout={float(timeout)!r} is not allowed" in err
    assert "finite number of seconds in (0, 1e+06]" in err


def test_case_timeout_inf_is_refused_by_the_python_api_before_any_case() -> None:
    from adamw_oracle.check import check_target

    with pytest.raises(InvalidArgumentError, match=r"case_timeout=inf .*\(0, 1e\+06\], or None"):
        check_target("torch.AdamW", examples=1, case_timeout=float("inf"))


def test_certify_run_at_the_top_of_its_digit_range() -> None:
    # SGD is rational: p_new = p - lr*g exactly, so the certified digits are checked against Fractions
    run = Run(preset("torch.SGD", lr="0.001"), ("0.8",), (("1/3",),))
    certified = certify_run(run, digits=10000, quantities=["p_new"])
    decimal = certified.final()[0].decimal
    # 0.8 - 0.001/3 = 0.7996666...: digits 7, 9, 9, then 6 forever; the 10000th rounds up to 7
    mantissa, exponent = decimal.split("e")
    assert exponent == "-01" and len(mantissa.replace(".", "")) == 10000
    assert mantissa == "7.99" + "6" * 9996 + "7"


def test_a_float32_halfway_value_is_certified_exactly() -> None:
    # m = 0.9*m0 + 0.1*g = -22224021/2^29 exactly, with float32 m0 and g; 22224021 is odd and has 25
    # bits, so m lies exactly halfway between two float32 numbers: no enclosure of non-zero width can
    # decide its float32 rounding (before the fix: CertificationError).
    m0, g = Fraction(-22224020, 2**29), Fraction(-22224030, 2**29)
    assert float(np.float32(float(m0))) == float(m0) and float(np.float32(float(g))) == float(g)
    config = preset("torch.Adam", lr="0.001", beta1="0.9")
    from adamw_oracle.contract.state import exact_state

    run = Run(config, ("1",), ((g,),), exact_state(0, [m0], ["0"]))
    value = certify_run(run, digits=30, quantities=["m"]).final("m")[0]
    exact = Fraction(-22224021, 2**29)
    assert value.lower == value.upper == exact
    # numpy's float64 -> float32 conversion (round to nearest, ties to even) is the independent judge
    assert value.float32 == float(np.float32(float(exact))) == -22224020 / 2**29
    assert value.float64 == float(exact)


def test_an_exact_zero_reached_by_cancellation_is_certified() -> None:
    run = Run(preset("torch.SGD", lr="0.1"), ("1",), (("10",),))  # p_new = 1 - 0.1*10 = 0 exactly
    value = certify_run(run, digits=20, quantities=["p_new"]).final()[0]
    assert value.decimal == "0" and value.float64 == 0.0 and value.float32 == 0.0
    assert value.lower == value.upper == 0


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: Run("torch.AdamW", ("0.8",), (("0.1",),)), "config='torch.AdamW'"),  # type: ignore[arg-type]
        (lambda: Run(preset("torch.AdamW"), ("0.8",), ()), "gradients='0 rows'"),
        (lambda: Run(preset("torch.AdamW"), "0.8", (("0.1",),)), "initial_params='0.8'"),  # type: ignore[arg-type]
        (lambda: Run(preset("torch.AdamW"), ("0.8",), "0.1"), "gradients='0.1'"),  # type: ignore[arg-type]
        (lambda: constant_gradients(("0.1",), 10**9), f"steps=1000000000 is not allowed: expected an int in [1, {MAX_STEPS}]"),
    ],
)
def test_python_api_validates_runs_at_construction(build, argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        build()
    assert argument in str(info.value) and "expected" in str(info.value)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["check", "torch.AdamW", "--examples", "0"], "--examples"),
        (["check", "torch.AdamW", "--seed", "-1"], "--seed"),
        (["fuzz", "--seed", "-1"], "--seed"),
        (["fuzz", "--examples", "0"], "--examples"),
        (["check", "torch.AdamW", "--max-steps", "0"], "--max-steps"),
    ],
)
def test_cli_errors_name_the_option(argv: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{option}={argv[-1]} is not allowed: expected an int" in err
    assert f" {option.lstrip('-')}=" not in err


def test_errors_raised_below_the_cli_are_renamed_to_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "torch.AdamW", "--dtype", "float8", "--examples", "1"]) == 2
    err = capsys.readouterr().err
    assert "--dtype='float8' is not allowed" in err and " dtype=" not in err


def test_fuzz_api_refuses_a_negative_seed() -> None:
    from adamw_oracle.verify.fuzz import three_way_fuzz

    with pytest.raises(InvalidArgumentError, match="seed=-1"):
        three_way_fuzz(1, -1)
