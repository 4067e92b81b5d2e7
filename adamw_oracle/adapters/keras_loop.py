"""Keras 3 Adam / AdamW (JAX backend) driven through a custom training loop (a :class:`LoopImplementation`).

The loop is written as the Keras guide "writing a training loop from scratch" writes one, eagerly:

* several tensors: one ``keras.Variable`` per loop tensor (the case's dtype, exactly its initial values);
* parameter groups: Keras optimizers have no ``param_groups``; variables that train with different
  hyperparameters get *one optimizer each* (the Keras GAN examples train the generator and the
  discriminator with their own ``keras.optimizers.Adam`` of different learning rates), so group g is
  ``opt_g = keras.optimizers.Adam | AdamW(<group g's hyperparameters>)`` built on its group's variables,
  and each loop step calls ``opt_g.apply_gradients(zip(grads_g, vars_g))`` for every group;
* schedule, as users write it, in one of two ways (``schedule=``):

  - ``"assign"`` (default): before loop step k, ``opt_g.learning_rate = base_lr_g * schedule[k]``
    (a Python float assigned to the optimizer's float32 ``learning_rate`` variable);
  - ``"schedule"``: the optimizer is built with a ``keras.optimizers.schedules.LearningRateSchedule``
    whose value at ``iterations = k`` is ``base_lr_g * schedule[k]`` (a float32 table), so the schedule
    follows the optimizer's own ``iterations`` counter -- including after a resume, which must restore it;

* resume: after each resume point every optimizer's state goes through ``opt.save_own_variables(store)``
  (what ``model.save`` / ``keras.saving`` write: ``iterations``, ``learning_rate``, the moments), a fresh
  optimizer built like the first is built on the same variables (``opt.build(vars)``) and loaded with
  ``load_own_variables(store)``.

Missing gradients are declared missing (:attr:`LoopCapability.MISSING_GRADS`): Keras filters a ``None``
gradient out of ``apply_gradients`` (the variable is left alone, with a warning) but its step counter
``iterations`` is *one per optimizer* and advances for every variable, so a variable whose first gradient
comes at the optimizer's step t is bias-corrected with 1 - beta^t, not 1 - beta (torch's per-tensor
``state['step']``, the contract's :class:`~adamw_oracle.contract.loop.Loop` reference). That is another
convention, not a bug, and the Loop contract does not express it; such loops are never drawn for Keras.
``tests/test_loops.py::test_keras_step_counter_is_global_so_missing_gradients_are_declared_missing``
shows it on real Keras.

float64 loops run inside ``jax.enable_x64``; precision is the built-in targets' declaration (Keras holds
``learning_rate`` and the betas in float32 variables, so float64 weights see float32 scalars).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions
from adamw_oracle.adapters.keras_adapter import KERAS_OPTIMIZERS, KerasImplementation, import_keras_jax
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.adapters.torch_loop import group_reason, guarded_loop, loop_reason, probe_case
from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.loop import LoopCase, LoopObservation
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError

KERAS_SCHEDULES = ("assign", "schedule")


class KerasLoopImplementation:
    """``keras.optimizers.Adam`` / ``AdamW`` in a custom training loop (see the module docstring)."""

    loop_capabilities = frozenset(LoopCapability) - {LoopCapability.MISSING_GRADS}

    def __init__(self, optimizer: str = "AdamW", *, schedule: str = "assign", name: str | None = None) -> None:
        """Raises:
            InvalidArgumentError: an unknown optimizer or schedule mode.
        """
        if optimizer not in KERAS_OPTIMIZERS:
            raise InvalidArgumentError("optimizer", optimizer, "one of " + ", ".join(KERAS_OPTIMIZERS))
        if schedule not in KERAS_SCHEDULES:
            raise InvalidArgumentError("schedule", schedule, "one of " + ", ".join(KERAS_SCHEDULES))
        self.optimizer, self.schedule = optimizer, schedule
        info = TARGETS_BY_NAME[f"keras.{optimizer}"]
        self.capabilities, self.family, self.dtypes = info.capabilities, info.family, info.dtypes
        self.flushes_subnormals = info.flushes_subnormals
        self.name = name or f"keras.{optimizer}" + (" (LearningRateSchedule)" if schedule == "schedule" else "")
        self.known: tuple[Any, ...] = ()
        self._single = KerasImplementation(optimizer)

    def precision_model(self, dtype: Dtype) -> PrecisionModel | None:
        return TARGETS_BY_NAME[f"keras.{self.optimizer}"].precision_for(dtype)

    def versions(self) -> dict[str, str]:
        return self._single.versions()

    def run_loop(self, case: LoopCase) -> LoopObservation:
        reason = loop_reason(case, self.loop_capabilities) or group_reason(case, self.capabilities, self.family)
        if reason:
            return LoopObservation((), error=f"unsupported case: {reason}")
        keras, problem = import_keras_jax()
        if problem:
            return LoopObservation((), error=problem)
        import jax  # optional dependency (jax), imported only when used

        with jax.enable_x64(case.dtype is Dtype.FLOAT64):
            return guarded_loop(case, lambda c: self._run(keras, c))

    def _table_schedule(self, keras: Any, values: list[float]) -> Any:
        """A LearningRateSchedule whose value at ``iterations = k`` is ``values[k]`` (float32)."""
        table = np.asarray(values, dtype=np.float32)

        class TableSchedule(keras.optimizers.schedules.LearningRateSchedule):
            def __call__(self, step: Any) -> Any:
                index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(table) - 1)
                return keras.ops.take(keras.ops.convert_to_tensor(table), index)

            def get_config(self) -> dict[str, Any]:
                return {"values": table.tolist()}

        return TableSchedule()

    def _run(self, keras: Any, case: LoopCase) -> LoopObservation:
        loop = case.loop
        dtype = case.dtype.value
        variables = [keras.Variable(keras.ops.cast(case.initial_params(i), dtype), dtype=dtype, name=f"t{i}")
                     for i in range(len(loop.tensors))]
        options = [CaseOptions.of(probe_case(g.config, case)) for g in loop.groups]
        multiplier = [float(s) for s in loop.schedule]

        def fresh(g: int) -> Any:
            opts = options[g]
            if self.schedule == "schedule":
                lr = self._table_schedule(keras, [opts.lr * s for s in multiplier])
                opts = CaseOptions(**dict(opts.as_dict(), lr=lr))
            opt = self._single._make(keras, opts)
            opt.build([variables[i] for i in loop.groups[g].tensors])
            return opt

        optimizers = [fresh(g) for g in range(len(loop.groups))]
        rows: list[list[np.ndarray]] = [[] for _ in variables]
        for k in range(loop.steps):
            for g, (group, opt) in enumerate(zip(loop.groups, optimizers)):
                if self.schedule == "assign":
                    opt.learning_rate = options[g].lr * multiplier[k]
                pairs = []
                for i in group.tensors:
                    grad = case.gradient(i, k)
                    assert grad is not None  # MISSING_GRADS is declared missing: never drawn
                    pairs.append((keras.ops.cast(grad, dtype), variables[i]))
                opt.apply_gradients(pairs)
            for i, var in enumerate(variables):
                rows[i].append(np.asarray(keras.ops.convert_to_numpy(var.value)).astype(np.float64).reshape(-1))
            if k + 1 in loop.resume_after:
                for g, opt in enumerate(optimizers):
                    store: dict[str, Any] = {}
                    with warnings.catch_warnings():
                        # Keras's Variable.numpy() calls np.array(self): numpy 2 warns about its __array__
                        warnings.simplefilter("ignore", DeprecationWarning)
                        opt.save_own_variables(store)
                    optimizers[g] = fresh(g)
                    with warnings.catch_warnings():
                        warnings.simplefilter("error")  # a skipped load (count mismatch) is a warning in Keras
                        optimizers[g].load_own_variables(store)
        out = tuple(np.array(r, dtype=np.float64).reshape(loop.steps, loop.tensors[i].size) for i, r in enumerate(rows))
        return LoopObservation(out)
