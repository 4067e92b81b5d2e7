"""Certified digits: the fast exact roundings, agreement with much higher precision, ties, bad input."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mpmath.libmp import from_man_exp

from adamw_oracle import PRESETS, Dtype, InvalidArgumentError, Run, constant_gradients, preset
from adamw_oracle.reference import PointBackend, certify_run, run_trajectory
from adamw_oracle.reference.digits import round_raw_to_format, significant, significant_raw
from adamw_oracle.traces.catalogue import SHARED_GRADIENTS, SHARED_PARAMS, llm_gradients, shared_case_config


@given(st.integers(1, 2**200), st.integers(-1100, 1100), st.booleans(), st.integers(1, 40))
def test_significant_raw_equals_the_fraction_rounding(man: int, exp: int, negative: bool, digits: int) -> None:
    raw = from_man_exp(-man if negative else man, exp)
    exact = Fraction(man) * Fraction(2) ** exp * (-1 if negative else 1)
    assert significant_raw(raw, digits) == significant(exact, digits)


@given(st.integers(1, 2**80), st.integers(-1200, 1050), st.booleans(), st.sampled_from(list(Dtype)))
def test_round_raw_to_format_equals_the_fraction_rounding(man: int, exp: int, negative: bool, dtype: Dtype) -> None:
    raw = from_man_exp(-man if negative else man, exp)
    exact = Fraction(man) * Fraction(2) ** exp * (-1 if negative else 1)
    fmt = dtype.format
    assert round_raw_to_format(raw, fmt.precision, fmt.emin, fmt.emax) == float(fmt.round(exact))


def test_halfway_cases_round_to_even() -> None:
    # 1 + 2^-24 lies halfway between two float32 values: ties to even gives 1; 1 + 3*2^-24 gives 1 + 2^-22
    f32 = Dtype.FLOAT32.format
    assert round_raw_to_format(from_man_exp(2**24 + 1, -24), f32.precision, f32.emin, f32.emax) == 1.0
    assert round_raw_to_format(from_man_exp(2**24 + 3, -24), f32.precision, f32.emin, f32.emax) == 1 + 2**-22
    # 0.125 = 1.25e-1 to 2 digits is a tie: even gives 1.2e-01
    assert significant_raw(from_man_exp(1, -3), 2) == "1.2e-01"


def _high_precision(run: Run, quantity: str = "p_new") -> list[list[Fraction]]:
    return run_trajectory(run, PointBackend(3000)).as_fractions(quantity)


@pytest.mark.parametrize("name", list(PRESETS))
def test_certified_digits_agree_with_a_3000_bit_point_run(name: str) -> None:
    run = Run(shared_case_config(name), SHARED_PARAMS, SHARED_GRADIENTS)
    certified = certify_run(run, digits=30)
    point = _high_precision(run)
    for k, row in enumerate(certified.steps):
        for i, values in enumerate(row):
            value = values["p_new"]
            assert value.lower <= point[k][i] <= value.upper  # the enclosure holds the 3000-bit value
            assert value.decimal == significant(point[k][i], 30)
            assert value.float64 == float(Dtype.FLOAT64.format.round(point[k][i]))
            assert value.float32 == float(Dtype.FLOAT32.format.round(point[k][i]))


def test_long_run_certifies_and_agrees_with_high_precision() -> None:
    config = preset("torch.AdamW", lr="0.0003", beta2="0.95", weight_decay="0.1")
    run = Run(config, ("0.5", "-1.25"), llm_gradients(300, 2))
    certified = certify_run(run, 30, ["p_new", "v"], steps=[0, 149, 299])
    assert certified.step_indices == (0, 149, 299)
    point_p, point_v = _high_precision(run), _high_precision(run, "v")
    for row, k in zip(certified.steps, certified.step_indices):
        for i, values in enumerate(row):
            assert values["p_new"].decimal == significant(point_p[k][i], 30)
            # v may be a decimal tie, certified with extra digits: it must then be correctly rounded
            text = values["v"].decimal
            digits = len(text.split("e")[0].replace("-", "").replace(".", ""))
            assert text == significant(point_v[k][i], digits) and digits >= 30


def test_seed_anchor_certified_value() -> None:
    run = Run(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), ("0.8",), constant_gradients(["-0.3"], 5))
    value = certify_run(run, digits=30).final()[0]
    # closed form (see tests/test_reference.py::test_seed_anchor_is_exactly_the_closed_form)
    u = Fraction("-0.0003") / Fraction("0.30000001")
    w = Fraction("0.8")
    for _ in range(5):
        w = w * (1 - Fraction("0.00001")) - u
    assert value.decimal == significant(w, 30)
    assert value.decimal.startswith("8.0495990063")


def test_a_decimal_tie_is_certified_with_one_more_digit() -> None:
    # p_new = 0.3 - 0.5*0.3 = 0.15 exactly: halfway between 0.1 and 0.2, so no enclosure of non-zero
    # width certifies 1 digit; the longer string "1.5e-01" is certified instead.
    run = Run(preset("torch.SGD", lr="0.5"), ("0.3",), constant_gradients(["0.3"], 1))
    value = certify_run(run, digits=1).final()[0]
    assert value.decimal == "1.5e-01"
    assert value.lower <= Fraction("0.15") <= value.upper


def test_exact_zero_is_certified() -> None:
    run = Run(preset("torch.AdamW", weight_decay="0"), ("1",), constant_gradients(["0"], 2))
    row = certify_run(run, 30).steps[1][0]
    assert row["m"].decimal == "0" and row["update"].decimal == "0" and row["decay"].decimal == "0"


def test_bad_arguments_are_refused() -> None:
    run = Run(preset("torch.AdamW"), ("1",), constant_gradients(["0.1"], 2))
    with pytest.raises(InvalidArgumentError, match="digits=0"):
        certify_run(run, digits=0)
    with pytest.raises(InvalidArgumentError, match="steps=5"):
        certify_run(run, steps=[5])
    with pytest.raises(InvalidArgumentError, match="quantities"):
        certify_run(run, quantities=["direction"])
    with pytest.raises(InvalidArgumentError, match="run.gradients"):
        certify_run(Run(preset("torch.AdamW"), ("1",), ((float("nan"),),)))
