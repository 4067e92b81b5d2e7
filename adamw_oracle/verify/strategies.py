"""Hypothesis strategies for Adam/AdamW/SGD/SGDW cases, biased towards the values where real bugs lived.

Guarantees (for every strategy below):

* every configuration is valid for the shared contract and covers :func:`~adamw_oracle.contract.all_conventions`;
* hyperparameters are float64 values (exact as Python floats), so a framework taking Python floats
  sees exactly the hyperparameters the reference uses;
* initial parameters, gradients and seeded state are values of the case's dtype, so the
  implementation under test starts from exactly the numbers the reference starts from;
* values stay far enough from the dtype's overflow threshold that g*g cannot overflow;
* a drawn :class:`LabelledCase` prints as a readable one-paragraph description.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import (
    AmsGrad,
    Conventions,
    EpsPlacement,
    Family,
    WeightDecay,
    all_conventions,
)
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters, exact_str
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import OptimizerState
from adamw_oracle.errors import InvalidArgumentError

LEARNING_RATES = (0.0, 1e-10, 2.0**-30, 1e-6, 3e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)
BETA1S = (0.0, 0.5, 0.9, 0.99)
BETA2S = (0.95, 0.98, 0.999, 0.9999, 0.5, 0.0)
EPSILONS = (1e-8, 1e-6, 1e-16, 1e-12, 1e-3, 0.1, 1.0, 10.0)
LARGE_EPSILONS = (1.0, 2.0, 10.0)
WEIGHT_DECAYS = (0.0, 1e-4, 1e-2, 0.1, 0.5, 0.9)
MOMENTA = (0.0, 0.5, 0.9, 0.99)
DAMPENINGS = (0.0, 0.1, 0.5)
SIZES = (0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17)
LONG_RUN_LENGTHS = (257, 258, 300, 260, 2049)
SEEDED_STEPS = (255, 254, 252, 2047, 2046, 1000)
GRADIENT_PATTERNS = ("random", "constant", "sign_flip", "spike_then_small", "zeros", "near_eps", "huge")


@dataclass(frozen=True, eq=True, repr=False)
class LabelledCase(Case):
    """A :class:`Case` whose ``repr`` is a readable description (hypothesis prints it on failure)."""

    def __repr__(self) -> str:
        return describe_case(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis/IPython pretty-printer hook
        printer.text(describe_case(self))


def _short(x: Any) -> str:
    """A value as the shortest float literal when it is a float64 value, else its exact string."""
    if isinstance(x, Fraction):
        as_float = float(x)
        return repr(as_float) if Fraction(as_float) == x else exact_str(x)
    return repr(x)


def describe_case(case: Case, max_values: int = 6) -> str:
    """A readable description of a case: dtype, conventions, hyperparameters, inputs (truncated)."""
    run = case.run
    conv, h = run.config.conventions, run.config.hyper
    shown = ["lr"]
    if conv.family is Family.ADAM:
        shown += ["beta1", "beta2", "eps"] + (["eps_root"] if conv.eps_placement is EpsPlacement.INSIDE_ROOT else [])
    else:
        shown += ["momentum", "dampening", "nesterov"]
    if conv.weight_decay is not WeightDecay.NONE:
        shown.append("weight_decay")
    if h.schedule_multiplier != 1:
        shown.append("schedule_multiplier")
    hyper = ", ".join(f"{f}={_short(getattr(h, f))}" for f in shown)

    def vec(values: Sequence[Any]) -> str:
        shown = [_short(x) for x in values[:max_values]]
        return "[" + ", ".join(shown) + (", ..." if len(values) > max_values else "") + "]"

    st_ = run.initial_state
    assert st_ is not None
    lines = [
        f"Case({case.dtype.value}, {run.size} elements x {run.steps} steps from step {st_.step})",
        f"  conventions: {conv.describe()}",
        f"  hyper: {hyper}",
        f"  p0 = {vec(run.initial_params)}",
    ]
    if st_.step:
        lines.append(f"  state m = {vec(st_.m)}, v = {vec(st_.v)}, vmax = {vec(st_.vmax)}")
    for k, row in enumerate(run.gradients[:4]):
        lines.append(f"  g[{k + 1}] = {vec(row)}")
    if run.steps > 4:
        lines.append(f"  ... ({run.steps - 4} more steps; g[{run.steps}] = {vec(run.gradients[-1])})")
    return "\n".join(lines)


def convention_choices(conventions: Iterable[Conventions] | None = None) -> st.SearchStrategy[Conventions]:
    """Conventions drawn from ``conventions`` (default: every valid combination of the contract).

    The family is drawn first (Adam twice as often as SGD), so SGD's 16 combinations are not drowned
    by Adam's 288.
    """
    pool = list(conventions) if conventions is not None else all_conventions()
    if not pool:

        raise InvalidArgumentError("conventions", pool, "at least one Conventions value")
    adam = [c for c in pool if c.family is Family.ADAM]
    sgd = [c for c in pool if c.family is Family.SGD]
    if adam and sgd:
        return st.sampled_from((0, 0, 1)).flatmap(lambda f: st.sampled_from(sgd if f else adam))
    return st.sampled_from(pool)


def _float_choice(edges: Sequence[float], low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(edges), st.floats(low, high, allow_nan=False, allow_infinity=False))


@st.composite
def hyperparameters(draw: st.DrawFn, conventions: Conventions, schedules: bool = True) -> Hyperparameters:
    """Hyperparameters valid for ``conventions``: lr 0/tiny/large, wd 0/large lr*wd, beta2 0.95..0.9999,
    eps tiny or large relative to sqrt(v-hat), schedule multipliers (always for DECOUPLED_SCHEDULE,
    sometimes elsewhere unless ``schedules`` is False: frameworks take one learning rate, lr_t)."""
    lr = draw(_float_choice(LEARNING_RATES, 1e-6, 1.0))
    values: dict[str, Any] = {"lr": lr}
    if conventions.weight_decay is not WeightDecay.NONE:
        wd = draw(_float_choice(WEIGHT_DECAYS, 0.0, 1.0))
        if conventions.weight_decay is WeightDecay.DECOUPLED_LR and lr > 1:
            wd = min(wd, 1.0 / lr)
        values["weight_decay"] = wd
    if conventions.weight_decay is WeightDecay.DECOUPLED_SCHEDULE or (schedules and draw(st.integers(0, 9)) == 0):
        values["schedule_multiplier"] = draw(st.sampled_from((1.0, 0.5, 0.1, 1.0 / 3.0)))
    if conventions.family is Family.ADAM:
        values["beta1"] = draw(_float_choice(BETA1S, 0.0, 0.999))
        values["beta2"] = draw(_float_choice(BETA2S, 0.9, 0.99999))
        # eps >= 1 dominates sqrt(v-hat) for ordinary gradients: its own branch, so it is not rare
        values["eps"] = draw(st.one_of(_float_choice(EPSILONS, 1e-10, 1.0), st.sampled_from(LARGE_EPSILONS)))
        if conventions.eps_placement is EpsPlacement.INSIDE_ROOT:
            values["eps_root"] = draw(st.sampled_from((0.0, 1e-8, 1e-16, 1e-4)))
    else:
        values.update(beta1=0.9, beta2=0.999, eps=1e-8)  # unused by SGD; float64 values like the rest
        momentum = draw(_float_choice(MOMENTA, 0.0, 0.999))
        values["momentum"] = momentum
        values["dampening"] = draw(st.sampled_from(DAMPENINGS + (0.0,))) if momentum else 0.0
        values["nesterov"] = bool(momentum and values["dampening"] == 0 and draw(st.booleans()))
    return Hyperparameters(**values)


def configs(conventions: Iterable[Conventions] | None = None, schedules: bool = True) -> st.SearchStrategy[OptimizerConfig]:
    """Valid :class:`OptimizerConfig` over ``conventions`` (default: all of them)."""
    return convention_choices(conventions).flatmap(
        lambda conv: hyperparameters(conv, schedules).map(lambda h: OptimizerConfig(conv, h, name="fuzz"))
    )


def dtypes(allowed: Iterable[Dtype | str] | None = None) -> st.SearchStrategy[Dtype]:
    """float64, float32, float16, bfloat16 (or the ``allowed`` subset)."""
    pool = [Dtype.parse(d) for d in allowed] if allowed is not None else list(Dtype)
    return st.sampled_from(pool)


def sizes(max_size: int = 17) -> st.SearchStrategy[int]:
    """Element counts: 0 (zero-size), small, and sizes just below, at and above multiples of 8 and 16."""
    return st.sampled_from([s for s in SIZES if s <= max_size])


def huge_magnitude(dtype: Dtype) -> float:
    """The largest magnitude drawn for ``dtype``: 2**(emax//2 - 1), so g*g and v stay finite."""
    return 2.0 ** (dtype.format.emax // 2 - 1)


def in_dtype(value: float, dtype: Dtype) -> Fraction:
    """``value`` rounded to ``dtype`` (exact rational; values here never overflow)."""
    rounded = dtype.format.round(Fraction(value))
    assert isinstance(rounded, Fraction)
    return rounded


@st.composite
def magnitudes(draw: st.DrawFn, dtype: Dtype, eps: float = 1e-8) -> float:
    """One signed magnitude: exact zero, near eps, small, ordinary or huge."""
    kind = draw(st.sampled_from(("zero", "near_eps", "small", "ordinary", "ordinary", "huge")))
    sign = draw(st.sampled_from((1.0, -1.0)))
    if kind == "zero":
        return 0.0
    if kind == "near_eps":
        return sign * max(eps, 1e-30) * draw(st.sampled_from((0.1, 0.5, 1.0, 2.0, 10.0)))
    if kind == "small":
        return sign * draw(st.floats(1e-5, 1e-2))
    if kind == "huge":
        top = math.log2(huge_magnitude(dtype))
        return sign * 2.0 ** draw(st.floats(min(10.0, top - 1), top))
    return sign * draw(st.floats(1e-2, 10.0))


@st.composite
def gradient_sequences(draw: st.DrawFn, dtype: Dtype, size: int, steps: int, eps: float = 1e-8) -> tuple[tuple[Fraction, ...], ...]:
    """``steps`` gradient vectors of ``size`` values of ``dtype`` following one labelled pattern:
    random, constant, sign flips, one spike then small values, exact zeros, near eps, or huge."""
    pattern = draw(st.sampled_from(GRADIENT_PATTERNS))
    cheap = steps > 64  # long runs repeat one vector so drawing stays cheap
    base = [draw(magnitudes(dtype, eps)) for _ in range(size)]
    rows: list[list[float]] = []
    for k in range(steps):
        if pattern == "random" and not cheap:
            rows.append([draw(magnitudes(dtype, eps)) for _ in range(size)])
        elif pattern == "sign_flip":
            rows.append([x if k % 2 == 0 else -x for x in base])
        elif pattern == "spike_then_small":
            spike = [math.copysign(min(huge_magnitude(dtype) / 4, 1e3 * max(abs(x), 1e-3)), x) for x in base]
            rows.append(spike if k == 0 else [x * 1e-3 for x in base])
        elif pattern == "zeros":
            rows.append([0.0 if (k + i) % 2 else x for i, x in enumerate(base)])
        elif pattern == "near_eps":
            rows.append([math.copysign(eps * (1 + i % 3), x if x else 1.0) for i, x in enumerate(base)])
        elif pattern == "huge":
            rows.append([math.copysign(huge_magnitude(dtype) / 2 ** (i % 5), x if x else 1.0) for i, x in enumerate(base)])
        else:
            rows.append(base)
    return tuple(tuple(in_dtype(x, dtype) for x in row) for row in rows)


@st.composite
def parameter_vectors(draw: st.DrawFn, dtype: Dtype, size: int) -> tuple[Fraction, ...]:
    """Initial parameters of ``dtype``: zeros, small, ordinary (|p| <= 100)."""
    kinds = st.one_of(st.just(0.0), st.floats(-1.0, 1.0), st.floats(-100.0, 100.0), st.sampled_from((1.0, -2.0, 0.8)))
    return tuple(in_dtype(draw(kinds), dtype) for _ in range(size))


@st.composite
def seeded_states(draw: st.DrawFn, dtype: Dtype, size: int, conventions: Conventions) -> OptimizerState[tuple[Fraction, ...]]:
    """A state after many steps (just below 256 or 2048, where half-precision step counters saturate)."""
    step = draw(st.sampled_from(SEEDED_STEPS))
    m = tuple(in_dtype(draw(st.floats(-1.0, 1.0)), dtype) for _ in range(size))
    v = tuple(in_dtype(draw(st.floats(1e-6, 1.0)), dtype) for _ in range(size))
    vmax = v if conventions.amsgrad is not AmsGrad.OFF else tuple(Fraction(0) for _ in range(size))
    if conventions.family is Family.SGD:
        v = vmax = tuple(Fraction(0) for _ in range(size))
    return OptimizerState(step, m, v, vmax)


@st.composite
def cases(
    draw: st.DrawFn,
    conventions: Iterable[Conventions] | None = None,
    dtypes_: Iterable[Dtype | str] | None = None,
    *,
    max_size: int = 17,
    max_steps: int = 12,
    long_runs: bool = True,
    seeded: bool = True,
    schedules: bool = True,
) -> LabelledCase:
    """A complete :class:`LabelledCase`: config, dtype, initial parameters, state and gradients.

    Args:
        conventions: the conventions to draw from (default: every valid combination).
        dtypes_: the dtypes to draw from (default: all four).
        max_size: the largest element count (sizes from :data:`SIZES`).
        max_steps: the longest ordinary run; rare long runs (past 256 and 2048 steps, one or two
            elements) are added when ``long_runs``.
        seeded: sometimes start from a state just below step 256 or 2048.
        schedules: draw schedule multipliers other than 1 outside DECOUPLED_SCHEDULE (set False for
            frameworks that take a single learning rate).
    """
    config = draw(configs(conventions, schedules))
    conv = config.conventions
    dtype = draw(dtypes(dtypes_))
    size = draw(sizes(max_size))
    roll = draw(st.integers(0, 99))
    state = None
    if long_runs and roll < 2:
        steps = draw(st.sampled_from(LONG_RUN_LENGTHS))
        size = max(1, min(size, 2 if steps < 2048 else 1))  # a long run of no elements tests nothing
    else:
        steps = draw(st.integers(1, max_steps))
        if seeded and roll < 16:
            state = draw(seeded_states(dtype, size, conv))
    eps = float(config.hyper.eps) if conv.family is Family.ADAM else 1e-8
    params = draw(parameter_vectors(dtype, size))
    grads = draw(gradient_sequences(dtype, size, steps, eps))
    run = Run(config, params, grads, state, name="fuzz")
    return LabelledCase(run, dtype)
