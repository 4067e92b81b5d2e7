"""optax adam / adamw (JAX on the CPU) behind the :class:`Implementation` protocol.

The transformation is built from the case's hyperparameters as optax users write it::

    optax.adam(lr, b1, b2, eps, eps_root)                       # "adam"
    optax.adamw(lr, b1, b2, eps, eps_root, weight_decay=wd)     # "adamw"
    # with AMSGrad (optax.adam has no flag; optax composes it from scale_by_amsgrad):
    optax.amsgrad(lr, b1, b2, eps, eps_root)                    # "adam", amsgrad
    optax.chain(optax.scale_by_amsgrad(b1, b2, eps, eps_root),
                optax.add_decayed_weights(wd), optax.scale_by_learning_rate(lr))   # "adamw", amsgrad

and applied eagerly, one ``update`` + ``optax.apply_updates`` per step, on a 1-D ``jnp`` array of the
case's dtype (float64, float32, float16, bfloat16).

float64 needs JAX's x64 mode. It is switched on only for float64 cases and only inside a scoped
``jax.enable_x64(True)`` block; other dtypes run inside ``jax.enable_x64(False)``. What x64 changes
besides allowing float64 arrays: Python scalars and the int32 step count promote to float64 instead of
float32, so optax's bias corrections ``1 - b**t`` are computed in float64 before being cast to the
moment's dtype. Running float32 cases with x64 off is what a default JAX user gets.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions, empty_params, guarded_run, unsupported_reason
from adamw_oracle.adapters.optax_state import NoAdamState, adam_node_path, seed_optax_state
from adamw_oracle.adapters.signature import constructor_map
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.case import Case, Observation, stack_step_states
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError

OPTAX_OPTIMIZERS = ("adam", "adamw")


def jax_dtype(dtype: Dtype):
    import jax.numpy as jnp  # optional dependency (jax), imported only when used

    return {Dtype.FLOAT64: jnp.float64, Dtype.FLOAT32: jnp.float32,
            Dtype.FLOAT16: jnp.float16, Dtype.BFLOAT16: jnp.bfloat16}[dtype]


class _EagerOptax:
    """What every optax target shares: versions, the capability guard, and float64 cases run under
    ``jax.enable_x64`` (scoped to the case, so the caller's JAX settings are left as they were)."""

    capabilities: Any
    #: the update rule the target implements (cases of the other family are refused)
    family: Family = Family.ADAM

    def versions(self) -> dict[str, str]:
        import jax  # optional dependency (jax), imported only when used
        import optax  # optional dependency (optax), imported only when used

        return {"optax": optax.__version__, "jax": jax.__version__}

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities, family=self.family)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        import jax  # optional dependency (jax), imported only when used

        with jax.enable_x64(case.dtype is Dtype.FLOAT64):
            return guarded_run(case, self._run)

    def _run(self, case: Case) -> Observation:
        raise NotImplementedError


class OptaxImplementation(_EagerOptax):
    """``optax.adam`` or ``optax.adamw`` (and their AMSGrad compositions), eager, on the JAX CPU."""

    #: XLA on the CPU flushes denormals to zero (see adamw_oracle.check.subnormal)
    flushes_subnormals = TARGETS_BY_NAME["optax.adamw"].flushes_subnormals

    def __init__(self, optimizer: str = "adamw") -> None:
        if optimizer not in OPTAX_OPTIMIZERS:
            raise InvalidArgumentError("optimizer", optimizer, "one of " + ", ".join(OPTAX_OPTIMIZERS))
        self.optimizer = optimizer
        self.name = f"optax.{optimizer}"
        info = TARGETS_BY_NAME[self.name]
        self.capabilities = info.capabilities
        self.dtypes = info.dtypes

    def _transformation(self, opts: CaseOptions):
        import optax  # optional dependency (optax), imported only when used

        if not opts.amsgrad:
            if self.optimizer == "adam":
                return optax.adam(opts.lr, opts.beta1, opts.beta2, opts.eps, opts.eps_root)
            return optax.adamw(opts.lr, opts.beta1, opts.beta2, opts.eps, opts.eps_root, weight_decay=opts.weight_decay)
        if self.optimizer == "adam":
            return optax.amsgrad(opts.lr, opts.beta1, opts.beta2, opts.eps, opts.eps_root)
        return optax.chain(
            optax.scale_by_amsgrad(opts.beta1, opts.beta2, opts.eps, opts.eps_root),
            optax.add_decayed_weights(opts.weight_decay),
            optax.scale_by_learning_rate(opts.lr),
        )

    def _run(self, case: Case) -> Observation:
        opts = CaseOptions.of(case)
        recorder = MomentRecorder(opts.amsgrad)
        rows, state = apply_eagerly(self._transformation(opts), case, after_step=recorder)
        moments = state[0]
        exposed = {"m": moments.mu, "v": moments.nu}
        if opts.amsgrad:
            exposed["vmax"] = moments.nu_max
        return Observation(
            np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size),
            {k: np.asarray(np.asarray(v).astype(np.float64)) for k, v in exposed.items()},
            step_states=recorder.stacked(case),
        )


class MomentRecorder:
    """Called with the optax state after every update: keeps the Adam moments node's ``mu``, ``nu``
    (``nu_max`` under AMSGrad) and ``count`` as per-step rows (``m``, ``v``, ``vmax``, ``step``)."""

    def __init__(self, amsgrad: bool) -> None:
        self.amsgrad = amsgrad
        self.rows: dict[str, list[Any]] = {"m": [], "v": [], "step": []}
        if amsgrad:
            self.rows["vmax"] = []

    def __call__(self, state: Any) -> None:
        moments = _moments(state)
        if moments is None:
            return
        for key, attr in (("m", "mu"), ("v", "nu"), ("vmax", "nu_max"), ("step", "count")):
            value = getattr(moments, attr, None)
            if key in self.rows and value is not None:
                self.rows[key].append(np.asarray(value).astype(np.float64))

    def stacked(self, case: Case) -> dict[str, np.ndarray]:
        return stack_step_states(self.rows, case.run.steps, case.run.size)


def _moments(state: Any) -> Any:
    """The first optax state node holding Adam moments (``mu`` and ``nu``), searched depth first."""
    if hasattr(state, "mu") and hasattr(state, "nu"):
        return state
    if isinstance(state, (tuple, list)):
        for item in state:
            found = _moments(item)
            if found is not None:
                return found
    return None


class OptaxFactoryImplementation(_EagerOptax):
    """Any optax ``GradientTransformation`` factory named by import path (``optax:adamw``, ``optax:nadam``).

    The factory is called with the case's hyperparameters as its signature spells them
    (``learning_rate, b1, b2, eps[, eps_root][, weight_decay]``; :mod:`adamw_oracle.adapters.signature`)
    plus the fixed ``options``, and applied eagerly as :class:`OptaxImplementation` does (same x64
    scoping). The moments are exposed when the state holds a node with ``mu`` and ``nu``; when it holds
    exactly one, the target also takes seeded states (``Capability.SEEDED_STATE``, put into that node).
    """

    #: XLA on the CPU flushes denormals to zero (see adamw_oracle.check.subnormal)
    flushes_subnormals = True
    #: optax's own findings (its int32 count, targets.FRAMEWORK_KNOWN) apply to every factory
    known_framework = "optax"
    families = frozenset({Family.ADAM})
    dtypes = TARGETS_BY_NAME["optax.adamw"].dtypes

    def __init__(self, factory: Callable[..., Any], *, name: str | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.factory = factory
        self._map = constructor_map(factory, options, name=name)
        self.options = dict(self._map.fixed)
        self.name = name or self._map.target
        self.capabilities = self._map.capabilities | ({Capability.SEEDED_STATE} if self._holds_adam_state() else set())

    def _holds_adam_state(self) -> bool:
        """Whether the factory's state (built with default-like hyperparameters on one float32 element)
        holds exactly one Adam moments node that a seeded state can be put into
        (:func:`~adamw_oracle.adapters.optax_state.adam_node_path`); without one, ``check`` draws
        genuinely long runs instead of seeded states."""
        import jax.numpy as jnp  # optional dependency (jax), imported only when used

        opts = CaseOptions(1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0, False, False)
        try:
            adam_node_path(self.factory(**self._map.kwargs(opts)).init(jnp.zeros(1, jnp.float32)), 1)
        except NoAdamState:
            return False
        except Exception:  # noqa: BLE001 - a factory that fails here fails again, reported, on every case
            return False
        return True

    def _run(self, case: Case) -> Observation:
        opts = CaseOptions.of(case)
        tx = self.factory(**self._map.kwargs(opts))
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise TypeError(f"{self.name} returned a {type(tx).__name__}, not an optax GradientTransformation")
        recorder = MomentRecorder(opts.amsgrad)
        rows, state = apply_eagerly(tx, case, after_step=recorder)
        moments = _moments(state)
        exposed = {}
        if moments is not None:
            exposed = {"m": moments.mu, "v": moments.nu}
            if opts.amsgrad and hasattr(moments, "nu_max"):
                exposed["vmax"] = moments.nu_max
        held = {k: np.asarray(v).astype(np.float64).reshape(-1) for k, v in exposed.items()}
        return Observation(np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size),
                           {k: v for k, v in held.items() if v.shape == (case.run.size,)},
                           step_states=recorder.stacked(case))


def apply_eagerly(tx: Any, case: Case, *, after_step: Callable[[Any], None] | None = None
                  ) -> tuple[list[np.ndarray], Any]:
    """Run the transformation ``tx`` over the case's gradients, step by step in the case's dtype:
    the parameters after every step (as float64 rows) and the final state; ``after_step(state)`` is
    called with the state after each step (e.g. a :class:`MomentRecorder`). A seeded case's state is put
    into ``tx.init(params)`` first (:func:`~adamw_oracle.adapters.optax_state.seed_optax_state`)."""
    import jax.numpy as jnp  # optional dependency (jax), imported only when used
    import optax  # optional dependency (optax), imported only when used

    dt = jax_dtype(case.dtype)
    params = jnp.asarray(case.initial_params()).astype(dt)
    state = seed_optax_state(tx.init(params), case)
    grads = case.gradients()
    rows = []
    wide = jnp.float64 if case.dtype is Dtype.FLOAT64 else jnp.float32  # every dtype's values fit exactly
    for k in range(case.run.steps):
        updates, state = tx.update(jnp.asarray(grads[k]).astype(dt), state, params)
        params = optax.apply_updates(params, updates)
        rows.append(np.asarray(params.astype(wide), dtype=np.float64))
        if after_step is not None:
            after_step(state)
    return rows, state
