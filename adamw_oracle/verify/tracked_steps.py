"""One step of the reference over a list of tracked elements, with the new moments stored.

The exact Kahan and stochastic-rounding judges (:mod:`adamw_oracle.verify.kahan`,
:mod:`adamw_oracle.verify.stochastic`) both advance their run element by element on the running-error
backend: ``adam_element_step``/``sgd_element_step`` of the reference layer for each element, then m, v
and vmax stored in the precision model's state format (v and vmax only for Adam). Each judge then
treats the new parameter its own way (compensated sum, neighbour set).
"""
from __future__ import annotations

from typing import Any

from adamw_oracle.contract.conventions import Conventions, Family
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.precision import FormatCost
from adamw_oracle.reference.adam import adam_element_step
from adamw_oracle.reference.sgd import sgd_element_step
from adamw_oracle.verify.error_model import loaded
from adamw_oracle.verify.tracked import RunningErrorBackend, Tracked


def step_elements(backend: RunningErrorBackend, consts: Any, conv: Conventions, hyper: Hyperparameters, t: int,
                  p_in: list[Tracked], g: list[Tracked], m_in: list[Tracked], v: list[Tracked],
                  vmax: list[Tracked], one: Tracked, state_load: bool,
                  state_fmt: FormatCost) -> tuple[list[Any], list[Tracked], list[Tracked], list[Tracked]]:
    """``(results, m, v, vmax)``: each element's step result (``p_new`` unrounded) and the new stored
    moments; v and vmax are read through the state format (``state_load``) and returned unchanged for SGD."""
    if conv.family is Family.ADAM:
        results = [adam_element_step(backend, consts, conv, p, gi, mi, loaded(vi, one, state_load),
                                     loaded(wi, one, state_load))
                   for p, gi, mi, vi, wi in zip(p_in, g, m_in, v, vmax)]
        v = [backend.store(_present(r.v), state_fmt) for r in results]
        vmax = [backend.store(_present(r.vmax), state_fmt) for r in results]
    else:
        results = [sgd_element_step(backend, consts, conv, p, gi, b, first_step=t == 1, nesterov=hyper.nesterov,
                                    has_momentum=hyper.momentum != 0) for p, gi, b in zip(p_in, g, m_in)]
    m = [backend.store(r.m, state_fmt) for r in results]
    return results, m, v, vmax


def _present(value: Tracked | None) -> Tracked:
    assert value is not None
    return value
