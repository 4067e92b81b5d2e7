"""optax adam / adamw on JAX (CPU) through the adapter, for real: dtypes, eps_root, AMSGrad, x64 scoping,
and XLA's flush-to-zero of subnormals (a platform fact the checker sets aside, counted)."""
from __future__ import annotations

import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("optax")

from adamw_oracle import Dtype, Run, constant_gradients, preset  # noqa: E402
from adamw_oracle.adapters import Case  # noqa: E402
from adamw_oracle.adapters.optax_adapter import OptaxImplementation  # noqa: E402
from adamw_oracle.check import evaluate  # noqa: E402
from adamw_oracle.verify import NumpyImplementation, judge  # noqa: E402


def test_eps_root_and_amsgrad_reach_optax() -> None:
    run = Run(preset("optax.adamw", lr="0.5", weight_decay="0.25", eps_root="0.0625", amsgrad=True),
              (1.0, -0.5), ((0.5, 0.25), (0.0, 1.0), (0.25, 0.0)))
    case = Case(run, Dtype.FLOAT64)
    obs = OptaxImplementation("adamw").run(case)
    assert judge(case, obs).passed, judge(case, obs).describe()
    assert set(obs.state) == {"m", "v", "vmax"}
    # judged as if eps_root were ignored, the same result fails: eps_root was really used
    no_root = Case(Run(preset("optax.adamw", lr="0.5", weight_decay="0.25", amsgrad=True),
                       run.initial_params, run.gradients), Dtype.FLOAT64)
    assert not judge(no_root, obs).passed


def test_x64_is_scoped_to_float64_cases() -> None:
    before = bool(jax.config.jax_enable_x64)
    run = Run(preset("optax.adam", lr="0.001"), (0.8,), constant_gradients([-0.3], 3))
    obs = OptaxImplementation("adam").run(Case(run, Dtype.FLOAT64))
    assert obs.error is None and judge(Case(run, Dtype.FLOAT64), obs).passed
    assert bool(jax.config.jax_enable_x64) == before


def test_subnormal_results_are_flushed_by_xla_and_set_aside() -> None:
    # p = 2^-1020 decays by lr*wd = 2^-4: the decay term 2^-1024 is subnormal in float64, so XLA's
    # flush-to-zero drops it and p stays 2^-1020 instead of 15/16 * 2^-1020
    run = Run(preset("optax.adamw", lr="0.25", weight_decay="0.25"), (2.0**-1020,), ((0.0,),))
    case = Case(run, Dtype.FLOAT64)
    optax_obs = OptaxImplementation("adamw").run(case)
    numpy_obs = NumpyImplementation().run(case)
    assert judge(case, numpy_obs).passed  # gradual underflow in numpy: conforming
    assert not judge(case, optax_obs).passed  # XLA flushed the subnormal
    assert optax_obs.params[0, 0] == 2.0**-1020
    result = evaluate(OptaxImplementation("adamw"), case)
    assert result.findings == () and result.set_aside and "decay[step 1, element 0]" in result.set_aside
