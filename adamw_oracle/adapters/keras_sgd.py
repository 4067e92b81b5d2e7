"""Keras 3 SGD on the JAX backend behind the :class:`Implementation` protocol.

Every hyperparameter is passed explicitly::

    keras.optimizers.SGD(learning_rate=lr, momentum=float(mu), nesterov=nesterov, weight_decay=wd or None)

and each step calls ``optimizer.apply_gradients([(g, variable)])`` eagerly on a ``keras.Variable`` of the
case's dtype (backend selection and x64 scoping as in :mod:`adamw_oracle.adapters.keras_adapter`).

What Keras computes (Keras 3.15, read from its source: ``keras/src/optimizers/sgd.py`` ``update_step``,
``keras/src/optimizers/base_optimizer.py`` ``apply`` and ``_apply_weight_decay``), one element, with
``lr`` and ``mu`` cast to the variable's dtype::

    p'  = p_{t-1} - p_{t-1} * wd * lr               (_apply_weight_decay, before the update step)
    mu == 0 : p_t = p' - g * lr
    mu  > 0 : m_t = m_{t-1} * mu - g * lr,  m_0 = 0  (the velocity: lr inside the momentum variable)
              p_t = p' + m_t                         (nesterov: p_t = p' + (m_t * mu - g * lr))

The velocity is m_t = -lr * b_t for the contract's buffer b_t = mu * b_{t-1} + g (b_1 = g), so with one
learning rate per run -- the only runs this target takes (``unsupported_reason`` refuses schedules) --
the update is exactly the contract's ``sgdw`` convention with dampening 0: decoupled decay scaled by lr
on p_{t-1}, then SGD (Nesterov: -lr * (g + mu * b_t)). The two forms differ only when lr changes between
steps (the velocity keeps the old lr; the contract has no convention for that, and this target takes no
schedule) and in the order of the roundings, which the judge's slack covers. The velocity is not the
contract's m, so it is not exposed: ``check`` judges the trajectory. Keras has no dampening
(``Capability.DAMPENING`` is absent) and no maximize; ``momentum`` must be a Python float.

Precision: ``learning_rate`` is a float32 variable whatever the weights' dtype, so a float64 run sees a
float32 lr (the declared precision model, as for Keras Adam); in float16/bfloat16 lr, mu and wd are cast
to the variable's dtype: in float16 a small lr becomes a subnormal, outside the model's float32 scalars
(the declared known finding ``keras-sgd-float16-lr-in-variable-dtype``); in bfloat16 (float32's range)
the same roundings stay within the bound.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adamw_oracle.adapters.keras_adapter import import_keras_jax, run_on_keras_jax
from adamw_oracle.adapters.signature import fixed_options
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel

_MAPPED = ("learning_rate", "momentum", "nesterov", "weight_decay")


class KerasSGDImplementation:
    """``keras.optimizers.SGD`` on the JAX backend, eager ``apply_gradients``."""

    name = "keras.SGD"
    families = frozenset({Family.SGD})
    capabilities = TARGETS_BY_NAME["keras.SGD"].capabilities
    dtypes = TARGETS_BY_NAME["keras.SGD"].dtypes
    #: XLA on the CPU flushes denormals to zero (see adamw_oracle.check.subnormal)
    flushes_subnormals = TARGETS_BY_NAME["keras.SGD"].flushes_subnormals

    def __init__(self, optimizer_class: type | None = None, *, name: str | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        """``optimizer_class``: ``keras.optimizers.SGD`` or a subclass taking its arguments (the default,
        None, is Keras's own); ``name`` names it in reports (``keras.optimizers:SGD`` by import path);
        ``options`` are further fixed constructor arguments (``clipnorm``, ...).

        Raises:
            InvalidArgumentError: an option is a hyperparameter each case sets or no constructor argument.
        """
        self.optimizer_class = optimizer_class
        self.options: dict[str, Any] = {}
        if options:
            keras, _ = import_keras_jax()
            self.options = fixed_options(optimizer_class or keras.optimizers.SGD, options, _MAPPED, name=name)
        if name is not None:
            self.name = name

    def precision_model(self, dtype: Dtype) -> PrecisionModel | None:
        """The model declared in :mod:`adamw_oracle.adapters.targets` (float32 lr for float64 weights)."""
        return TARGETS_BY_NAME["keras.SGD"].precision_for(dtype)

    def versions(self) -> dict[str, str]:
        keras, _ = import_keras_jax()
        import jax  # optional dependency (jax), imported only when used

        return {"keras": keras.__version__, "backend": keras.backend.backend(), "jax": jax.__version__}

    def run(self, case: Case) -> Observation:
        return run_on_keras_jax(case, self.capabilities, Family.SGD, self._run)

    def make(self, keras: Any, hyper: dict[str, Any]) -> Any:
        """The optimizer of one case (``hyper``: the case's Python-float hyperparameters)."""
        cls = self.optimizer_class or keras.optimizers.SGD
        return cls(learning_rate=hyper["lr"], momentum=float(hyper["momentum"]),
                                    nesterov=bool(hyper["nesterov"]), weight_decay=hyper["weight_decay"] or None,
                                    **self.options)

    def _run(self, keras: Any, case: Case) -> Observation:
        dtype = case.dtype.value
        var = keras.Variable(keras.ops.cast(case.initial_params(), dtype), dtype=dtype)
        opt = self.make(keras, case.hyper_floats())
        grads = case.gradients()
        rows = []
        for k in range(case.run.steps):
            opt.apply_gradients([(keras.ops.cast(grads[k], dtype), var)])
            rows.append(np.asarray(keras.ops.convert_to_numpy(var.value)).astype(np.float64))
        return Observation(np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size))
