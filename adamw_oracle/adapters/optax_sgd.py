"""optax.sgd (JAX on the CPU) behind the :class:`Implementation` protocol.

The transformation is built from the case's hyperparameters as optax users write it::

    optax.sgd(lr, momentum=mu or None, nesterov=nesterov)                              # weight_decay == 0
    optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr, momentum=mu or None, nesterov=nesterov))

What optax computes (optax 0.2.8, read from its source: ``optax/_src/alias.py`` ``sgd`` is
``chain(trace(decay=momentum, nesterov), scale_by_learning_rate(lr))``; ``optax/transforms/
_accumulation.py`` ``trace``; ``optax/transforms/_adding.py`` ``add_decayed_weights``), one element::

    g'  = g + wd * p_{t-1}                         (add_decayed_weights: coupled L2, before the trace)
    t_t = g' + mu * t_{t-1},  t_0 = 0              (trace: no dampening; t_1 = g' exactly)
    d   = g' + mu * t_t (nesterov) or t_t
    u   = -lr * d                                  (scale_by_learning_rate: scale(-lr))
    p_t = p_{t-1} + u                              (optax.apply_updates)

That is the contract's ``torch.SGD`` convention with dampening 0 (coupled L2, the buffer equal to g'
at the first step, Nesterov's g' + mu * b): the target's preset. optax has no dampening
(``Capability.DAMPENING`` is absent) and no maximize; ``momentum=None`` (optax's default, used for
mu = 0) keeps no trace at all. The trace is exposed as the state ``m`` after every step (it is the
contract's momentum buffer), and a seeded case's m is put into it
(:func:`~adamw_oracle.adapters.optax_state.seed_trace_state`).

Precision: ``momentum``, ``lr`` and ``wd`` are Python floats, which JAX's weak typing rounds to the
parameter's dtype before multiplying (``decay * t``, ``updates * -lr``, ``s * p``). In float16 a small lr
becomes a float16 subnormal, outside the model's float32 scalars: the declared known finding
``optax-sgd-float16-lr-weakly-typed`` (:mod:`adamw_oracle.adapters.targets`); in bfloat16 (float32's
range) the same roundings stay within the bound. float64 cases run inside a scoped ``jax.enable_x64(True)``
(see :mod:`adamw_oracle.adapters.optax_adapter`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adamw_oracle.adapters.optax_adapter import _EagerOptax, apply_eagerly
from adamw_oracle.adapters.signature import fixed_options
from adamw_oracle.adapters.targets import TARGETS_BY_NAME
from adamw_oracle.contract.case import Case, Observation, stack_step_states
from adamw_oracle.contract.conventions import Family

_MAPPED = ("learning_rate", "momentum", "nesterov")


class OptaxSGDImplementation(_EagerOptax):
    """``optax.sgd`` (chained after ``optax.add_decayed_weights`` for a weight decay), eager, on the JAX CPU."""

    name = "optax.sgd"
    family = Family.SGD
    families = frozenset({Family.SGD})
    capabilities = TARGETS_BY_NAME["optax.sgd"].capabilities
    dtypes = TARGETS_BY_NAME["optax.sgd"].dtypes
    #: XLA on the CPU flushes denormals to zero (see adamw_oracle.check.subnormal)
    flushes_subnormals = TARGETS_BY_NAME["optax.sgd"].flushes_subnormals

    def __init__(self, *, name: str | None = None, options: Mapping[str, Any] | None = None) -> None:
        """``name`` names the target in reports (``optax:sgd`` by import path); ``options`` are further
        fixed arguments of ``optax.sgd`` (``accumulator_dtype``).

        Raises:
            InvalidArgumentError: an option is a hyperparameter each case sets or no argument of optax.sgd.
        """
        import optax  # optional dependency (optax), imported only when used

        self.options = fixed_options(optax.sgd, options, _MAPPED, name=name or "optax:sgd")
        if name is not None:
            self.name = name

    def transformation(self, hyper: dict[str, Any]) -> Any:
        """The optax transformation of one case (``hyper``: the case's Python-float hyperparameters)."""
        import optax  # optional dependency (optax), imported only when used

        sgd = optax.sgd(hyper["lr"], momentum=hyper["momentum"] or None, nesterov=bool(hyper["nesterov"]),
                        **self.options)
        if hyper["weight_decay"] == 0:
            return sgd
        return optax.chain(optax.add_decayed_weights(hyper["weight_decay"]), sgd)

    def _run(self, case: Case) -> Observation:
        recorder = TraceRecorder(case.run.size)
        rows, state = apply_eagerly(self.transformation(case.hyper_floats()), case, after_step=recorder)
        trace = trace_of(state, case.run.size)
        return Observation(np.array(rows, dtype=np.float64).reshape(case.run.steps, case.run.size),
                           {} if trace is None else {"m": trace},
                           step_states=recorder.stacked(case))


def trace_of(state: Any, size: int) -> np.ndarray | None:
    """The ``trace`` leaf of ``size`` elements in an optax state (float64), None when there is none."""
    import jax  # optional dependency (jax), imported only when used

    for path, value in jax.tree_util.tree_flatten_with_path(state)[0]:
        key = getattr(path[-1], "name", None) if path else None
        if key == "trace" and np.shape(value) == (size,):
            return np.asarray(np.asarray(value).astype(np.float64))
    return None


class TraceRecorder:
    """Called with the optax state after every update: keeps the trace as the per-step rows ``m``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows: dict[str, list[Any]] = {"m": []}

    def __call__(self, state: Any) -> None:
        trace = trace_of(state, self.size)
        if trace is not None:
            self.rows["m"].append(trace)

    def stacked(self, case: Case) -> dict[str, np.ndarray]:
        return stack_step_states(self.rows, case.run.steps, case.run.size)
