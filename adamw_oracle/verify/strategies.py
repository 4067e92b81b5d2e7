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

import dataclasses
import enum
import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

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
from adamw_oracle.verify.rounding import round_value, round_values

LEARNING_RATES = (0.0, 1e-10, 2.0**-30, 1e-6, 3e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)
BETA1S = (0.0, 0.5, 0.9, 0.99)
BETA2S = (0.95, 0.98, 0.999, 0.9999, 0.5, 0.0)
EPSILONS = (1e-8, 1e-6, 1e-16, 1e-12, 1e-3, 0.1, 1.0, 10.0)
LARGE_EPSILONS = (1.0, 2.0, 10.0)
WEIGHT_DECAYS = (0.0, 1e-4, 1e-2, 0.1, 0.5, 0.9)
MOMENTA = (0.0, 0.5, 0.9, 0.99)
DAMPENINGS = (0.0, 0.1, 0.5)
SIZES = (0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129)
"""Element counts drawn as exact tuples: around the vector widths of real kernels (8, 16, 32, 64, 128
lanes); :func:`sizes` keeps those up to ``max_size`` and draws 0 (an empty tensor) rarely."""
ARRAY_SIZES = (65_535, 65_536, 65_537)
"""Tensor sizes around multi-tensor chunk boundaries (65,536 elements per chunk), drawn as array-mode runs."""
LARGE_ARRAY_SIZES = (1_048_575, 1_048_576, 1_048_577)
"""Larger sizes (a launch grid's capacity, 2**20 elements), drawn only with ``large_sizes``."""
LONG_RUN_LENGTHS = (257, 258, 300, 260, 2049)
"""Run lengths of the rare long runs of the three-way fuzz."""
CHECK_LONG_RUN_LENGTHS = (260, 300, 1000, 1200, 2050, 2060)
"""Genuinely long runs (past 256 and 2048 steps, where half-precision step counters saturate) for targets
that cannot be handed a seeded state."""
SEEDED_STEPS = (255, 254, 252, 2047, 2046, 1000)
"""Step counts of the fuzz's seeded states (just below 256 and 2048)."""
SEEDED_STEP_BOUNDARIES = (2**8, 2**11, 2**16, 2**24, 2**31, 10**12)
"""Step counts where real step-counter bugs live: bfloat16 stalls at 256, float16 at 2048, a 16-bit
integer wraps at 65,536, float32 stalls at 2**24, an int32 wraps at 2**31; at 10**12 beta**t underflows."""
NEAR_ONE_BETA2S = (0.999, 0.9999, 0.99999, 0.999999)
"""beta2 drawn together with long runs and seeded states: close to 1, the bias correction still moves at
large t, so a frozen or wrapped step counter changes the update."""
GRADIENT_PATTERNS = ("random", "constant", "sign_flip", "spike_then_small", "zeros", "near_eps", "huge")
"""The fuzz's gradient patterns."""
CONVENTION_PATTERNS = ("rise_then_fall", "eps_dominated", "tiny", "subnormal", "all_zero")
"""Patterns that exercise one convention each: v rising then falling (AMSGrad's maximum), gradients far
below eps (eps dominates sqrt(v-hat)), tiny and subnormal gradients (underflow in g*g), all-zero gradients
(weight decay alone moves the parameter)."""
CHECK_PATTERNS = GRADIENT_PATTERNS + CONVENTION_PATTERNS + ("rise_then_fall", "spike_then_small")
"""Every pattern, those that make v fall twice as often (AMSGrad's maximum only matters then); what
``check`` draws from."""
AMSGRAD_FALL_BETA2S = (0.0, 0.5, 0.8, 0.9)
"""beta2 of the AMSGrad fall family (:func:`amsgrad_fall_gradients`): v falls by at most a factor beta2 per
step, so over a few steps only a beta2 well below 1 lets it fall far below its maximum."""
AMSGRAD_FALL_LRS = (1e-3, 1e-2, 0.1)
"""Learning rates of the AMSGrad fall family: large enough that a wrong denominator moves the parameters
by more than their rounding (with beta2 = 0.5 a wrong maximum changes the update by tens of percent)."""


F = TypeVar("F", bound=Callable[..., Any])
REUSED_STRATEGIES = 512
"""Strategies kept per factory by :func:`reused` (the least recently used one is dropped past this)."""


def _frozen(value: Any) -> Any:
    """A hashable key for a factory argument: values of immutable types as themselves (with their type),
    lists and tuples by content, mappings by sorted items. Anything else raises TypeError (then the
    strategy is built afresh rather than keyed by an object's identity)."""
    if value is None or isinstance(value, (bool, int, float, str, Fraction, enum.Enum)):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_frozen(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((_frozen(k), _frozen(v)) for k, v in value.items())))
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return (type(value), value)
    raise TypeError(f"not reusable: {type(value).__name__}")


def reused(factory: F) -> F:
    """``factory`` (a function that builds a hypothesis strategy) building each strategy once per distinct
    arguments and handing out the same object afterwards.

    A strategy object is immutable once built; drawing from the same object or from a fresh, equal one
    makes the same choices with the same labels, so reuse changes no drawn case. What it saves is the
    per-draw construction and validation of strategies (``magnitudes`` is drawn once per element).
    Arguments of other types (e.g. a generator) build afresh each call."""
    cache: OrderedDict[Any, Any] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> Any:
        try:
            key = (_frozen(args), _frozen(sorted(kwargs.items())))
        except TypeError:
            return factory(*args, **kwargs)
        with lock:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                return hit
        strategy = factory(*args, **kwargs)
        with lock:
            cache[key] = strategy
            if len(cache) > REUSED_STRATEGIES:
                cache.popitem(last=False)
        return strategy

    return build  # type: ignore[return-value]


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


@reused
def convention_choices(conventions: Iterable[Conventions] | None = None) -> st.SearchStrategy[Conventions]:
    """Conventions drawn from ``conventions`` (default: every valid combination of the contract).

    The family is drawn first (Adam twice as often as SGD), so SGD's 16 combinations are not drowned
    by Adam's 288.
    """
    pool = list(conventions) if conventions is not None else all_conventions()
    if not pool:

        raise InvalidArgumentError("conventions", pool, "at least one Conventions value")
    adam = tuple(c for c in pool if c.family is Family.ADAM)
    sgd = tuple(c for c in pool if c.family is Family.SGD)
    if adam and sgd:
        return st.sampled_from((0, 0, 1)).flatmap(lambda f: st.sampled_from(sgd if f else adam))
    return st.sampled_from(pool)


Bounds = Mapping[str, tuple[float, float]]
"""Closed ranges ``{name: (low, high)}`` a drawn hyperparameter must lie in (see :data:`BOUNDED`)."""
BOUNDED = ("lr", "weight_decay", "beta1", "beta2", "eps", "momentum")
"""The hyperparameters a range can restrict."""


@reused
def _float_choice(edges: Sequence[float], low: float, high: float, bound: tuple[float, float] | None = None) -> st.SearchStrategy[float]:
    """One of ``edges`` or a float in [low, high]; with ``bound`` = (lo, hi), only values in [lo, hi]."""
    if bound is not None:
        lo, hi = bound
        edges = [e for e in edges if lo <= e <= hi]
        low, high = max(low, lo), min(high, hi)
        if low > high:
            low, high = lo, hi
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(edges), floats) if edges else floats


@reused
@st.composite
def hyperparameters(draw: st.DrawFn, conventions: Conventions, schedules: bool = True, *,
                    bounds: Bounds | None = None, beta2_near_one: bool = False) -> Hyperparameters:
    """Hyperparameters valid for ``conventions``: lr 0/tiny/large, wd 0/large lr*wd, beta2 0.95..0.9999,
    eps tiny or large relative to sqrt(v-hat), schedule multipliers (always for DECOUPLED_SCHEDULE,
    sometimes elsewhere unless ``schedules`` is False: frameworks take one learning rate, lr_t).

    ``bounds`` restricts the hyperparameters of :data:`BOUNDED` to closed ranges; ``beta2_near_one``
    draws beta2 from :data:`NEAR_ONE_BETA2S` (long runs and seeded states)."""
    b = dict(bounds or {})
    lr = draw(_float_choice(LEARNING_RATES, 1e-6, 1.0, b.get("lr")))
    values: dict[str, Any] = {"lr": lr}
    if conventions.weight_decay is not WeightDecay.NONE:
        wd = draw(_float_choice(WEIGHT_DECAYS, 0.0, 1.0, b.get("weight_decay")))
        if conventions.weight_decay is WeightDecay.DECOUPLED_LR and lr > 1:
            wd = min(wd, 1.0 / lr)
        values["weight_decay"] = wd
    if conventions.weight_decay is WeightDecay.DECOUPLED_SCHEDULE or (schedules and draw(st.integers(0, 9)) == 0):
        values["schedule_multiplier"] = draw(st.sampled_from((1.0, 0.5, 0.1, 1.0 / 3.0)))
    if conventions.family is Family.ADAM:
        values["beta1"] = draw(_float_choice(BETA1S, 0.0, 0.999, b.get("beta1")))
        near = [x for x in NEAR_ONE_BETA2S if "beta2" not in b or b["beta2"][0] <= x <= b["beta2"][1]]
        if beta2_near_one and near:
            values["beta2"] = draw(st.sampled_from(near))
        else:
            values["beta2"] = draw(_float_choice(BETA2S, 0.9, 0.99999, b.get("beta2")))
        # eps >= 1 dominates sqrt(v-hat) for ordinary gradients: its own branch, so it is not rare
        if "eps" in b:
            values["eps"] = draw(_float_choice(EPSILONS + LARGE_EPSILONS, 1e-10, 10.0, b["eps"]))
        else:
            values["eps"] = draw(st.one_of(_float_choice(EPSILONS, 1e-10, 1.0), st.sampled_from(LARGE_EPSILONS)))
        if conventions.eps_placement is EpsPlacement.INSIDE_ROOT:
            values["eps_root"] = draw(st.sampled_from((0.0, 1e-8, 1e-16, 1e-4)))
    else:
        values.update(beta1=0.9, beta2=0.999, eps=1e-8)  # unused by SGD; float64 values like the rest
        momentum = draw(_float_choice(MOMENTA, 0.0, 0.999, b.get("momentum")))
        values["momentum"] = momentum
        values["dampening"] = draw(st.sampled_from(DAMPENINGS + (0.0,))) if momentum else 0.0
        values["nesterov"] = bool(momentum and values["dampening"] == 0 and draw(st.booleans()))
    return Hyperparameters(**values)


@reused
def configs(conventions: Iterable[Conventions] | None = None, schedules: bool = True, *,
            bounds: Bounds | None = None, beta2_near_one: bool = False) -> st.SearchStrategy[OptimizerConfig]:
    """Valid :class:`OptimizerConfig` over ``conventions`` (default: all of them)."""
    return convention_choices(conventions).flatmap(
        lambda conv: _configs_of(conv, schedules, bounds=bounds, beta2_near_one=beta2_near_one))


@reused
def _configs_of(conv: Conventions, schedules: bool, *, bounds: Bounds | None,
                beta2_near_one: bool) -> st.SearchStrategy[OptimizerConfig]:
    return hyperparameters(conv, schedules, bounds=bounds, beta2_near_one=beta2_near_one).map(
        lambda h: OptimizerConfig(conv, h, name="fuzz"))


@reused
def dtypes(allowed: Iterable[Dtype | str] | None = None) -> st.SearchStrategy[Dtype]:
    """float64, float32, float16, bfloat16 (or the ``allowed`` subset)."""
    pool = [Dtype.parse(d) for d in allowed] if allowed is not None else list(Dtype)
    return st.sampled_from(pool)


@reused
def sizes(max_size: int = 17) -> st.SearchStrategy[int]:
    """Element counts of :data:`SIZES` up to ``max_size``: small ones, and sizes just below, at and above
    multiples of 8, 16, 32, 64 and 128; 0 (an empty tensor) about once in 50 draws."""
    pool = [s for s in SIZES if 0 < s <= max_size]
    if not pool:
        return st.just(0)
    return st.integers(0, 49).flatmap(lambda k: st.just(0) if k == 0 else st.sampled_from(pool))


def huge_magnitude(dtype: Dtype) -> float:
    """The largest magnitude drawn for ``dtype``: 2**(emax//2 - 1), so g*g and v stay finite."""
    return 2.0 ** (dtype.format.emax // 2 - 1)


def in_dtype(value: float, dtype: Dtype) -> Fraction:
    """``value`` rounded to ``dtype`` (exact rational; values here never overflow)."""
    rounded = round_value(value, dtype)  # FloatFormat.round(Fraction(value)), on the float (verify.rounding)
    assert isinstance(rounded, Fraction)
    return rounded


def all_in_dtype(values: Sequence[float], dtype: Dtype) -> tuple[Fraction, ...]:
    """Each of ``values`` rounded to ``dtype``: ``tuple(in_dtype(x, dtype) for x in values)``, on an array."""
    rounded = round_values(values, dtype)
    assert all(isinstance(x, Fraction) for x in rounded)
    return rounded  # type: ignore[return-value]


_MAGNITUDE_KINDS = st.sampled_from(("zero", "near_eps", "small", "ordinary", "ordinary", "huge"))
_SIGNS = st.sampled_from((1.0, -1.0))
_NEAR_EPS_FACTORS = st.sampled_from((0.1, 0.5, 1.0, 2.0, 10.0))
_SMALL = st.floats(1e-5, 1e-2)
_ORDINARY = st.floats(1e-2, 10.0)


@functools.cache
def _huge_exponents(dtype: Dtype) -> st.SearchStrategy[float]:
    top = math.log2(huge_magnitude(dtype))
    return st.floats(min(10.0, top - 1), top)


@reused
@st.composite
def magnitudes(draw: st.DrawFn, dtype: Dtype, eps: float = 1e-8) -> float:
    """One signed magnitude: exact zero, near eps, small, ordinary or huge."""
    kind = draw(_MAGNITUDE_KINDS)
    sign = draw(_SIGNS)
    if kind == "zero":
        return 0.0
    if kind == "near_eps":
        return sign * max(eps, 1e-30) * draw(_NEAR_EPS_FACTORS)
    if kind == "small":
        return sign * draw(_SMALL)
    if kind == "huge":
        return sign * 2.0 ** draw(_huge_exponents(dtype))
    return sign * draw(_ORDINARY)


@functools.cache
def _pattern_scales(dtype: Dtype) -> tuple[float, float, float, float]:
    """(smallest normal, smallest subnormal, huge magnitude, huge / 4) of ``dtype`` as floats."""
    fmt = dtype.format
    huge = huge_magnitude(dtype)
    return float(fmt.smallest_normal), float(fmt.smallest_subnormal), huge, huge / 4


@reused
@st.composite
def gradient_sequences(draw: st.DrawFn, dtype: Dtype, size: int, steps: int, eps: float = 1e-8,
                       patterns: Sequence[str] = GRADIENT_PATTERNS) -> tuple[tuple[Fraction, ...], ...]:
    """``steps`` gradient vectors of ``size`` values of ``dtype`` following one labelled pattern of
    ``patterns``: random, constant, sign flips, one spike then small values, exact zeros, near eps, huge
    (:data:`GRADIENT_PATTERNS`), or one of :data:`CONVENTION_PATTERNS`."""
    pattern = draw(st.sampled_from(tuple(patterns)))
    cheap = steps > 64  # long runs repeat one vector so drawing stays cheap
    element = magnitudes(dtype, eps)
    base = [draw(element) for _ in range(size)]
    tiny, sub, huge, top = _pattern_scales(dtype)
    rows: list[list[float]] = []
    for k in range(steps):
        if pattern == "random" and not cheap:
            rows.append([draw(element) for _ in range(size)])
        elif pattern == "sign_flip":
            rows.append([x if k % 2 == 0 else -x for x in base])
        elif pattern == "spike_then_small":
            spike = [math.copysign(min(top, 1e3 * max(abs(x), 1e-3)), x) for x in base]
            rows.append(spike if k == 0 else [x * 1e-3 for x in base])
        elif pattern == "zeros":
            rows.append([0.0 if (k + i) % 2 else x for i, x in enumerate(base)])
        elif pattern == "near_eps":
            rows.append([math.copysign(eps * (1 + i % 3), x if x else 1.0) for i, x in enumerate(base)])
        elif pattern == "huge":
            rows.append([math.copysign(huge / 2 ** (i % 5), x if x else 1.0) for i, x in enumerate(base)])
        elif pattern == "rise_then_fall":
            # v rises over the first half and falls after it: AMSGrad's maximum then differs from v
            rising = k < (steps + 1) // 2
            rows.append([math.copysign(min(top, max(abs(x), 1e-2) * (4.0 ** min(k, 8) if rising else 1e-3)), x if x else 1.0)
                         for x in base])
        elif pattern == "eps_dominated":
            rows.append([math.copysign(max(eps, 1e-30) * 1e-3 * (1 + (i + k) % 4), x if x else 1.0) for i, x in enumerate(base)])
        elif pattern == "tiny":
            rows.append([math.copysign(tiny * (1 + (i + k) % 8), x if x else 1.0) for i, x in enumerate(base)])
        elif pattern == "subnormal":
            rows.append([0.0 if (i + k) % 3 == 2 else math.copysign(sub * (1 + (i + k) % 5), x if x else 1.0)
                         for i, x in enumerate(base)])
        elif pattern == "all_zero":
            rows.append([0.0] * size)
        else:
            rows.append(base)
    flat = all_in_dtype([x for row in rows for x in row], dtype)
    return tuple(flat[k * size:(k + 1) * size] for k in range(steps))


_PARAMETER_KINDS = st.one_of(st.just(0.0), st.floats(-1.0, 1.0), st.floats(-100.0, 100.0), st.sampled_from((1.0, -2.0, 0.8)))
_UNIT = st.floats(-1.0, 1.0)
_SECOND_MOMENTS = st.floats(1e-6, 1.0)


@st.composite
def amsgrad_fall_gradients(draw: st.DrawFn, dtype: Dtype, size: int, steps: int,
                           eps: float = 1e-8) -> tuple[tuple[Fraction, ...], ...]:
    """``steps`` gradient vectors that make v rise above any earlier maximum and then fall below it:
    a spike (the first one or two steps) of magnitude at least 100*eps, then quiet steps 10 to 100 times
    smaller (never zero, so m keeps moving the parameters). With a beta2 well below 1 v then falls far
    below its running maximum within the run, the only situation in which AMSGrad's maximum changes the
    update (and a maximum not stored, taken over v-hat, or ignored shows)."""
    rise = draw(st.sampled_from((1, 1, 2))) if steps > 2 else 1
    quiet = draw(st.sampled_from((0.1, 0.03, 0.01)))
    top = huge_magnitude(dtype) / 4
    spikes = []
    for _ in range(size):
        magnitude = max(draw(st.floats(1.0, 10.0)) * 100.0 * max(eps, 1e-2), 1.0)
        spikes.append(draw(st.sampled_from((1.0, -1.0))) * min(top, magnitude))
    flat = all_in_dtype([x if k < rise else x * quiet * (1 + (i + k) % 3) / 3
                         for k in range(steps) for i, x in enumerate(spikes)], dtype)
    return tuple(flat[k * size:(k + 1) * size] for k in range(steps))


@st.composite
def parameter_vectors(draw: st.DrawFn, dtype: Dtype, size: int) -> tuple[Fraction, ...]:
    """Initial parameters of ``dtype``: zeros, small, ordinary (|p| <= 100)."""
    return all_in_dtype([draw(_PARAMETER_KINDS) for _ in range(size)], dtype)


@st.composite
def seeded_states(draw: st.DrawFn, dtype: Dtype, size: int, conventions: Conventions,
                  hyper: Hyperparameters | None = None, steps: Sequence[int] = SEEDED_STEPS) -> OptimizerState[tuple[Fraction, ...]]:
    """A state after many steps: one of ``steps`` (default just below 256 or 2048, where half-precision
    step counters saturate). With ``hyper`` the state is reachable (:func:`~adamw_oracle.verify.reachable.
    reachable_state`: a two-phase gradient history, often large then small so that v is falling);
    without, m and v are drawn independently (the fuzz's historical form)."""
    step = draw(st.sampled_from(tuple(steps)))
    if hyper is not None:
        from adamw_oracle.verify.reachable import reachable_state  # a sibling module, loaded only when seeding

        early = [draw(_UNIT) for _ in range(size)]
        scale = draw(st.sampled_from((1e-3, 0.1, 1.0, 10.0)))
        late = [x * scale * draw(st.sampled_from((1.0, -1.0, 0.5))) for x in early]
        # the late phase in units of v's memory 1/(1 - beta2): from a step ago to 3 memories (v down to 5%)
        memory = 1.0 / max(1.0 - float(hyper.beta2), 1e-12) if conventions.family is Family.ADAM else 10.0
        recent = min(step, int(draw(st.sampled_from((0.0, 1.0, 3.0, 0.3 * memory, memory, 3.0 * memory)))))
        return reachable_state(conventions, hyper, dtype, step, recent, early, late)
    m = all_in_dtype([draw(_UNIT) for _ in range(size)], dtype)
    v = all_in_dtype([draw(_SECOND_MOMENTS) for _ in range(size)], dtype)
    vmax = v if conventions.amsgrad is not AmsGrad.OFF else tuple(Fraction(0) for _ in range(size))
    if conventions.family is Family.SGD:
        v = vmax = tuple(Fraction(0) for _ in range(size))
    return OptimizerState(step, m, v, vmax)


@reused
@st.composite
def boundary_steps(draw: st.DrawFn) -> tuple[int, int]:
    """(start step, run length) that starts just before one of :data:`SEEDED_STEP_BOUNDARIES` and often
    crosses it: the start is the boundary minus 0..4, the run 1..8 steps."""
    boundary = draw(st.sampled_from(SEEDED_STEP_BOUNDARIES))
    start = boundary - draw(st.integers(0, 4))
    return start, draw(st.integers(1, 8))


def array_case(config: OptimizerConfig, dtype: Dtype, size: int, steps: int, seed: int, pattern: str) -> LabelledCase:
    """A tensor-sized (array-mode) case: parameters ~ N(0, 1) and gradients ~ N(0, 1) times 10**U(-4, 1)
    per element, from a numpy generator seeded with ``seed``; ``pattern`` ``all_zero`` or ``sign_flip``
    reshapes the gradients like the exact patterns."""
    import numpy as np  # numpy is a core dependency; imported here to keep module import light

    from adamw_oracle.verify.numpy_impl import NUMPY_DTYPES  # sibling module (numpy dtypes of the formats)

    rng = np.random.default_rng(seed)
    store = NUMPY_DTYPES[dtype]
    params = rng.standard_normal(size).astype(store).astype(np.float64)
    grads = rng.standard_normal((steps, size)) * 10.0 ** rng.uniform(-4.0, 1.0, size)
    if pattern == "all_zero":
        grads[:] = 0.0
    elif pattern == "sign_flip":
        grads[1::2] = -grads[0]
        grads[0::2] = grads[0]
    grads = grads.astype(store).astype(np.float64)
    return LabelledCase(Run.from_arrays(config, params, grads, name=f"array {size}x{steps} seed {seed}"), dtype)


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
    long_run_lengths: Sequence[int] = LONG_RUN_LENGTHS,
    seeded_steps: Sequence[int] | None = None,
    long_run_percent: int = 2,
    seeded_percent: int = 14,
    array_percent: int = 0,
    large_sizes: bool = False,
    patterns: Sequence[str] = GRADIENT_PATTERNS,
    bounds: Bounds | None = None,
    amsgrad_fall_percent: int = 0,
) -> LabelledCase:
    """A complete :class:`LabelledCase`: config, dtype, initial parameters, state and gradients.

    Args:
        conventions: the conventions to draw from (default: every valid combination).
        dtypes_: the dtypes to draw from (default: all four).
        max_size: the largest element count of an exact case (sizes from :data:`SIZES`).
        max_steps: the longest ordinary run; rare long runs (``long_run_lengths``, one or two elements)
            are added when ``long_runs``, in ``long_run_percent`` of the cases.
        seeded: in ``seeded_percent`` of the cases, start from a state after many steps (see
            ``seeded_steps``).
        seeded_steps: None (default) draws the fuzz's historical seeded states (:data:`SEEDED_STEPS`,
            m and v drawn independently); an empty tuple draws reachable states just before one of
            :data:`SEEDED_STEP_BOUNDARIES` (:func:`boundary_steps`); otherwise reachable states at these
            step counts. Long runs and seeded states draw beta2 from :data:`NEAR_ONE_BETA2S`.
        schedules: draw schedule multipliers other than 1 outside DECOUPLED_SCHEDULE (set False for
            frameworks that take a single learning rate).
        array_percent: in this share of the cases, an array-mode case of :data:`ARRAY_SIZES` elements
            (and :data:`LARGE_ARRAY_SIZES` with ``large_sizes``) over 1 to 3 steps (:func:`array_case`).
        patterns: the gradient patterns to draw from (:data:`GRADIENT_PATTERNS`, :data:`CHECK_PATTERNS`).
        bounds: closed ranges for the hyperparameters of :data:`BOUNDED` (see :func:`hyperparameters`).
        amsgrad_fall_percent: in this share of the ordinary cases (neither long, seeded nor tensor-sized)
            whose conventions keep an AMSGrad maximum, the AMSGrad fall family: beta2 from
            :data:`AMSGRAD_FALL_BETA2S`, lr from :data:`AMSGRAD_FALL_LRS` (each only where ``bounds``
            allow), 3 to ``max_steps`` steps of :func:`amsgrad_fall_gradients`.
    """
    # ordinary cases at the low end of the roll: hypothesis shrinks the roll (the first choice) towards 0
    # early, so a failing seeded, tensor-sized or long case shrinks to an ordinary small one when that fails too
    roll = 99 - draw(st.integers(0, 99))
    long_share = long_run_percent if long_runs else 0
    seed_share = seeded_percent if seeded else 0
    long_run = roll < long_share
    seeding = not long_run and roll < long_share + seed_share
    array = not long_run and not seeding and roll < long_share + seed_share + array_percent
    near_one = (long_run or seeding) and seeded_steps is not None
    config = draw(configs(conventions, schedules, bounds=bounds, beta2_near_one=near_one))
    conv = config.conventions
    dtype = draw(dtypes(dtypes_))
    if array:
        # the size just past a chunk boundary is the one a chunking bug shows at: drawn 3 times as often
        pool = ARRAY_SIZES + ARRAY_SIZES[-1:] * 2 + (LARGE_ARRAY_SIZES + LARGE_ARRAY_SIZES[-1:] * 2 if large_sizes else ())
        size, steps = draw(st.sampled_from(pool)), draw(st.integers(1, 3))
        pattern = draw(st.sampled_from(("random", "random", "sign_flip", "all_zero")))
        # the generator's seed as 48 bytes: hypothesis ranks shorter choice sequences as simpler, so a
        # failing tensor-sized case then shrinks to a small exact one (when one fails) rather than the reverse
        seed = int.from_bytes(bytes(draw(st.integers(0, 255)) for _ in range(48)), "little")
        return array_case(config, dtype, size, steps, seed, pattern)
    size = draw(sizes(max_size))
    state = None
    if long_run:
        steps = draw(st.sampled_from(tuple(long_run_lengths)))
        size = max(1, min(size, 2 if steps < 2048 else 1))  # a long run of no elements tests nothing
    elif seeding and seeded_steps is not None and not seeded_steps:
        start, steps = draw(boundary_steps())
        steps = min(steps, max(max_steps, 1) + 2)
        state = draw(seeded_states(dtype, size, conv, config.hyper, (start,)))
    else:
        steps = draw(st.integers(1, max_steps))
        if seeding:
            state = draw(seeded_states(dtype, size, conv, config.hyper if seeded_steps else None,
                                       seeded_steps or SEEDED_STEPS))
    # the fall family takes the lowest rolls of the ordinary cases (no extra choice: the other cases draw
    # what they drew before); the shrinker moves the roll up, out of it, to a plain ordinary case
    ordinary_from = long_share + seed_share + array_percent
    falling = (amsgrad_fall_percent > 0 and not long_run and not seeding and conv.family is Family.ADAM
               and conv.amsgrad is not AmsGrad.OFF
               and roll < ordinary_from + -(-amsgrad_fall_percent * (100 - ordinary_from) // 100))
    if falling:
        config = _amsgrad_fall_config(draw, config, bounds)
        steps = max(steps, draw(st.integers(min(3, max_steps), max(max_steps, 1))))
    eps = float(config.hyper.eps) if conv.family is Family.ADAM else 1e-8
    params = draw(parameter_vectors(dtype, size))
    grads = draw(amsgrad_fall_gradients(dtype, size, steps, eps) if falling
                 else gradient_sequences(dtype, size, steps, eps, patterns))
    run = Run(config, params, grads, state, name="fuzz")
    return LabelledCase(run, dtype)


def _amsgrad_fall_config(draw: st.DrawFn, config: OptimizerConfig, bounds: Bounds | None) -> OptimizerConfig:
    """``config`` with beta2 and lr of the AMSGrad fall family (each kept where ``bounds`` exclude them all)."""
    b = dict(bounds or {})
    changes: dict[str, float] = {}
    for name, pool in (("beta2", AMSGRAD_FALL_BETA2S), ("lr", AMSGRAD_FALL_LRS)):
        allowed = [x for x in pool if name not in b or b[name][0] <= x <= b[name][1]]
        if allowed:
            changes[name] = draw(st.sampled_from(allowed))
    return OptimizerConfig(config.conventions, config.hyper.replace(**changes), config.name) if changes else config
