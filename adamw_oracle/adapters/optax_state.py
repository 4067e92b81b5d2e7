"""Handing a seeded state to an optax transformation (``Capability.SEEDED_STATE``) through its state pytree.

optax keeps Adam's moments in one named tuple of the state pytree: ``ScaleByAdamState(count, mu, nu)``
(``optax.adam``, ``adamw``, ``nadam``) or ``ScaleByAmsgradState(count, mu, nu, nu_max)``
(``optax.amsgrad``, ``scale_by_amsgrad``), nested in whatever wraps it: the tuple of an ``optax.chain``,
the ``inner_state`` of ``inject_hyperparams``, the ``inner_opt_state`` of ``MultiSteps``. The node is
found by its fields, never by its position: the one named tuple with ``mu`` and ``nu`` leaves of the
parameter's shape, read from the ``jax.tree_util`` key paths of the state's leaves. A case's
:class:`~adamw_oracle.contract.state.OptimizerState` then replaces, by path (``jax.tree_util.
tree_map_with_path``; ``optax.tree_utils.tree_set`` replaces only the outermost field of a name, so the
moments node's ``count`` under ``inject_hyperparams``' own ``count`` would stay 0),

* that node's ``mu`` = m, ``nu`` = v and, under AMSGrad, ``nu_max`` = vmax, each cast to the dtype optax
  chose for it (``mu_dtype`` may differ from the parameters'); the values are values of the case's dtype;
* every integer scalar ``count`` of the state (the moments node's, ``inject_hyperparams``' and any other
  counter of the chain): after ``t`` updates each of them holds ``t``.

optax's counters are int32 and advance with ``optax.safe_increment``, which stops at 2**31 - 1 instead of
wrapping to -2**31 (documented behaviour, optax/_src/numerics.py). A state after more steps than that
holds 2**31 - 1, and that is what is injected: the state optax would really hold. Its stored count then
differs from the contract's step -- the known finding ``optax-count-int32-saturates`` of
:mod:`adamw_oracle.adapters.targets` -- while the parameters and moments are those of an exact counter
whenever ``beta**(2**31 - 1)`` has underflowed, as it has for every beta2 ``check`` draws (at most
1 - 1e-6: ``(1 - 1e-6)**(2**31) = exp(-2147)``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adamw_oracle.adapters.base import is_seeded
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import AmsGrad, Family


class NoAdamState(ValueError):
    """The transformation's state holds no recognisable Adam moments node (or more than one)."""


def _type_names(state: Any) -> str:
    """The named tuples of ``state``, outermost first, for error messages."""
    import jax  # optional dependency (jax), imported only when used

    names: list[str] = []

    def visit(node: Any) -> Any:
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            names.append(type(node).__name__)
        return node

    jax.tree_util.tree_map(visit, state, is_leaf=lambda x: isinstance(x, tuple) and hasattr(x, "_fields"))
    return ", ".join(names) or type(state).__name__


def _name(key: Any) -> str | None:
    """The field name of one path key (a named tuple's attribute or a dict key)."""
    name = getattr(key, "name", getattr(key, "key", None))
    return name if isinstance(name, str) else None


def adam_node_path(state: Any, size: int) -> tuple[Any, ...]:
    """The path (``jax.tree_util`` keys) of the one node holding ``mu`` and ``nu`` of ``size`` elements.

    Raises:
        NoAdamState: no such node (e.g. ``optax.sgd``, ``optax.lion``: no second moment), or several
            (two Adam transformations chained: which one the case's state belongs to is ambiguous).
    """
    import jax  # optional dependency (jax), imported only when used

    leaves = jax.tree_util.tree_flatten_with_path(state)[0]

    def parents(field: str) -> set[tuple[Any, ...]]:
        return {tuple(path[:-1]) for path, value in leaves if path and _name(path[-1]) == field
                and np.shape(value) == (size,)}

    nodes = sorted(parents("mu") & parents("nu"), key=len)
    if len(nodes) != 1:
        what = "no node" if not nodes else f"{len(nodes)} nodes"
        raise NoAdamState(f"the optax state ({_type_names(state)}) has {what} with Adam moments mu and nu of "
                          f"{size} elements; a seeded state needs exactly one (count, mu, nu) node")
    return nodes[0]


def seed_optax_state(state: Any, case: Case) -> Any:
    """``state`` (from ``tx.init(params)``) with ``case``'s initial state put in (see the module
    docstring); ``state`` itself for a case from the zero state.

    Raises:
        NoAdamState: no single Adam moments node, or its node lacks an integer ``count`` (or, for an
            AMSGrad case, ``nu_max``).
    An SGD-family case goes to :func:`seed_trace_state`.
    """
    if not is_seeded(case):
        return state
    import jax  # optional dependency (jax), imported only when used
    import jax.numpy as jnp  # optional dependency (jax), imported only when used

    conv = case.run.config.conventions
    if conv.family is Family.SGD:
        return seed_trace_state(state, case)
    st = case.run.initial_state
    assert st is not None
    node = adam_node_path(state, case.run.size)
    fields = {"mu": st.m, "nu": st.v, **({"nu_max": st.vmax} if conv.amsgrad is not AmsGrad.OFF else {})}

    def is_counter(value: Any) -> bool:
        return np.shape(value) == () and np.issubdtype(np.asarray(value).dtype, np.integer)

    held = {_name(path[-1]): value for path, value in jax.tree_util.tree_flatten_with_path(state)[0]
            if tuple(path[:-1]) == node}
    where = jax.tree_util.keystr(node) or "the top"
    for name in [*fields, "count"]:
        if name not in held or (name == "count" and not is_counter(held[name])):
            kind = "integer count" if name == "count" else name
            raise NoAdamState(f"the optax Adam node at {where} ({', '.join(map(str, held))}) has no {kind}: "
                              "it cannot hold the seeded state")

    def put(path: Any, value: Any) -> Any:
        name = _name(path[-1]) if path else None
        if tuple(path[:-1]) == node and name in fields:
            exact = np.array([float(x) for x in fields[name]], dtype=np.float64)
            return jnp.asarray(exact.astype(np.asarray(value).dtype).reshape(np.shape(value)))
        if name == "count" and is_counter(value):
            dtype = np.asarray(value).dtype
            return jnp.asarray(min(st.step, int(np.iinfo(dtype).max)), dtype=dtype)  # safe_increment stops there
        return value

    return jax.tree_util.tree_map_with_path(put, state)


def seed_trace_state(state: Any, case: Case) -> Any:
    """``state`` of an ``optax.sgd`` (possibly chained after ``add_decayed_weights``) with the seeded SGD
    case's momentum buffer m put into the one ``TraceState.trace`` leaf of the parameter's shape (cast to
    its dtype); ``state`` itself for the zero state, or when the transformation keeps no trace
    (``momentum=None``: plain SGD has no state to seed). optax's trace has no step count: ``trace = g +
    momentum * trace`` at every step, which is the contract's buffer after the first step
    (``first_step`` is t == 1, and a seeded state has taken steps already).

    Raises:
        NoAdamState: several trace leaves of the parameter's shape (which one is the case's is ambiguous).
    """
    if not is_seeded(case):
        return state
    import jax  # optional dependency (jax), imported only when used
    import jax.numpy as jnp  # optional dependency (jax), imported only when used

    st = case.run.initial_state
    assert st is not None
    size = case.run.size
    paths = [tuple(path) for path, value in jax.tree_util.tree_flatten_with_path(state)[0]
             if path and _name(path[-1]) == "trace" and np.shape(value) == (size,)]
    if len(paths) > 1:
        raise NoAdamState(f"the optax state ({_type_names(state)}) has {len(paths)} traces of {size} elements; "
                          "a seeded SGD state needs at most one")
    exact = np.array([float(x) for x in st.m], dtype=np.float64)

    def put(path: Any, value: Any) -> Any:
        if tuple(path) in paths:
            return jnp.asarray(exact.astype(np.asarray(value).dtype).reshape(np.shape(value)))
        return value

    return jax.tree_util.tree_map_with_path(put, state)
