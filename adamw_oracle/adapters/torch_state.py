"""Handing a seeded state to a torch optimizer (``Capability.SEEDED_STATE``) through ``load_state_dict``.

A case's :class:`~adamw_oracle.contract.state.OptimizerState` (``step`` steps taken, m, v, vmax) becomes
the one parameter's entry of ``optimizer.state_dict()["state"]``: ``step`` (a float32 tensor, as torch
keeps it), ``exp_avg`` = m, ``exp_avg_sq`` = v and, with AMSGrad, ``max_exp_avg_sq`` = vmax (Adam
family); ``momentum_buffer`` = m (SGD with momentum). ``load_state_dict`` casts the moments to the
parameter's dtype and device exactly as it does when a checkpoint is resumed; the values are values of
the case's dtype, so nothing is rounded.
"""
from __future__ import annotations

from typing import Any

from adamw_oracle.adapters.base import is_seeded
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import AmsGrad, Family


def load_seeded_state(opt: Any, p: Any, case: Case) -> None:
    """Load ``case``'s initial state into ``opt`` (one parameter ``p``); nothing for the zero state.

    Raises:
        ValueError: the state's length is not ``p``'s element count (e.g. a tile of a larger case).
    """
    if not is_seeded(case):
        return
    import torch  # optional dependency (torch), imported only when used

    st = case.run.initial_state
    assert st is not None
    if len(st.m) != p.numel():
        raise ValueError(f"a seeded state of {len(st.m)} elements for a parameter of {p.numel()}")

    def tensor(values: Any) -> Any:
        return torch.tensor([float(x) for x in values], dtype=torch.float64).to(dtype=p.dtype).reshape(p.shape)

    conv = case.run.config.conventions
    entry: dict[str, Any]
    if conv.family is Family.SGD:
        if float(case.run.config.hyper.momentum) == 0:
            return
        entry = {"momentum_buffer": tensor(st.m)}
    else:
        entry = {"step": torch.tensor(float(st.step), dtype=torch.float32), "exp_avg": tensor(st.m),
                 "exp_avg_sq": tensor(st.v)}
        if conv.amsgrad is not AmsGrad.OFF:
            entry["max_exp_avg_sq"] = tensor(st.vmax)
    saved = opt.state_dict()
    saved["state"] = {0: entry}
    opt.load_state_dict(saved)
