"""Keras 3 Adam / AdamW on the JAX backend behind the :class:`Implementation` protocol.

Every hyperparameter is passed explicitly::

    keras.optimizers.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, amsgrad=...,
                          weight_decay=wd or None)
    keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd, beta_1=b1, beta_2=b2, epsilon=eps,
                           amsgrad=...)

The parameter is a ``keras.Variable`` of the case's dtype; each step calls
``optimizer.apply_gradients([(g, variable)])`` eagerly. Keras computes its constants in the variable's
dtype (``lr``, ``beta**t`` are cast to it), which is Keras behaviour, not the adapter's. A seeded case's
state is assigned to the optimizer's variables after ``build`` (:mod:`adamw_oracle.adapters.keras_state`;
``Capability.SEEDED_STATE``).

Backend selection: Keras fixes its backend when it is first imported. If Keras is not imported yet the
adapter imports it with ``KERAS_BACKEND=jax`` (restoring the environment variable afterwards); if it was
already imported with another backend, the adapter does not try to switch (that cannot work in one
process) and every run reports :data:`BACKEND_MISMATCH` as its error. float64 cases run inside a scoped
``jax.enable_x64(True)`` block (see :mod:`adamw_oracle.adapters.optax_adapter` for what that changes).
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions, empty_params, guarded_run, unsupported_reason
from adamw_oracle.adapters.keras_state import NoKerasAdamState, adam_slots, seed_keras_state
from adamw_oracle.adapters.signature import constructor_map
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.case import Case, Observation, stack_step_states
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError

KERAS_OPTIMIZERS = ("Adam", "AdamW")
BACKEND_MISMATCH = "keras was imported with the {backend!r} backend before the adapter could select 'jax'; " \
                   "set KERAS_BACKEND=jax before anything imports keras"


def import_keras_jax() -> tuple[Any, str | None]:
    """Import Keras on the JAX backend; returns ``(keras, problem)`` with ``problem`` None when usable."""
    if "keras" not in sys.modules:
        previous = os.environ.get("KERAS_BACKEND")
        os.environ["KERAS_BACKEND"] = "jax"
        try:
            import keras  # noqa: F401
        finally:
            if previous is None:
                os.environ.pop("KERAS_BACKEND", None)
            else:
                os.environ["KERAS_BACKEND"] = previous
    import keras  # optional dependency (keras), imported only when used

    backend = keras.backend.backend()
    return keras, (None if backend == "jax" else BACKEND_MISMATCH.format(backend=backend))


def run_on_keras_jax(case: Case, capabilities: frozenset[Capability], family: Family,
                     run: Callable[[Any, Case], Observation]) -> Observation:
    """``run(keras, case)`` on Keras's JAX backend (x64 on for float64 cases), guarded: an error
    observation instead when ``case`` needs what ``capabilities`` lack, or Keras runs another backend."""
    reason = unsupported_reason(case, capabilities, family=family)
    if reason:
        return Observation(empty_params(case), error=f"unsupported case: {reason}")
    keras, problem = import_keras_jax()
    if problem:
        return Observation(empty_params(case), error=problem)
    import jax  # optional dependency (jax), imported only when used

    with jax.enable_x64(case.dtype is Dtype.FLOAT64):
        return guarded_run(case, lambda c: run(keras, c))


class KerasImplementation:
    """``keras.optimizers.Adam`` or ``AdamW`` on the JAX backend, eager ``apply_gradients``."""

    capabilities = TARGETS_BY_NAME["keras.AdamW"].capabilities
    dtypes = TARGETS_BY_NAME["keras.AdamW"].dtypes
    #: XLA on the CPU flushes denormals to zero (see adamw_oracle.check.subnormal)
    flushes_subnormals = TARGETS_BY_NAME["keras.AdamW"].flushes_subnormals

    def __init__(self, optimizer: str = "AdamW") -> None:
        if optimizer not in KERAS_OPTIMIZERS:
            raise InvalidArgumentError("optimizer", optimizer, "one of " + ", ".join(KERAS_OPTIMIZERS))
        self.optimizer = optimizer
        self.name = f"keras.{optimizer}"

    def precision_model(self, dtype: Dtype) -> PrecisionModel | None:
        """The model declared in :mod:`adamw_oracle.adapters.targets`: Keras holds ``learning_rate`` and
        the betas in float32 variables whatever the weights' dtype (tests/test_adapters_keras.py shows
        it), so a float64 run computes with float32-rounded scalars. Other dtypes: the judge's default."""
        return TARGETS_BY_NAME[self.name].precision_for(dtype)

    def versions(self) -> dict[str, str]:
        keras, problem = import_keras_jax()
        import jax  # optional dependency (jax), imported only when used

        return {"keras": keras.__version__, "backend": keras.backend.backend(), "jax": jax.__version__}

    def run(self, case: Case) -> Observation:
        return run_on_keras_jax(case, self.capabilities, Family.ADAM, self._run)

    def _make(self, keras: Any, opts: CaseOptions) -> Any:
        common = dict(learning_rate=opts.lr, beta_1=opts.beta1, beta_2=opts.beta2, epsilon=opts.eps, amsgrad=opts.amsgrad)
        if self.optimizer == "AdamW":
            return keras.optimizers.AdamW(weight_decay=opts.weight_decay, **common)
        return keras.optimizers.Adam(weight_decay=opts.weight_decay or None, **common)

    def _run(self, keras: Any, case: Case) -> Observation:
        opts = CaseOptions.of(case)
        dtype = case.dtype.value
        var = keras.Variable(keras.ops.cast(case.initial_params(), dtype), dtype=dtype)
        opt = self._make(keras, opts)
        seed_keras_state(keras, opt, var, case)
        grads = case.gradients()
        rows = []
        recorder = VariableRecorder(keras, opt, opts.amsgrad)
        for k in range(case.run.steps):
            g = keras.ops.cast(grads[k], dtype)
            opt.apply_gradients([(g, var)])
            rows.append(np.asarray(keras.ops.convert_to_numpy(var.value)).astype(np.float64))
            recorder()
        state: dict[str, np.ndarray] = {}
        for name, key in (("m", "momentums"), ("v", "velocities"), ("vmax", "velocity_hats")):
            held = getattr(opt, f"_{key}", None)
            if held:
                state[name] = np.asarray(keras.ops.convert_to_numpy(held[0].value)).astype(np.float64)
        return Observation(np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size), state,
                           step_states=recorder.stacked(case))


class VariableRecorder:
    """Called after every ``apply_gradients``: keeps the optimizer's variables for the one weight
    (``_momentums``, ``_velocities``, ``_velocity_hats`` under AMSGrad, and ``iterations``) as per-step
    rows ``m``, ``v``, ``vmax``, ``step``."""

    def __init__(self, keras: Any, opt: Any, amsgrad: bool) -> None:
        self.keras, self.opt = keras, opt
        self.keys = {"m": "_momentums", "v": "_velocities", **({"vmax": "_velocity_hats"} if amsgrad else {})}
        self.rows: dict[str, list[Any]] = {name: [] for name in [*self.keys, "step"]}

    def __call__(self) -> None:
        convert = self.keras.ops.convert_to_numpy
        for name, attr in self.keys.items():
            held = getattr(self.opt, attr, None)
            if held:
                self.rows[name].append(np.asarray(convert(held[0].value)).astype(np.float64))
        iterations = getattr(self.opt, "iterations", None)
        if iterations is not None:  # a Variable, or a tensor where a subclass or accumulation computes it
            self.rows["step"].append(np.asarray(convert(getattr(iterations, "value", iterations))).astype(np.float64))

    def stacked(self, case: Case) -> dict[str, np.ndarray]:
        return stack_step_states(self.rows, case.run.steps, case.run.size)


def choose_keras_backend() -> None:
    """Before Keras is first imported for an import-path target: keep the configured backend
    (``KERAS_BACKEND``, else ``~/.keras/keras.json``, else Keras's default ``tensorflow``) when it is
    installed; otherwise select the first installed of ``jax``, ``torch`` through ``KERAS_BACKEND``
    (Keras cannot switch backends once imported)."""

    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    configured = "tensorflow"
    try:
        with open(os.path.join(home, "keras.json")) as f:
            configured = str(json.load(f).get("backend", configured))
    except (OSError, ValueError, AttributeError):
        pass
    if importlib.util.find_spec(configured) is not None:
        return
    for backend in ("jax", "torch"):
        if importlib.util.find_spec(backend) is not None:
            os.environ["KERAS_BACKEND"] = backend
            return


class KerasClassImplementation:
    """Any Keras 3 optimizer class named by import path (``keras.optimizers:AdamW``), on whichever backend
    Keras was imported with; eager ``apply_gradients`` as :class:`KerasImplementation`.

    The class is called with the case's hyperparameters as its signature spells them
    (``learning_rate, beta_1, beta_2, epsilon[, weight_decay][, amsgrad]``;
    :mod:`adamw_oracle.adapters.signature`) plus the fixed ``options``. On the JAX backend float64
    cases run inside ``jax.enable_x64(True)``. Precision: Keras's base optimizer keeps ``learning_rate``
    in a float32 variable whatever the weights' dtype, so a float64 run is judged with float32 scalars
    (the declaration of the built-in ``keras.AdamW``).
    """

    families = frozenset({Family.ADAM})
    dtypes = TARGETS_BY_NAME["keras.AdamW"].dtypes
    #: Keras's own findings (its int32 iterations, targets.FRAMEWORK_KNOWN) apply to every optimizer class
    known_framework = "keras"

    def __init__(self, optimizer_class: type, *, name: str | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        import keras  # optional dependency (keras), imported only when used

        self.optimizer_class = optimizer_class
        self._map = constructor_map(optimizer_class, options, name=name)
        self.capabilities = self._map.capabilities
        self.options = dict(self._map.fixed)
        self.name = name or self._map.target
        self.backend = keras.backend.backend()
        if self._holds_adam_state(keras):
            self.capabilities = self.capabilities | {Capability.SEEDED_STATE}
        #: XLA on the CPU flushes denormals to zero (see adamw_oracle.check.subnormal)
        self.flushes_subnormals = self.backend in ("jax", "tensorflow")

    def _holds_adam_state(self, keras: Any) -> bool:
        """Whether the class, built with default-like hyperparameters on one float32 element, holds
        exactly Adam's state (:func:`~adamw_oracle.adapters.keras_state.adam_slots`): then it takes
        seeded states; otherwise ``check`` draws genuinely long runs for it."""
        opts = CaseOptions(1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0, False, False)
        try:
            opt = self.optimizer_class(**self._map.kwargs(opts))
            var = keras.Variable(np.zeros(1, dtype=np.float32), dtype="float32")
            opt.build([var])
            adam_slots(opt, var, amsgrad=False)
        except NoKerasAdamState:
            return False
        except Exception:  # noqa: BLE001 - a class that fails here fails again, reported, on every case
            return False
        return True

    def precision_model(self, dtype: Dtype) -> PrecisionModel | None:
        return TARGETS_BY_NAME["keras.AdamW"].precision_for(dtype)

    def versions(self) -> dict[str, str]:
        import keras  # optional dependency (keras), imported only when used

        return {"keras": keras.__version__, "backend": self.backend}

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        import keras  # optional dependency (keras), imported only when used

        if self.backend != "jax":
            return guarded_run(case, lambda c: self._run(keras, c))
        import jax  # optional dependency (jax), imported only when used

        with jax.enable_x64(case.dtype is Dtype.FLOAT64):
            return guarded_run(case, lambda c: self._run(keras, c))

    def _run(self, keras: Any, case: Case) -> Observation:
        opts = CaseOptions.of(case)
        dtype = case.dtype.value
        var = keras.Variable(keras.ops.cast(case.initial_params(), dtype), dtype=dtype)
        opt = self.optimizer_class(**self._map.kwargs(opts))
        seed_keras_state(keras, opt, var, case)
        grads = case.gradients()
        rows = []
        recorder = VariableRecorder(keras, opt, opts.amsgrad)
        for k in range(case.run.steps):
            opt.apply_gradients([(keras.ops.cast(grads[k], dtype), var)])
            rows.append(np.asarray(keras.ops.convert_to_numpy(var.value)).astype(np.float64))
            recorder()
        state: dict[str, np.ndarray] = {}
        for key, attr in (("m", "momentums"), ("v", "velocities"), ("vmax", "velocity_hats")):
            held = getattr(opt, f"_{attr}", None)
            if held and (key != "vmax" or opts.amsgrad):
                value = np.asarray(keras.ops.convert_to_numpy(held[0].value)).astype(np.float64).reshape(-1)
                if value.shape == (case.run.size,):
                    state[key] = value
        return Observation(np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size), state,
                           step_states=recorder.stacked(case))
