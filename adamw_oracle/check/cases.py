"""Cases for checking one target: the public strategies, restricted to what the target can be asked.

The checker draws from :func:`adamw_oracle.strategies.cases` with the expected convention (plus its
AMSGrad and maximize variants when the target has those switches), in one dtype, over the case space of
:data:`CHECK_SPACE`:

* sizes around vector widths (1, 7-9, 15-17, ..., 127-129 up to ``max_size``), an empty tensor rarely,
  and in :data:`ARRAY_PERCENT` % of the cases an array-mode tensor of 65,535-65,537 elements (a
  multi-tensor chunk is 65,536; 2**20 +- 1 too with ``large_sizes``) over 1-3 steps;
* for a target that accepts a seeded state (``Capability.SEEDED_STATE``, e.g. torch through
  ``load_state_dict``), :data:`SEEDED_PERCENT` % of the cases start from a reachable state just before
  step 2**8, 2**11, 2**16, 2**24, 2**31 or 10**12 and cross it; for any other target
  :data:`LONG_RUN_PERCENT` % are genuinely long runs (260 to 2,060 steps); both with beta2 close to 1;
* every gradient pattern, including those that exercise one convention each (v rising then falling,
  eps dominating sqrt(v-hat), tiny/subnormal/all-zero gradients);
* for the AMSGrad variant, :data:`AMSGRAD_FALL_PERCENT` % of its ordinary cases (neither seeded nor
  tensor-sized) are the AMSGrad fall family (:func:`~adamw_oracle.verify.strategies.amsgrad_fall_gradients`):
  a spike then quiet gradients with beta2 well below 1, so that within one run v rises above its
  running maximum and then falls far below it (the only way a maximum that is not stored, is taken over
  v-hat, or is ignored changes the parameters);
* the user's restrictions (:class:`~adamw_oracle.check.space.CaseSpace`; ``ordinary_only`` leaves out
  the seeded states, long runs and tensor-sized cases).

Each drawn case is then fitted to the target's interface:

* ``schedule_multiplier`` becomes 1: frameworks take one learning rate, which is lr_t;
* ``eps_root`` becomes 0 when the target has no such option;
* ``weight_decay`` becomes 0 when the target has no such option;
* ``dampening`` becomes 0 when the target has no such option (optax.sgd, Keras SGD).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from adamw_oracle.check.expected import ExpectedConvention
from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions, WeightDecay
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError

if TYPE_CHECKING:
    from adamw_oracle.check.space import CaseSpace

SEEDED_PERCENT = 40
"""Share of the cases that start from a seeded state, for a target with ``Capability.SEEDED_STATE``."""
LONG_RUN_PERCENT = 6
"""Share of the cases that are long runs, for a target without ``Capability.SEEDED_STATE``."""
ARRAY_PERCENT = 20
"""Share of the cases that are tensor-sized (array-mode) runs."""
AMSGRAD_FALL_PERCENT = 50
"""Share of the ordinary AMSGrad cases drawn from the AMSGrad fall family (v rises, then falls far)."""


def target_conventions(expected: ExpectedConvention, capabilities: frozenset[Capability],
                       space: CaseSpace | None = None) -> list[Conventions]:
    """The expected conventions with every switch combination the target offers (and ``space`` allows).

    Raises:
        InvalidArgumentError: ``space`` asks for maximize or AMSGrad only, and the target has no such switch.
    """
    out = []
    ams = [False, True] if Capability.AMSGRAD in capabilities and expected.amsgrad_form is not None else [False]
    mx = [False, True] if Capability.MAXIMIZE in capabilities else [False]
    if space is not None:
        for name, values in (("amsgrad", ams), ("maximize", mx)):
            wanted = getattr(space, name)
            if wanted is True and True not in values:
                raise InvalidArgumentError(name, "only", f"off or both: the target has no {name} switch")
        ams = [a for a in ams if space.amsgrad is None or a == space.amsgrad]
        mx = [m for m in mx if space.maximize is None or m == space.maximize]
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
    if Capability.DAMPENING not in capabilities and config.hyper.dampening != 0:
        changes["dampening"] = 0
    if not changes:
        return case
    new_config = OptimizerConfig(config.conventions, config.hyper.replace(**changes), config.name)
    return type(case)(case.run.replace(config=new_config), case.dtype)


def target_cases(expected: ExpectedConvention, dtype: Dtype, capabilities: frozenset[Capability], *,
                 max_size: int = 129, max_steps: int = 6, space: CaseSpace | None = None,
                 large_sizes: bool = False, tensor_cases: bool = True) -> st.SearchStrategy[Case]:
    """Cases for a target with ``capabilities`` expected to implement ``expected``, in ``dtype``
    (see the module docstring); ``space`` restricts them. ``tensor_cases=False`` (a target that says
    ``tensor_cases = False``, e.g. a subprocess reading JSON) draws no tensor-sized cases."""
    from adamw_oracle.verify.strategies import CHECK_LONG_RUN_LENGTHS, CHECK_PATTERNS, cases  # heavy or optional

    seeded = Capability.SEEDED_STATE in capabilities
    bounds = space.bounds(dtype) if space is not None else None
    ordinary = space is not None and space.ordinary_only
    if ordinary:
        tensor_cases = False
    return cases(target_conventions(expected, capabilities, space), [dtype], max_size=max_size, max_steps=max_steps,
                 long_runs=not seeded and not ordinary, seeded=seeded and not ordinary, long_run_lengths=CHECK_LONG_RUN_LENGTHS, seeded_steps=(),
                 long_run_percent=LONG_RUN_PERCENT, seeded_percent=SEEDED_PERCENT, array_percent=ARRAY_PERCENT if tensor_cases else 0,
                 large_sizes=large_sizes, patterns=CHECK_PATTERNS, bounds=bounds,
                 amsgrad_fall_percent=AMSGRAD_FALL_PERCENT,
                 ).map(lambda c: fit_to_target(c, capabilities))


def tensor_sized_cases(expected: ExpectedConvention, dtype: Dtype, capabilities: frozenset[Capability], *,
                       space: CaseSpace | None = None, large_sizes: bool = False) -> st.SearchStrategy[Case]:
    """Only the tensor-sized cases of :func:`target_cases` (65,535-65,537 elements, 1-3 steps; 2**20 +- 1
    with ``large_sizes``): ``check_target`` draws its :data:`ARRAY_PERCENT` % share of them after the exact
    cases and reports a failing one as drawn."""
    from adamw_oracle.verify.strategies import cases  # heavy or optional

    bounds = space.bounds(dtype) if space is not None else None
    return cases(target_conventions(expected, capabilities, space), [dtype], long_runs=False, seeded=False,
                 array_percent=100, large_sizes=large_sizes, bounds=bounds,
                 ).map(lambda c: fit_to_target(c, capabilities))
