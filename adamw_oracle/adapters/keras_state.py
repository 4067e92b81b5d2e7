"""Handing a seeded state to a Keras 3 optimizer (``Capability.SEEDED_STATE``) through its variables.

Keras creates an optimizer's variables in ``optimizer.build(var_list)``; Adam and AdamW
(keras/src/optimizers/adam.py) hold, for each weight, ``_momentums[i]`` (m), ``_velocities[i]`` (v) and,
with ``amsgrad=True``, ``_velocity_hats[i]`` (vmax, the running maximum of raw v), and share one integer
``iterations`` variable: the number of completed steps, from which every step forms
``local_step = cast(iterations + 1, variable.dtype)``. A case's
:class:`~adamw_oracle.contract.state.OptimizerState` is put in, after ``build([variable])``, by
``assign``: m, v (and vmax) cast to each slot's dtype (the values are values of the case's dtype, so
nothing is rounded), and ``iterations`` = the step.

The variables are identified, never guessed: every variable of the built optimizer (``optimizer.variables``)
must be one of ``iterations``, the ``learning_rate`` variable, or the one weight's m, v (and vmax) slot.
An optimizer with anything else (Nadam's ``u_product``, an EMA average, a gradient accumulator) or
without those slots (Adamax's ``_m``/``_u``, Lion) holds state the contract's (step, m, v, vmax) does
not describe, and is refused with :class:`NoKerasAdamState`.

``iterations`` is an int32 on every backend but TensorFlow (keras/src/backend/common/dtypes.py maps
``"int"`` to int64 only there; on JAX even with x64 enabled, and on torch). Its ``assign_add(1)`` then
wraps from 2**31 - 1 to -2**31, and the state Keras really holds after ``s`` steps is ``s`` wrapped to
that width (two's complement), which is what is injected: the known finding
``keras-iterations-int32-wraps`` of :mod:`adamw_oracle.adapters.targets`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adamw_oracle.adapters.base import is_seeded
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import AmsGrad, Family

#: the contract's state names and the Keras Adam slot lists that hold them (one entry per weight)
SLOTS = {"m": "_momentums", "v": "_velocities", "vmax": "_velocity_hats"}


class NoKerasAdamState(ValueError):
    """The Keras optimizer's variables are not exactly an Adam state the contract describes."""


def wrapped(step: int, dtype: Any) -> int:
    """``step`` as an integer variable of ``dtype`` holds it after ``step`` increments (wrapping around)."""
    info = np.iinfo(np.dtype(dtype))
    width = int(info.max) - int(info.min) + 1
    return (step - int(info.min)) % width + int(info.min)


def adam_slots(opt: Any, variable: Any, amsgrad: bool) -> dict[str, Any]:
    """The slot variables of the built ``opt`` for its one weight ``variable``: ``{"m": ..., "v": ...,
    "vmax": ...}`` (vmax only when ``amsgrad``) and ``"step"``: the ``iterations`` variable.

    Raises:
        NoKerasAdamState: a slot list is missing or does not hold exactly one variable of ``variable``'s
            shape, ``iterations`` is not an integer scalar variable, gradient accumulation is on (then
            ``iterations`` counts mini-steps), or the optimizer holds any other variable.
    """
    name = type(opt).__name__
    names = ["m", "v", *(["vmax"] if amsgrad else [])]
    found: dict[str, Any] = {}
    for key in names:
        held = getattr(opt, SLOTS[key], None)
        if not isinstance(held, list) or len(held) != 1 or tuple(held[0].shape) != tuple(variable.shape):
            what = "no such list" if not isinstance(held, list) else f"{len(held)} entries"
            raise NoKerasAdamState(f"the Keras optimizer {name} has no {SLOTS[key]} slot ({key}) for its one weight "
                                   f"({what}); a seeded state needs Adam's m, v" + (", vmax" if amsgrad else ""))
        found[key] = held[0]
    if getattr(opt, "gradient_accumulation_steps", None):
        raise NoKerasAdamState(f"the Keras optimizer {name} accumulates gradients over "
                               f"{opt.gradient_accumulation_steps} calls: its iterations are not the step count")
    step = getattr(opt, "_iterations", None)
    if step is None or tuple(step.shape) != () or not np.issubdtype(np.dtype(str(step.dtype)), np.integer):
        raise NoKerasAdamState(f"the Keras optimizer {name} has no integer iterations variable")
    found["step"] = step
    known = {id(v) for v in found.values()}
    lr = getattr(opt, "_learning_rate", None)
    if lr is not None:
        known.add(id(lr))
    others = [getattr(v, "path", getattr(v, "name", "?")) for v in opt.variables if id(v) not in known]
    if others:
        raise NoKerasAdamState(f"the Keras optimizer {name} holds variables beyond iterations, learning_rate and "
                               f"Adam's {', '.join(SLOTS[k] for k in names)}: {', '.join(map(str, others))}; "
                               "a seeded (step, m, v, vmax) state would leave them at their initial values")
    return found


def seed_keras_state(keras: Any, opt: Any, variable: Any, case: Case) -> None:
    """Build ``opt`` on ``variable`` and put ``case``'s initial state in (see the module docstring);
    nothing for the zero state.

    Raises:
        NoKerasAdamState: see :func:`adam_slots`.
        ValueError: the case is not an Adam-family case.
    """
    if not is_seeded(case):
        return
    conv = case.run.config.conventions
    if conv.family is not Family.ADAM:
        raise ValueError("a Keras Adam state seeds Adam-family cases only")
    st = case.run.initial_state
    assert st is not None
    opt.build([variable])
    amsgrad = conv.amsgrad is not AmsGrad.OFF
    slots = adam_slots(opt, variable, amsgrad)
    values = {"m": st.m, "v": st.v, **({"vmax": st.vmax} if amsgrad else {})}
    for key, exact in values.items():
        slot = slots[key]
        held = np.array([float(x) for x in exact], dtype=np.float64).reshape(tuple(slot.shape))
        slot.assign(keras.ops.cast(held, slot.dtype))
    step = slots["step"]
    step.assign(keras.ops.cast(wrapped(st.step, str(step.dtype)), step.dtype))
