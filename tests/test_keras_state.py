"""Seeded states handed to real Keras 3 through its optimizer variables (adamw_oracle.adapters.keras_state).

* a state Keras itself held after 5 steps, handed back, continues the uninterrupted run bit for bit
  (Adam with AMSGrad, AdamW; the built-in targets and a class by import path);
* an optimizer whose variables are not exactly Adam's state (Nadam, Adamax, Lion, EMA, gradient
  accumulation) is not declared seeded and is refused clearly;
* Keras's int32 ``iterations`` wraps at 2**31 and the parameters go NaN at t = 2**31 (JAX, and the torch
  backend in a subprocess); check reports it as the known finding ``keras-iterations-int32-wraps``;
* a 16-bit step counter (a Keras subclass; only shows past step 2**16) is caught by a seeded check, and
  not by the same check without seeded states (its long runs end at 2,060 steps).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
    pytest.skip("keras and jax are not installed", allow_module_level=True)

import numpy as np  # noqa: E402

from adamw_oracle import Run, preset  # noqa: E402
from adamw_oracle.adapters.keras_adapter import KerasClassImplementation, KerasImplementation, import_keras_jax  # noqa: E402
from adamw_oracle.adapters.keras_state import NoKerasAdamState, adam_slots, wrapped  # noqa: E402
from adamw_oracle.adapters.registry import known_findings, resolve_target  # noqa: E402
from adamw_oracle.adapters.targets import FRAMEWORK_KNOWN, KERAS_ITERATIONS_INT32_WRAPS, TARGETS_BY_NAME  # noqa: E402
from adamw_oracle.check import check_target, evaluate  # noqa: E402
from adamw_oracle.contract.capabilities import Capability  # noqa: E402
from adamw_oracle.contract.case import Case  # noqa: E402
from adamw_oracle.contract.dtypes import Dtype  # noqa: E402
from adamw_oracle.contract.state import exact_state  # noqa: E402

keras, _problem = import_keras_jax()
if _problem:
    pytest.skip(_problem, allow_module_level=True)

GRADS = [[0.3, -1.5, 2.0], [0.1, -0.2, 0.0], [1.0, 1.0, -3.0], [0.5, 0.25, 0.125], [-2.0, 0.0, 1.0],
         [0.01, 3.0, -0.5], [0.0, 0.0, 0.0], [1.5, -1.0, 0.25]]
P0 = [0.8, -0.4, 1.2]


def _uninterrupted(make, amsgrad: bool, cut: int = 5):
    """Keras's own run over GRADS in float32: the rows after every step and (m, v, vmax, params) after ``cut``."""
    var = keras.Variable(np.asarray(P0, np.float32), dtype="float32")
    opt = make()
    rows, saved = [], None
    for k, g in enumerate(GRADS):
        opt.apply_gradients([(keras.ops.convert_to_tensor(np.asarray(g, np.float32)), var)])
        rows.append(np.asarray(var.value, dtype=np.float64))
        if k == cut - 1:
            def held(slots):
                return np.asarray(slots[0].value, dtype=np.float64).tolist()
            saved = (held(opt._momentums), held(opt._velocities), held(opt._velocity_hats) if amsgrad else None,
                     np.asarray(var.value, dtype=np.float64).tolist(), int(opt.iterations.value))
    return np.array(rows), saved


@pytest.mark.parametrize("optimizer, amsgrad", [("Adam", True), ("AdamW", False)])
def test_a_seeded_keras_run_continues_the_uninterrupted_one_bit_for_bit(optimizer: str, amsgrad: bool) -> None:
    lr, wd = 0.01, 0.1
    make = {"Adam": lambda: keras.optimizers.Adam(learning_rate=lr, amsgrad=amsgrad),
            "AdamW": lambda: keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd, amsgrad=amsgrad)}[optimizer]
    rows, (m, v, vmax, resumed, step) = _uninterrupted(make, amsgrad)
    assert step == 5
    config = preset(f"keras.{optimizer}", lr=lr, weight_decay=wd if optimizer == "AdamW" else 0, amsgrad=amsgrad)
    case = Case(Run(config, resumed, GRADS[5:], exact_state(5, m, v, vmax)), "float32")
    for impl in (KerasImplementation(optimizer), KerasClassImplementation(getattr(keras.optimizers, optimizer))):
        assert Capability.SEEDED_STATE in impl.capabilities
        obs = impl.run(case)
        assert obs.error is None, obs.error
        assert np.array_equal(obs.params, rows[5:]), (impl.name, obs.params, rows[5:])
        assert obs.step_states["step"].tolist() == [6, 7, 8]  # the injected iterations went on from 5


def test_the_builtin_keras_targets_declare_seeded_states_and_the_wrap() -> None:
    for name in ("keras.Adam", "keras.AdamW"):
        assert Capability.SEEDED_STATE in TARGETS_BY_NAME[name].capabilities
        assert KERAS_ITERATIONS_INT32_WRAPS in TARGETS_BY_NAME[name].known
    assert KERAS_ITERATIONS_INT32_WRAPS in FRAMEWORK_KNOWN["keras"]  # any Keras optimizer by import path
    assert wrapped(2**31, "int32") == -2**31 and wrapped(2**31 - 1, "int32") == 2**31 - 1
    assert wrapped(10**12, "int32") == 10**12 - 233 * 2**32 and wrapped(10**12, "int64") == 10**12


@pytest.mark.parametrize("make, why", [
    (lambda: keras.optimizers.Nadam(), "variables beyond"),          # its u_product scalar
    (lambda: keras.optimizers.Adamax(), "no _momentums"),             # _m and _u
    (lambda: keras.optimizers.Lion(), "no _velocities"),
    (lambda: keras.optimizers.Adam(use_ema=True), "variables beyond"),  # the moving average
    (lambda: keras.optimizers.Adam(gradient_accumulation_steps=2), "accumulates gradients"),
])
def test_an_optimizer_whose_variables_are_not_adams_state_is_refused(make, why: str) -> None:
    var = keras.Variable(np.zeros(3, np.float32), dtype="float32")
    opt = make()
    opt.build([var])
    with pytest.raises(NoKerasAdamState, match=why):
        adam_slots(opt, var, amsgrad=False)


def test_a_class_without_adam_state_is_not_seeded_and_refuses_a_seeded_case() -> None:
    impl = KerasClassImplementation(keras.optimizers.Nadam, name="keras.optimizers:Nadam")
    assert Capability.SEEDED_STATE not in impl.capabilities  # check draws long runs for it instead
    case = Case(Run(preset("keras.Adam", lr=0.1), (1.0,), ((0.5,),), exact_state(300, [0.5], [0.25])), "float32")
    assert "starts from a fresh optimizer" in impl.run(case).error
    ams = KerasClassImplementation(keras.optimizers.Adam, name="keras.optimizers:Adam")
    assert Capability.SEEDED_STATE in ams.capabilities


def test_iterations_wrap_at_2_31_and_the_parameters_go_nan_there() -> None:
    from adamw_oracle.verify.resync import judge_resynced

    impl = KerasImplementation("Adam")
    config = preset("keras.Adam", lr="0.001", beta2="0.999999")
    case = Case(Run(config, (1.0, -0.5), ((0.25, 1.0),) * 3, exact_state(2**31 - 2, [0.01, -0.02], [0.0625, 0.25])),
                "float32")
    obs = impl.run(case)
    assert obs.error is None, obs.error
    assert obs.step_states["step"].tolist() == [2**31 - 1, -2**31, -2**31 + 1]  # int32 wraps
    assert np.isfinite(obs.params[0]).all() and np.isnan(obs.params[1:]).all()  # NaN from t = 2**31 on
    first = Case(case.run.replace(gradients=case.run.gradients[:1]), case.dtype)  # t = 2**31 - 1 only
    assert judge_resynced(first, impl.run(first)).passed
    strict = evaluate(impl, case, known=())
    assert strict.failed and "stored state step" in strict.findings[0].describe(), strict.findings
    accepted = evaluate(impl, case, known=known_findings("keras.Adam", case.dtype))
    assert not accepted.failed and accepted.known == (KERAS_ITERATIONS_INT32_WRAPS.id,)
    before = Case(case.run.replace(initial_state=exact_state(2**31 - 5, [0.01, -0.02], [0.0625, 0.25])), case.dtype)
    assert not KERAS_ITERATIONS_INT32_WRAPS.occurs(before) and not evaluate(impl, before, known=()).failed


_TORCH_BACKEND = """
import numpy as np, keras
assert keras.backend.backend() == "torch"
var = keras.Variable(np.ones(2, np.float32), dtype="float32")
opt = keras.optimizers.Adam(learning_rate=0.001, beta_2=0.99)
opt.build([var])
opt.iterations.assign(2**31 - 2)
out = []
for _ in range(2):
    opt.apply_gradients([(keras.ops.ones(2, dtype="float32"), var)])
    out.append((int(keras.ops.convert_to_numpy(opt.iterations.value)), bool(np.isnan(keras.ops.convert_to_numpy(var.value)).all())))
print(str(opt.iterations.dtype), out)
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_the_torch_backend_wraps_too() -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", _TORCH_BACKEND], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "int32 [(2147483647, False), (-2147483648, True)]"


class Iterations16Bit(keras.optimizers.AdamW):
    """keras AdamW whose step count is read through a 16-bit counter (wraps at 65,536: a mutation modelled
    on issue 12's low-precision step counters): every step from t = 65,537 on forms local_step = t - 65,536."""

    @property
    def iterations(self):  # noqa: D102 - the mutation
        return keras.ops.mod(self._iterations, 65536)


def test_a_seeded_check_catches_a_16_bit_step_counter_in_keras() -> None:
    impl = resolve_target(Iterations16Bit)
    assert Capability.SEEDED_STATE in impl.capabilities
    assert known_findings(impl, Dtype.FLOAT32) == (KERAS_ITERATIONS_INT32_WRAPS,)  # a Keras class's own wrap
    impl.tensor_cases = False  # type: ignore[attr-defined]  # exact cases only: a short test
    report = check_target(impl, expect="keras.AdamW", dtype="float32", examples=60, seed=1, shrink_seconds=5)
    assert not report.passed and report.findings, report.describe()
    run = report.counterexample.case.run
    assert run.initial_state is not None and 2**16 < run.initial_state.step + run.steps < 2**31, run.initial_state
    # without seeded states check draws long runs instead (at most 2,060 steps): the counter never wraps
    impl.capabilities = impl.capabilities - {Capability.SEEDED_STATE}
    unseeded = check_target(impl, expect="keras.AdamW", dtype="float32", examples=60, seed=1, shrink_seconds=5)
    assert unseeded.passed, unseeded.describe()


def test_bfloat16_scalars_and_the_wrap_in_one_case_are_both_known() -> None:
    # bfloat16(0.999) == 1: 1 - beta_2**t = 0 and the parameter stays put (keras-half-scalars-in-variable-dtype,
    # which its bfloat16-scalars model explains), and past 2**31 the stored iterations wrap (the other finding)
    config = preset("keras.Adam", lr="0.5", beta1="0")
    case = Case(Run(config, (0.0,), ((1.0,), (1.0,)), exact_state(2**31 - 2, [-0.5], [0.5])), "bfloat16")
    impl = KerasImplementation("Adam")
    assert evaluate(impl, case, known=()).failed
    result = evaluate(impl, case, known=known_findings("keras.Adam", case.dtype))
    assert not result.failed and set(result.known) == {"keras-half-scalars-in-variable-dtype",
                                                       KERAS_ITERATIONS_INT32_WRAPS.id}, result
