"""Keras 3 Adam / AdamW on the JAX backend through the adapter, for real.

Keras passes in float32. In float64 it holds its scalars in float32 (declared as its precision model);
in the half dtypes it computes its scalars in the variable's dtype (declared as a known finding). Both
live in ``adamw_oracle/adapters/targets.py`` and ``tests/test_targets.py`` runs ``check`` over them; the
two clearest cases are pinned here with their verified cause.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
    pytest.skip("keras and jax are not installed", allow_module_level=True)

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from adamw_oracle import Dtype, Run, constant_gradients, preset  # noqa: E402
from adamw_oracle.adapters import Case  # noqa: E402
from adamw_oracle.adapters.keras_adapter import KerasImplementation  # noqa: E402
from adamw_oracle.verify import judge  # noqa: E402


def test_amsgrad_and_weight_decay_reach_keras() -> None:
    run = Run(preset("keras.Adam", lr=0.25, weight_decay=0.5, amsgrad=True), (1.0, -0.5), ((0.5, 0.25), (0.0, 1.0)))
    case = Case(run, Dtype.FLOAT32)
    obs = KerasImplementation("Adam").run(case)
    assert judge(case, obs).passed, judge(case, obs).describe()
    assert set(obs.state) == {"m", "v", "vmax"}
    no_decay = Case(Run(preset("keras.Adam", lr=0.25, amsgrad=True), run.initial_params, run.gradients), Dtype.FLOAT32)
    assert not judge(no_decay, obs).passed


def test_float64_learning_rate_is_held_in_float32() -> None:
    """Keras keeps ``learning_rate`` in a float32 variable, so a float64 run uses float32(lr)."""
    grads = constant_gradients([-0.3], 2)
    case = Case(Run(preset("keras.AdamW", lr=0.001, weight_decay=0.01), (0.8,), grads), Dtype.FLOAT64)
    obs = KerasImplementation("AdamW").run(case)
    assert not judge(case, obs).passed
    lr32 = float(np.float32(0.001))
    as_float32_lr = Case(Run(preset("keras.AdamW", lr=lr32, weight_decay=0.01), (0.8,), grads), Dtype.FLOAT64)
    assert judge(as_float32_lr, obs).passed


def test_bfloat16_rounds_beta2_to_one() -> None:
    """bfloat16(0.999) == 1, and Keras computes beta_2**t in the variable dtype: 1 - beta_2**t = 0."""
    assert float(ml_dtypes.bfloat16(0.999)) == 1.0
    case = Case(Run(preset("keras.Adam", lr=0.125), (1.0,), constant_gradients([0.5], 1)), Dtype.BFLOAT16)
    obs = KerasImplementation("Adam").run(case)
    verdict = judge(case, obs)
    assert not verdict.passed and verdict.counts["outside"] == 1


def test_keras_imported_with_another_backend_is_reported() -> None:
    code = (
        "import os; os.environ['KERAS_BACKEND'] = 'numpy'\n"
        "import keras\n"
        "from adamw_oracle import preset, Run, Dtype\n"
        "from adamw_oracle.adapters import Case\n"
        "from adamw_oracle.adapters.keras_adapter import KerasImplementation\n"
        "case = Case(Run(preset('keras.Adam'), (1.0,), ((0.5,),)), Dtype.FLOAT32)\n"
        "print(KerasImplementation('Adam').run(case).error)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "imported with the 'numpy' backend" in out.stdout


def test_a_subnormal_moment_increment_is_set_aside_on_keras() -> None:
    """Found by the false-alarm campaign (benchmarks/false_alarms.py, float32 keras.Adam): Keras forms
    v += (g^2 - v) * (1 - beta_2); with v = 1e-32 and 1 - beta_2 = 1e-6 the product (1e-38) is
    subnormal in float32 and XLA on the CPU flushes it, so v does not decay. The contract's
    beta2*v + (1-beta2)*g^2 has no subnormal intermediate; the increment form's product is one, and the
    case is set aside (flush-to-zero target) instead of failing."""
    from fractions import Fraction

    from adamw_oracle.check import evaluate
    from adamw_oracle.check.runner import judge_case
    from adamw_oracle.check.subnormal import subnormal_intermediates

    g = Fraction(-1e-13)
    config = preset("keras.Adam", lr="0", beta1="0", beta2="0.999999", eps="1e-12")
    case = Case(Run(config, (Fraction(-1, 4),), ((Fraction(0),), (g,), (Fraction(0),))), Dtype.FLOAT32)
    found = subnormal_intermediates(case)
    assert found and all(name.startswith("(1-beta2)(g^2-v)[step 3") for name in found), found
    impl = KerasImplementation("Adam")
    strict = judge_case(case, impl.run(case))  # per step, from Keras's own state
    assert strict.mode == "per-step" and not strict.passed  # v did not decay at step 3
    result = evaluate(impl, case)
    assert not result.failed and result.set_aside is not None and "(1-beta2)(g^2-v)" in result.set_aside


def test_the_increment_form_of_m_under_a_tiny_beta1_is_within_its_bound_on_keras() -> None:
    """Found by the false-alarm campaign (float32/keras.Adam/check/6, element 32281 of a 65,537-element
    case): Keras forms m += (g - m) * (1 - beta_1). With beta1 = 0.0073, |m_1| = 2.0e-3 and g_2 = -3.8e-6
    the new m (-1.85e-5) is a cancellation: three roundings of size u*|g - m| (the difference, the
    float32 weight 1 - beta_1 and the product) give 137 ulp of m_2, 2.0x the earlier u*|1 - beta| charge
    on beta, so a correct Keras was outside its slackened bound (1.01x). The error model now charges the
    increment form (error_model.INCREMENT_FORM_ROUNDINGS). Independent check of the failing value: the
    same three float32 operations in numpy give Keras's m_2 bit for bit, and the exact m_2 is
    beta1*m_1 + (1 - beta1)*g_2 with m_1 = (1 - beta1)*g_1."""
    from adamw_oracle.check.runner import judge_case

    config = preset("keras.Adam", lr="0.37386250458700676", beta1="0.0072860902155060378",
                    beta2="0.90311307912407446", eps="0.33333333333333331", weight_decay="0.1")
    g1, g2 = "-0.0020415778271853923797607421875", "-0.000003805499773079645819962024688720703125"
    case = Case(Run(config, ("1.734905242919921875",), ((g1,), (g2,))), Dtype.FLOAT32)
    impl = KerasImplementation("Adam")
    observation = impl.run(case)
    one, b1 = np.float32(1), np.float32(0.0072860902155060378)
    m1 = (np.float32(g1) - np.float32(0)) * (one - b1)
    m2 = m1 + (np.float32(g2) - m1) * (one - b1)
    assert np.float32(np.asarray(observation.step_states["m"], dtype=np.float64)[1, 0]) == m2
    verdict = judge_case(case, observation)
    assert verdict.mode == "per-step" and verdict.passed, verdict.describe()
