"""Keras 3 Adam / AdamW on the JAX backend behind the :class:`Implementation` protocol.

Every hyperparameter is passed explicitly::

    keras.optimizers.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, amsgrad=...,
                          weight_decay=wd or None)
    keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd, beta_1=b1, beta_2=b2, epsilon=eps,
                           amsgrad=...)

The parameter is a ``keras.Variable`` of the case's dtype; each step calls
``optimizer.apply_gradients([(g, variable)])`` eagerly. Keras computes its constants in the variable's
dtype (``lr``, ``beta**t`` are cast to it), which is Keras behaviour, not the adapter's.

Backend selection: Keras fixes its backend when it is first imported. If Keras is not imported yet the
adapter imports it with ``KERAS_BACKEND=jax`` (restoring the environment variable afterwards); if it was
already imported with another backend, the adapter does not try to switch (that cannot work in one
process) and every run reports :data:`BACKEND_MISMATCH` as its error. float64 cases run inside a scoped
``jax.enable_x64(True)`` block (see :mod:`adamw_oracle.adapters.optax_adapter` for what that changes).
"""
from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions, empty_params, guarded_run, unsupported_reason
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.contract.case import Case, Observation
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
    import keras

    backend = keras.backend.backend()
    return keras, (None if backend == "jax" else BACKEND_MISMATCH.format(backend=backend))


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
        import jax

        return {"keras": keras.__version__, "backend": keras.backend.backend(), "jax": jax.__version__}

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        keras, problem = import_keras_jax()
        if problem:
            return Observation(empty_params(case), error=problem)
        import jax

        with jax.enable_x64(case.dtype is Dtype.FLOAT64):
            return guarded_run(case, lambda c: self._run(keras, c))

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
        grads = case.gradients()
        rows = []
        for k in range(case.run.steps):
            g = keras.ops.cast(grads[k], dtype)
            opt.apply_gradients([(g, var)])
            rows.append(np.asarray(keras.ops.convert_to_numpy(var.value)).astype(np.float64))
        state: dict[str, np.ndarray] = {}
        for name, key in (("m", "momentums"), ("v", "velocities"), ("vmax", "velocity_hats")):
            held = getattr(opt, f"_{key}", None)
            if held:
                state[name] = np.asarray(keras.ops.convert_to_numpy(held[0].value)).astype(np.float64)
        return Observation(np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size), state)
