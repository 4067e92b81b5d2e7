"""Which vectors the suite holds: deterministic designs per preset and dtype, grouped by hyperparameters.

Every vector is a :class:`~adamw_oracle.contract.run.Run` whose inputs (initial parameters, state and
gradients) are values of the dtype, drawn from ``random.Random`` seeded with the preset, dtype and group
(string seeds are hashed with SHA-512 by the standard library, so the draws are the same everywhere).
A group fixes the hyperparameters and the AMSGrad/maximize flags; its vectors differ in their inputs.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.presets import PRESETS, Preset
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import exact_state

DTYPES = (Dtype.FLOAT64, Dtype.FLOAT32, Dtype.FLOAT16, Dtype.BFLOAT16)


@dataclass(frozen=True)
class VectorDesign:
    """One vector's inputs and why it exists."""

    flags: tuple[str, ...]
    comment: str
    params: tuple[Fraction, ...]
    grads: tuple[tuple[Fraction, ...], ...]
    step: int = 0
    m: tuple[Fraction, ...] | None = None
    v: tuple[Fraction, ...] | None = None
    vmax: tuple[Fraction, ...] | None = None


@dataclass(frozen=True)
class GroupDesign:
    """Vectors sharing hyperparameters and flags."""

    name: str
    hyper: dict[str, str]
    amsgrad: bool = False
    maximize: bool = False
    vectors: list[VectorDesign] = field(default_factory=list)


def valid_hyper(preset: Preset, hyper: dict[str, str]) -> dict[str, str]:
    """``hyper`` without the hyperparameters ``preset``'s conventions do not have (the contract refuses
    eps_root outside INSIDE_ROOT, a weight decay under NONE, and SGD's momentum for Adam)."""
    conv = preset.conventions
    out = dict(hyper)
    if not (conv.family is Family.ADAM and conv.eps_placement is EpsPlacement.INSIDE_ROOT):
        out.pop("eps_root", None)
    if conv.weight_decay is WeightDecay.NONE:
        out.pop("weight_decay", None)
    if conv.family is Family.ADAM:
        for name in ("momentum", "dampening", "nesterov"):
            out.pop(name, None)
    return out


def group_config(preset: Preset, group: GroupDesign) -> OptimizerConfig:
    """The configuration of a group: the preset with the group's hyperparameters and flags."""
    hyper: dict[str, Any] = valid_hyper(preset, group.hyper)
    if "nesterov" in hyper:
        hyper["nesterov"] = hyper["nesterov"] == "true"
    return preset.config(amsgrad=group.amsgrad, maximize=group.maximize, **hyper)


def own_hyperparameters(preset: Preset) -> tuple[str, ...]:
    """The hyperparameters ``preset``'s conventions use (the others are ignored by it)."""
    conv = preset.conventions
    if conv.family is Family.SGD:
        names = ["lr", "momentum", "dampening", "nesterov", "weight_decay"]
    else:
        names = ["lr", "beta1", "beta2", "eps"]
        if conv.eps_placement is EpsPlacement.INSIDE_ROOT:
            names.append("eps_root")
        if conv.weight_decay is not WeightDecay.NONE:
            names.append("weight_decay")
    return (*names, "schedule_multiplier")


def other_config(config: OptimizerConfig, preset: Preset, other: Preset, *, amsgrad: bool, maximize: bool) -> OptimizerConfig:
    """What ``other`` computes for the same inputs as a vector of ``preset``.

    The hyperparameters ``preset`` uses are passed on (those ``other`` does not use are dropped); the
    ones only ``other`` uses take its defaults (0 where it has none). AMSGrad is ``other``'s form when the
    vector uses AMSGrad and ``other`` has one; maximize when the vector maximizes and ``other`` can.
    """
    h = config.hyper
    values: dict[str, Any] = dict(other.defaults)
    for name in own_hyperparameters(preset):
        values[name] = h.nesterov if name == "nesterov" else getattr(h, name)
    wanted = set(own_hyperparameters(other))
    hyper: dict[str, Any] = {name: (Fraction(value) if isinstance(value, str) else value)
                             for name, value in values.items() if name in wanted}
    conventions = other.conventions
    if amsgrad and other.amsgrad_form is not None:
        conventions = conventions.replace(amsgrad=other.amsgrad_form)
    if maximize and other.has_maximize:
        conventions = conventions.replace(maximize=True)
    return OptimizerConfig(conventions, Hyperparameters(**hyper), name=other.name)


def design_run(preset: Preset, group: GroupDesign, vector: VectorDesign, name: str) -> Run:
    config = group_config(preset, group)
    n = len(vector.params)
    zeros = (Fraction(0),) * n
    state = exact_state(vector.step, vector.m or zeros, vector.v or zeros, vector.vmax or zeros)
    return Run(config, vector.params, vector.grads, state, name=name)


class _Draw:
    """Values of one dtype drawn from a seeded generator."""

    def __init__(self, seed: str, dtype: Dtype) -> None:
        self.rng = random.Random(seed)
        self.fmt = dtype.format
        self.dtype = dtype

    def value(self, low: float, high: float, *, signed: bool = True) -> Fraction:
        """A value of the dtype with magnitude log-uniform in [low, high]."""
        exponent = self.rng.uniform(math.log2(low), math.log2(high))
        x = Fraction(2.0**exponent) * (1 if not signed or self.rng.random() < 0.5 else -1)
        rounded = self.fmt.round(x)
        assert isinstance(rounded, Fraction)
        return rounded

    def vector(self, n: int, low: float, high: float, *, signed: bool = True) -> tuple[Fraction, ...]:
        return tuple(self.value(low, high, signed=signed) for _ in range(n))

    def rows(self, steps: int, n: int, low: float, high: float) -> tuple[tuple[Fraction, ...], ...]:
        return tuple(self.vector(n, low, high) for _ in range(steps))

    def subnormal(self, n: int) -> tuple[Fraction, ...]:
        tiny = self.fmt.smallest_subnormal
        return tuple(tiny * self.rng.randint(1, 2 ** (self.fmt.precision - 1) - 1) * self.rng.choice((1, -1)) for _ in range(n))

    def huge(self, n: int) -> tuple[Fraction, ...]:
        big = self.fmt.largest
        out = []
        for _ in range(n):
            x = self.fmt.round(big * Fraction(self.rng.randint(256, 1000), 1024) * self.rng.choice((1, -1)))
            assert isinstance(x, Fraction)
            out.append(x)
        return tuple(out)


def _lr(preset: Preset) -> dict[str, str]:
    return {} if "lr" in preset.defaults else {"lr": "0.001"}


def _wd(preset: Preset, value: str) -> dict[str, str]:
    return {} if preset.conventions.weight_decay is WeightDecay.NONE else {"weight_decay": value}


def adam_groups(preset: Preset, dtype: Dtype) -> list[GroupDesign]:
    """The Adam-family groups of one preset and dtype."""
    seed = f"{preset.name}/{dtype.value}"
    d = _Draw(seed, dtype)
    base = {**_lr(preset), **({"weight_decay": "0.01"} if "weight_decay" in preset.required else {})}
    groups = []
    g = GroupDesign("defaults", base)
    for _ in range(12):
        g.vectors.append(VectorDesign(("baseline",), "random parameters and gradients, 3 elements, 3 steps",
                                      d.vector(3, 0.01, 4), d.rows(3, 3, 0.001, 2)))
    for _ in range(3):
        g.vectors.append(VectorDesign(("bias_correction_t1",), "one step from a zero state", d.vector(4, 0.1, 2), d.rows(1, 4, 0.01, 1)))
    for _ in range(3):
        g.vectors.append(VectorDesign(("eps_dominates",), "gradients of 1e-9..1e-6", d.vector(3, 0.1, 2), d.rows(2, 3, 1e-9, 1e-6)))
    zero = tuple(Fraction(0) for _ in range(3))
    g.vectors.append(VectorDesign(("zero_gradient",), "two steps of exactly zero gradients from a zero state",
                                  d.vector(3, 0.1, 2), (zero, zero)))
    for _ in range(2):
        g.vectors.append(VectorDesign(("subnormal_gradients",), "subnormal gradients of the dtype",
                                      d.vector(3, 0.1, 2), (d.subnormal(3), d.subnormal(3))))
    for _ in range(2):
        g.vectors.append(VectorDesign(("huge_gradients",), "gradients of a quarter to the whole largest finite value",
                                      d.vector(2, 0.1, 2), (d.huge(2), d.huge(2))))
    for k in (8, 11, 24):
        g.vectors.append(VectorDesign((f"step_near_2^{k}", "warm_state"), f"seeded state at step 2^{k} - 2, three steps cross 2^{k}",
                                      d.vector(2, 0.1, 2), d.rows(3, 2, 0.01, 1), step=2**k - 2,
                                      m=d.vector(2, 0.001, 0.1), v=d.vector(2, 1e-4, 0.01, signed=False)))
    for _ in range(3):
        g.vectors.append(VectorDesign(("warm_state",), "seeded m and v at step 10", d.vector(3, 0.1, 2), d.rows(2, 3, 0.01, 1),
                                      step=10, m=d.vector(3, 0.001, 0.1), v=d.vector(3, 1e-4, 0.1, signed=False)))
    g.vectors.append(VectorDesign(("long_run",), "one element, 48 steps", d.vector(1, 0.1, 2), d.rows(48, 1, 0.01, 1)))
    g.vectors.append(VectorDesign(("vector_tail",), "37 elements, 2 steps", d.vector(37, 0.01, 4), d.rows(2, 37, 0.001, 2)))
    groups.append(g)

    if preset.conventions.weight_decay is not WeightDecay.NONE:
        g = GroupDesign("decay", {**base, "weight_decay": "0.1", **({} if "lr" in base else {"lr": "0.01"})})
        for _ in range(2):
            g.vectors.append(VectorDesign(("decay_zero_gradient",), "zero gradients with weight decay 0.1",
                                          d.vector(3, 0.1, 2), (zero, zero)))
        groups.append(g)
    g = GroupDesign("lr_zero", {**base, "lr": "0", **_wd(preset, "0.1")})
    for _ in range(2):
        g.vectors.append(VectorDesign(("lr_zero",), "lr = 0 with weight decay 0.1", d.vector(3, 0.1, 2), d.rows(2, 3, 0.01, 1)))
    groups.append(g)
    if preset.amsgrad_form is not None:
        g = GroupDesign("amsgrad", base, amsgrad=True)
        for _ in range(3):
            rows = d.rows(2, 2, 0.5, 2) + d.rows(2, 2, 0.001, 0.01)
            g.vectors.append(VectorDesign(("amsgrad", "amsgrad_falling_v"), "large then small gradients", d.vector(2, 0.1, 2), rows))
        g.vectors.append(VectorDesign(("amsgrad", "warm_state"), "seeded vmax above v at step 5", d.vector(2, 0.1, 2), d.rows(2, 2, 0.01, 0.1),
                                      step=5, m=d.vector(2, 0.001, 0.01), v=d.vector(2, 1e-4, 1e-3, signed=False),
                                      vmax=d.vector(2, 0.01, 0.1, signed=False)))
        groups.append(g)
    if preset.has_maximize:
        g = GroupDesign("maximize", base, maximize=True)
        for _ in range(2):
            g.vectors.append(VectorDesign(("maximize",), "maximize, 3 steps", d.vector(3, 0.1, 2), d.rows(3, 3, 0.01, 1)))
        groups.append(g)
    groups.extend(_convention_groups(preset, d))
    return groups


def _convention_groups(preset: Preset, d: _Draw) -> list[GroupDesign]:
    """Inputs where the conventions differ by far more than any rounding bound, even in bfloat16."""
    hyper = {"lr": "0.05", "beta1": "0.5", "beta2": "0.75", "eps": "0.125", **_wd(preset, "0.5")}
    if preset.conventions.family is Family.SGD:
        hyper = {"lr": "0.125", "momentum": "0.5", "dampening": "0.25", "weight_decay": "0.5"}
    if preset.conventions.eps_placement is EpsPlacement.INSIDE_ROOT:
        hyper["eps_root"] = "0.25"
    flags: tuple[str, ...] = ("conventions",)
    if preset.conventions.weight_decay is WeightDecay.DECOUPLED_SCHEDULE:
        hyper["schedule_multiplier"] = "0.5"
        flags = ("conventions", "schedule_multiplier")
    groups = []
    g = GroupDesign("conventions", hyper)
    for _ in range(3):
        g.vectors.append(VectorDesign(flags, "3 steps where the conventions part", d.vector(2, 0.5, 2), d.rows(3, 2, 0.25, 1)))
    groups.append(g)
    if preset.amsgrad_form is not None:
        g = GroupDesign("conventions_amsgrad", hyper, amsgrad=True)
        for _ in range(2):
            rows = d.rows(2, 2, 1, 2) + d.rows(2, 2, 0.01, 0.05)
            g.vectors.append(VectorDesign((*flags, "amsgrad", "amsgrad_falling_v"), "falling v where the AMSGrad forms part",
                                          d.vector(2, 0.5, 2), rows))
        groups.append(g)
    return groups


def sgd_groups(preset: Preset, dtype: Dtype) -> list[GroupDesign]:
    """The SGD-family groups of one preset and dtype."""
    d = _Draw(f"{preset.name}/{dtype.value}", dtype)
    groups = []
    zero = tuple(Fraction(0) for _ in range(3))
    g = GroupDesign("defaults", {"lr": "0.01"})
    for _ in range(10):
        g.vectors.append(VectorDesign(("baseline",), "plain SGD, 3 elements, 3 steps", d.vector(3, 0.01, 4), d.rows(3, 3, 0.001, 2)))
    for _ in range(2):
        g.vectors.append(VectorDesign(("subnormal_gradients",), "subnormal gradients of the dtype", d.vector(3, 0.1, 2),
                                      (d.subnormal(3), d.subnormal(3))))
    for _ in range(2):
        g.vectors.append(VectorDesign(("huge_gradients",), "gradients near the largest finite value", d.vector(2, 0.1, 2),
                                      (d.huge(2), d.huge(2))))
    g.vectors.append(VectorDesign(("long_run",), "one element, 48 steps", d.vector(1, 0.1, 2), d.rows(48, 1, 0.01, 1)))
    g.vectors.append(VectorDesign(("vector_tail",), "37 elements, 2 steps", d.vector(37, 0.01, 4), d.rows(2, 37, 0.001, 2)))
    groups.append(g)
    g = GroupDesign("momentum", {"lr": "0.01", "momentum": "0.9"})
    for _ in range(6):
        g.vectors.append(VectorDesign(("momentum",), "momentum 0.9 from a zero buffer, 3 steps", d.vector(3, 0.1, 2), d.rows(3, 3, 0.01, 1)))
    for _ in range(2):
        g.vectors.append(VectorDesign(("momentum", "warm_state"), "seeded buffer at step 7", d.vector(3, 0.1, 2), d.rows(2, 3, 0.01, 1),
                                      step=7, m=d.vector(3, 0.01, 0.5)))
    g.vectors.append(VectorDesign(("momentum", "long_run"), "one element, 48 steps", d.vector(1, 0.1, 2), d.rows(48, 1, 0.01, 1)))
    groups.append(g)
    g = GroupDesign("dampening", {"lr": "0.01", "momentum": "0.9", "dampening": "0.1"})
    for _ in range(3):
        g.vectors.append(VectorDesign(("momentum", "dampening"), "dampening 0.1, 3 steps", d.vector(3, 0.1, 2), d.rows(3, 3, 0.01, 1)))
    groups.append(g)
    g = GroupDesign("nesterov", {"lr": "0.01", "momentum": "0.9", "nesterov": "true"})
    for _ in range(3):
        g.vectors.append(VectorDesign(("momentum", "nesterov"), "Nesterov momentum, 3 steps", d.vector(3, 0.1, 2), d.rows(3, 3, 0.01, 1)))
    groups.append(g)
    g = GroupDesign("decay", {"lr": "0.01", "weight_decay": "0.1"})
    for _ in range(2):
        g.vectors.append(VectorDesign(("decay_zero_gradient",), "zero gradients with weight decay 0.1", d.vector(3, 0.1, 2), (zero, zero)))
    for _ in range(2):
        g.vectors.append(VectorDesign(("decay_no_momentum",), "weight decay 0.1 without momentum", d.vector(3, 0.1, 2), d.rows(2, 3, 0.01, 1)))
    groups.append(g)
    g = GroupDesign("lr_zero", {"lr": "0", "weight_decay": "0.1", "momentum": "0.9"})
    for _ in range(2):
        g.vectors.append(VectorDesign(("lr_zero",), "lr = 0 with weight decay and momentum", d.vector(3, 0.1, 2), d.rows(2, 3, 0.01, 1)))
    groups.append(g)
    g = GroupDesign("maximize", {"lr": "0.01", "momentum": "0.9", "weight_decay": "0.01"}, maximize=True)
    for _ in range(2):
        g.vectors.append(VectorDesign(("maximize", "momentum"), "maximize with momentum and decay", d.vector(3, 0.1, 2), d.rows(3, 3, 0.01, 1)))
    groups.append(g)
    groups.extend(_convention_groups(preset, d))
    return groups


def groups_for(preset_name: str | Preset, dtype: Dtype) -> list[GroupDesign]:
    """Every group of the file of ``preset_name`` (or of a variant's :class:`Preset`) and ``dtype``."""
    preset = PRESETS[preset_name] if isinstance(preset_name, str) else preset_name
    builder: Callable[[Preset, Dtype], list[GroupDesign]] = adam_groups if preset.conventions.family is Family.ADAM else sgd_groups
    return builder(preset, dtype)

