"""Cases for checking one target: the public strategies, restricted to what the target can be asked.

The checker draws from :func:`adamw_oracle.strategies.cases` with the expected convention (plus its
AMSGrad and maximize variants when the target has those switches), in one dtype, without seeded states
(a framework optimizer starts fresh) and without the rare long runs (framework steps are slow). Each
drawn case is then fitted to the target's interface:

* ``schedule_multiplier`` becomes 1: frameworks take one learning rate, which is lr_t;
* ``eps_root`` becomes 0 when the target has no such option;
* ``weight_decay`` becomes 0 when the target has no such option.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from adamw_oracle.check.expected import ExpectedConvention
from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions, WeightDecay
from adamw_oracle.contract.dtypes import Dtype


def target_conventions(expected: ExpectedConvention, capabilities: frozenset[Capability]) -> list[Conventions]:
    """The expected conventions with every switch combination the target offers."""
    out = []
    ams = [False, True] if Capability.AMSGRAD in capabilities and expected.amsgrad_form is not None else [False]
    mx = [False, True] if Capability.MAXIMIZE in capabilities else [False]
    for a in ams:
        for m in mx:
            conv = expected.conventions_for(amsgrad=a, maximize=m)
            if Capability.WEIGHT_DECAY not in capabilities and conv.weight_decay is not WeightDecay.NONE:
                conv = conv.replace(weight_decay=WeightDecay.NONE, decay_target="previous_param")
            out.append(conv)
    return out


def fit_to_target(case: Case, capabilities: frozenset[Capability]) -> Case:
    """``case`` with the hyperparameters the target cannot take reset (see the module docstring)."""
    config = case.run.config
    changes: dict[str, Any] = {}
    if config.hyper.schedule_multiplier != 1:
        changes["schedule_multiplier"] = 1
    if Capability.EPS_ROOT not in capabilities and config.hyper.eps_root != 0:
        changes["eps_root"] = 0
    if Capability.WEIGHT_DECAY not in capabilities and config.hyper.weight_decay != 0:
        changes["weight_decay"] = 0
    if not changes:
        return case
    new_config = OptimizerConfig(config.conventions, config.hyper.replace(**changes), config.name)
    return type(case)(case.run.replace(config=new_config), case.dtype)


def target_cases(expected: ExpectedConvention, dtype: Dtype, capabilities: frozenset[Capability], *,
                 max_size: int = 8, max_steps: int = 6) -> st.SearchStrategy[Case]:
    """Cases for a target with ``capabilities`` expected to implement ``expected``, in ``dtype``."""
    from adamw_oracle.verify.strategies import cases  # heavy or optional

    return cases(target_conventions(expected, capabilities), [dtype], max_size=max_size, max_steps=max_steps,
                 long_runs=False, seeded=False).map(lambda c: fit_to_target(c, capabilities))
