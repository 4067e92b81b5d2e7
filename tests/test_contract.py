"""The shared contract: validation messages, presets' flag mapping, exact input conversion.

Expected values are taken from shared/GUIDE.md section 1 (framework defaults and flags) and from
hand-computed binary expansions (noted next to each value), never from the code under test.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from adamw_oracle import (
    PRESETS,
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    Dtype,
    EpsPlacement,
    Family,
    Hyperparameters,
    InvalidArgumentError,
    OptimizerConfig,
    Run,
    WeightDecay,
    all_conventions,
    constant_gradients,
    exact_state,
    preset,
    to_exact,
)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("lr", "-0.1", ">= 0"),
        ("eps", "-1e-8", ">= 0"),
        ("beta1", "1", "[0, 1)"),
        ("beta2", "-0.5", "[0, 1)"),
        ("weight_decay", "-0.01", ">= 0"),
        ("momentum", "1.5", "[0, 1]"),
        ("eps", float("nan"), "finite"),
        ("lr", "abc", "decimal number"),
        ("lr", "inf", "finite"),
        ("beta1", True, "not a boolean"),
    ],
)
def test_invalid_hyperparameter_names_argument_value_and_range(field: str, value: object, allowed: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Hyperparameters(**{field: value})
    error = info.value
    assert error.argument == field
    message = str(error)
    assert message.startswith(f"{field}=")
    assert allowed in message
    assert "\n" not in message


def test_nesterov_needs_momentum_and_no_dampening() -> None:
    with pytest.raises(InvalidArgumentError, match="nesterov"):
        Hyperparameters(nesterov=True)
    with pytest.raises(InvalidArgumentError, match="nesterov"):
        Hyperparameters(nesterov=True, momentum="0.9", dampening="0.1")
    assert Hyperparameters(nesterov=True, momentum="0.9").nesterov


def test_steps_below_one_and_bad_state_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="steps=0"):
        constant_gradients(["0.1"], 0)
    with pytest.raises(InvalidArgumentError, match="step=-1"):
        exact_state(-1, ["0"], ["0"])
    with pytest.raises(InvalidArgumentError, match="v="):
        exact_state(0, ["0"], ["-1"])
    with pytest.raises(InvalidArgumentError, match="gradients\\[0\\]"):
        Run(preset("torch.Adam"), ("1", "2"), (("0.1",),))


def test_unknown_preset_suggests_the_closest_name() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        preset("torch.Adamw2")
    assert info.value.argument == "preset"
    assert "torch.AdamW" in str(info.value)
    assert preset("TORCH.ADAMW").name == "torch.AdamW"  # case-insensitive lookup


def test_cross_checks_of_config_and_conventions() -> None:
    with pytest.raises(InvalidArgumentError, match="eps_root"):
        OptimizerConfig(Conventions(), Hyperparameters(eps_root="1e-8"))
    with pytest.raises(InvalidArgumentError, match="weight_decay"):
        OptimizerConfig(Conventions(weight_decay=WeightDecay.NONE), Hyperparameters(weight_decay="0.1"))
    with pytest.raises(InvalidArgumentError, match="momentum"):
        OptimizerConfig(Conventions(), Hyperparameters(momentum="0.9"))
    with pytest.raises(InvalidArgumentError, match="eps_placement"):
        Conventions(family=Family.SGD, eps_placement=EpsPlacement.EPSILON_HAT)
    with pytest.raises(InvalidArgumentError, match="decay_target"):
        Conventions(weight_decay=WeightDecay.COUPLED_L2, decay_target=DecayTarget.UPDATED_PARAM)
    with pytest.raises(InvalidArgumentError, match="family"):
        Conventions(family="adamax")


def test_presets_map_framework_flags_to_named_conventions() -> None:
    # GUIDE section 1: AMSGrad keeps the max of raw v in torch and Keras, of v-hat in optax.
    assert preset("torch.Adam", amsgrad=True).conventions.amsgrad is AmsGrad.MAX_RAW_V
    assert preset("torch.AdamW", amsgrad=True).conventions.amsgrad is AmsGrad.MAX_RAW_V
    assert preset("keras.Adam", amsgrad=True).conventions.amsgrad is AmsGrad.MAX_RAW_V
    assert preset("optax.adam", lr="0.1", amsgrad=True).conventions.amsgrad is AmsGrad.MAX_V_HAT
    with pytest.raises(InvalidArgumentError, match="amsgrad"):
        preset("hf.AdamW", amsgrad=True)
    assert preset("torch.AdamW", maximize=True).conventions.maximize is True
    with pytest.raises(InvalidArgumentError, match="maximize"):
        preset("optax.adam", lr="0.1", maximize=True)


def test_presets_conventions_and_defaults_follow_the_guide_table() -> None:
    c = {name: p.conventions for name, p in PRESETS.items()}
    assert c["torch.Adam"].weight_decay is WeightDecay.COUPLED_L2
    assert c["torch.AdamW"].weight_decay is WeightDecay.DECOUPLED_LR
    assert c["optax.adamw"].eps_placement is EpsPlacement.INSIDE_ROOT
    assert c["keras.Adam"].weight_decay is WeightDecay.DECOUPLED_LR  # Keras decays decoupled for any optimizer
    assert c["keras.AdamW"].eps_placement is EpsPlacement.EPSILON_HAT
    assert c["tfa.AdamW"].weight_decay is WeightDecay.DECOUPLED_UNSCALED
    assert c["paper.AdamW"].weight_decay is WeightDecay.DECOUPLED_SCHEDULE
    assert c["hf.AdamW"].decay_target is DecayTarget.UPDATED_PARAM
    assert c["mlx.AdamW"].bias_correction is BiasCorrection.OFF
    assert c["torch.SGD"].family is Family.SGD and c["sgdw"].weight_decay is WeightDecay.DECOUPLED_LR
    # defaults (GUIDE table): torch 1e-3/(.9,.999)/1e-8 with wd 1e-2 for AdamW; optax adamw wd 1e-4;
    # Keras eps 1e-7 and AdamW wd 0.004; HF eps 1e-6; MLX wd 0.01
    assert preset("torch.AdamW").hyper.weight_decay == Fraction(1, 100)
    assert preset("torch.Adam").hyper.eps == Fraction(1, 10**8)
    assert preset("optax.adamw", lr="0.1").hyper.weight_decay == Fraction(1, 10**4)
    assert preset("keras.AdamW").hyper.eps == Fraction(1, 10**7)
    assert preset("keras.AdamW").hyper.weight_decay == Fraction(4, 1000)
    assert preset("hf.AdamW").hyper.eps == Fraction(1, 10**6)
    assert preset("mlx.AdamW", lr="0.1").hyper.weight_decay == Fraction(1, 100)
    # required hyperparameters have no default (optax's lr, TF-Addons' weight_decay, MLX's lr)
    for name, missing in (("optax.adam", "lr"), ("tfa.AdamW", "weight_decay"), ("mlx.AdamW", "lr")):
        with pytest.raises(InvalidArgumentError) as info:
            preset(name)
        assert info.value.argument == missing


def test_decimal_strings_are_exact_rationals() -> None:
    assert to_exact("0.001") == Fraction(1, 1000)
    assert to_exact("1e-8") == Fraction(1, 10**8)
    assert to_exact("3/4") == Fraction(3, 4)
    assert to_exact("-2.5E2") == -250
    assert Hyperparameters(lr="0.001").lr == Fraction(1, 1000)


def test_binary_floats_are_taken_at_their_exact_value() -> None:
    # 0.1 in float64 is 0x1.999999999999ap-4 = 3602879701896397 / 2^55
    assert to_exact(0.1) == Fraction(3602879701896397, 2**55)
    # float32(0.1): 0.1 * 2^27 = 13421772.8 -> 13421773, so 13421773 / 2^27
    assert to_exact(np.float32(0.1)) == Fraction(13421773, 2**27)
    # float16(0.1): quantum 2^-14 in [2^-4, 2^-3); 0.1 * 2^14 = 1638.4 -> 1638, so 819 / 2^13
    assert to_exact(np.float16(0.1)) == Fraction(819, 2**13)
    # bfloat16(0.1): 8 significant bits, quantum 2^-11; 0.1 * 2^11 = 204.8 -> 205, so 205 / 2^11
    import ml_dtypes

    assert to_exact(np.array(0.1, dtype=ml_dtypes.bfloat16)[()]) == Fraction(205, 2**11)
    torch = pytest.importorskip("torch")
    assert to_exact(torch.tensor(0.1, dtype=torch.bfloat16)) == Fraction(205, 2**11)
    assert to_exact(torch.tensor(0.1, dtype=torch.float32)) == Fraction(13421773, 2**27)
    with pytest.raises(InvalidArgumentError):
        to_exact(np.zeros(2))
    assert math.isnan(to_exact(float("nan"), allow_nonfinite=True))


@pytest.mark.parametrize("dtype", [Dtype.FLOAT32, Dtype.FLOAT16])
def test_float_format_rounding_matches_numpy_casts(dtype: Dtype) -> None:
    # numpy's float64 -> float32/float16 cast is correctly rounded (ties to even): an independent source
    np_type = {Dtype.FLOAT32: np.float32, Dtype.FLOAT16: np.float16}[dtype]
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(300) * 10.0 ** rng.integers(-9, 6, 300), [1e-45, 3e-8, 65519.0, 65520.0]])
    for x in values:
        with np.errstate(over="ignore"):
            expected = float(np_type(x))
        assert float(dtype.format.round(Fraction(float(x)))) == expected


def test_float_format_ties_subnormals_and_overflow() -> None:
    f32 = Dtype.FLOAT32.format
    # 1 + 2^-24 is halfway between 1 and 1 + 2^-23: ties to even gives 1
    assert f32.round(1 + Fraction(1, 2**24)) == 1
    assert f32.round(1 + Fraction(3, 2**24)) == 1 + Fraction(2, 2**23)
    assert f32.round(Fraction(1, 2**150)) == 0  # half the smallest subnormal ties to even (0)
    assert f32.round(Fraction(3, 2**151)) == Fraction(1, 2**149)
    assert f32.round(Fraction(2) ** 128) == math.inf
    assert f32.unit_roundoff == Fraction(1, 2**24)


def test_conventions_and_runs_round_trip_through_dicts() -> None:
    every = all_conventions()
    assert len(every) == len(set(every))
    for conv in every:
        assert Conventions.from_dict(conv.as_dict()) == conv
    run = Run(preset("torch.AdamW"), ("0.8", "1/3"), constant_gradients(["-0.3", "0.1"], 3), exact_state(7, ["0", "1"], ["2", "0"]))
    assert Run.from_dict(run.as_dict()) == run.replace(name="")


def test_unknown_preset_suggests_the_closest_name_ignoring_case() -> None:
    from adamw_oracle.contract.presets import get_preset
    from adamw_oracle.errors import InvalidArgumentError as _Invalid

    with pytest.raises(_Invalid) as err:
        get_preset("torch.Adamw2")
    assert err.value.argument == "preset" and err.value.hint == "did you mean 'torch.AdamW'?"
    assert get_preset("TORCH.ADAMW").name == "torch.AdamW"
