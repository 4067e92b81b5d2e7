"""optax adam / adamw driven through a training loop, as optax users write one (a :class:`LoopImplementation`).

* several tensors: the parameters are one pytree, ``{"t0": array, "t1": array, ...}`` (each a 1-D ``jnp``
  array of the case's dtype);
* parameter groups: ``optax.multi_transform({"g0": tx0, "g1": tx1, ...}, {"t0": "g0", ...})``, each
  ``tx_g`` the group's own ``optax.inject_hyperparams(optax.adam | optax.adamw | optax.amsgrad)(...)``
  (``hyperparam_dtype=float32`` for float16/bfloat16 parameters: by default inject_hyperparams casts
  the hyperparameters to the parameters' dtype, and bfloat16(0.999) == 1 makes every update NaN);
* schedule: before loop step k each group's injected ``learning_rate`` is set to ``base_lr * schedule[k]``
  in its ``InjectHyperparamsState`` (what an optax schedule function returns at that count);
* resume: the state is taken to the host (``jax.device_get``: numpy leaves, what a checkpoint writes),
  a fresh state is made with ``tx.init(params)``, and the saved leaves are put into its structure
  (``jax.tree.unflatten``), as a checkpoint library restores into a target structure.

Missing gradients are not something optax has: its ``update`` takes a gradient for every leaf (a zero
gradient still advances the count and decays the moments), so :attr:`LoopCapability.MISSING_GRADS` is
declared missing and such loops are never drawn for it. float64 loops run inside ``jax.enable_x64``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions
from adamw_oracle.adapters.optax_adapter import OPTAX_OPTIMIZERS, jax_dtype
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.adapters.torch_loop import group_reason, guarded_loop, loop_reason, probe_case
from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.loop import LoopCase, LoopObservation
from adamw_oracle.errors import InvalidArgumentError


def _adamw_amsgrad(learning_rate: Any, b1: Any, b2: Any, eps: Any, eps_root: Any, weight_decay: Any) -> Any:
    """optax's AdamW with AMSGrad, composed as optax documents it (optax.adamw has no AMSGrad flag)."""
    import optax  # optional dependency (optax), imported only when used

    return optax.chain(optax.scale_by_amsgrad(b1, b2, eps, eps_root), optax.add_decayed_weights(weight_decay),
                       optax.scale_by_learning_rate(learning_rate))


class OptaxLoopImplementation:
    """``optax.adam`` / ``optax.adamw`` in a training loop (see the module docstring)."""

    loop_capabilities = frozenset(LoopCapability) - {LoopCapability.MISSING_GRADS}

    def __init__(self, name: str = "optax.adamw") -> None:
        optimizer = name.split(".", 1)[1] if name.startswith("optax.") else name
        if optimizer not in OPTAX_OPTIMIZERS:
            raise InvalidArgumentError("name", name, "one of " + ", ".join(f"optax.{o}" for o in OPTAX_OPTIMIZERS))
        self.optimizer = optimizer
        self.name = f"optax.{optimizer}"
        info = TARGETS_BY_NAME[self.name]
        self.capabilities, self.family, self.dtypes = info.capabilities, info.family, info.dtypes
        self.flushes_subnormals = info.flushes_subnormals  # XLA on the CPU (see adamw_oracle.check.subnormal)
        self.known: tuple[Any, ...] = ()

    def versions(self) -> dict[str, str]:
        import jax  # optional dependency (jax), imported only when used
        import optax  # optional dependency (optax), imported only when used

        return {"optax": optax.__version__, "jax": jax.__version__}

    def run_loop(self, case: LoopCase) -> LoopObservation:
        reason = loop_reason(case, self.loop_capabilities) or group_reason(case, self.capabilities, self.family)
        if reason:
            return LoopObservation((), error=f"unsupported case: {reason}")
        import jax  # optional dependency (jax), imported only when used

        with jax.enable_x64(case.dtype is Dtype.FLOAT64):
            return guarded_loop(case, self._run)

    def _group_transformation(self, opts: CaseOptions, dtype: Dtype) -> tuple[Any, dict[str, Any]]:
        import jax.numpy as jnp  # optional dependency (jax), imported only when used
        import optax  # optional dependency (optax), imported only when used

        hyper: dict[str, Any] = {"learning_rate": opts.lr, "b1": opts.beta1, "b2": opts.beta2, "eps": opts.eps,
                                 "eps_root": opts.eps_root}
        if self.optimizer == "adamw":
            hyper["weight_decay"] = opts.weight_decay
            factory = _adamw_amsgrad if opts.amsgrad else optax.adamw
        else:
            factory = optax.amsgrad if opts.amsgrad else optax.adam
        # inject_hyperparams casts the hyperparameters to the parameters' dtype by default: in bfloat16,
        # b2 = 0.999 becomes 1 and 1 - b2**t = 0 (NaN updates). Half-precision users pass float32.
        half = dtype in (Dtype.BFLOAT16, Dtype.FLOAT16)
        injected = optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float32 if half else None)
        return injected(**hyper), hyper

    def _run(self, case: LoopCase) -> LoopObservation:
        import jax  # optional dependency (jax), imported only when used
        import jax.numpy as jnp  # optional dependency (jax), imported only when used
        import optax  # optional dependency (optax), imported only when used

        loop = case.loop
        dt = jax_dtype(case.dtype)
        names = [f"t{i}" for i in range(len(loop.tensors))]
        params = {names[i]: jnp.asarray(case.initial_params(i)).astype(dt) for i in range(len(names))}
        transforms, base_lr = {}, {}
        for g, group in enumerate(loop.groups):
            tx_g, hyper = self._group_transformation(CaseOptions.of(probe_case(group.config, case)), case.dtype)
            transforms[f"g{g}"], base_lr[f"g{g}"] = tx_g, hyper["learning_rate"]
        labels = {names[i]: f"g{loop.group_of(i)}" for i in range(len(names))}
        tx = optax.multi_transform(transforms, labels)
        state = tx.init(params)
        wide = jnp.float64 if case.dtype is Dtype.FLOAT64 else jnp.float32  # every dtype's values fit exactly
        rows: list[list[np.ndarray]] = [[] for _ in names]
        for k in range(loop.steps):
            for label, lr in base_lr.items():
                injected = state.inner_states[label].inner_state.hyperparams
                injected["learning_rate"] = jnp.asarray(lr * float(loop.schedule[k]),
                                                        dtype=injected["learning_rate"].dtype)
            grads = {}
            for i, name in enumerate(names):
                grad = case.gradient(i, k)
                assert grad is not None  # MISSING_GRADS is declared missing: never drawn
                grads[name] = jnp.asarray(grad).astype(dt)
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            for i, name in enumerate(names):
                rows[i].append(np.asarray(params[name].astype(wide), dtype=np.float64))
            if k + 1 in loop.resume_after:
                saved = jax.device_get(state)
                fresh = tx.init(params)
                state = jax.tree.unflatten(jax.tree.structure(fresh), [jnp.asarray(x) for x in jax.tree.leaves(saved)])
        out = tuple(np.array(r, dtype=np.float64).reshape(loop.steps, loop.tensors[i].size) for i, r in enumerate(rows))
        return LoopObservation(out)
