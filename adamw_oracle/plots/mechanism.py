"""Figure 1, the paper's point: the effective per-step decay factor versus v-hat.

Seed 000's zero-gradient demo, computed by the reference. One element with p = 1, g = 0, m = 0 and
a seeded second moment v0, after 1000 completed steps (the seed sets ``opt.t = 1000`` before
``step()`` increments it), so the step taken is t = 1001, with lr = wd = 0.1, betas 0.9/0.999,
eps = 1e-8 (torch conventions)::

    Adam + L2 (torch.Adam):  g' = wd*p,  m = (1-b1)*g',  v = b2*v0 + (1-b2)*g'^2
                             p_new = p - lr * (m/bc1) / (sqrt(v/bc2) + eps)
    AdamW (torch.AdamW):     p_new = (1 - lr*wd) * p - lr * 0 / (sqrt(v/bc2) + eps) = 0.99 * p

The effective decay factor is p_new / p. Under AdamW it is 1 - lr*wd for every v-hat; under Adam + L2
the decay passes through the adaptive denominator, so parameters with a large v-hat barely decay.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.presets import preset
from adamw_oracle.contract.state import exact_state
from adamw_oracle.reference.backends import mpf_to_fraction
from adamw_oracle.reference.trajectory import reference_step

LR = "0.1"
WEIGHT_DECAY = "0.1"
STEPS_TAKEN = 1000
SEED_000_V = ("1", "1e-4")
MODES = {"Adam + L2": "torch.Adam", "AdamW": "torch.AdamW"}


@dataclass(frozen=True)
class DecayPoint:
    """One reference step of the demo: the seeded v0, the step's v-hat and the factor p_new / p."""

    mode: str
    v0: Fraction
    v_hat: Fraction
    factor: Fraction


def decay_point(mode: str, v0: str | Fraction) -> DecayPoint:
    """The reference's zero-gradient step of seed 000's demo for ``mode`` ("Adam + L2" or "AdamW")."""
    config = preset(MODES[mode], lr=LR, weight_decay=WEIGHT_DECAY)
    state = exact_state(STEPS_TAKEN, ["0"], [v0])
    element = reference_step(config, ["1"], ["0"], state)[0]
    v_hat = mpf_to_fraction(element.v_hat)
    factor = mpf_to_fraction(element.p_new)  # p = 1, so p_new is the factor itself
    assert isinstance(v_hat, Fraction) and isinstance(factor, Fraction)
    return DecayPoint(mode, Fraction(v0), v_hat, factor)


def decay_curves(v0_values: Sequence[str | Fraction]) -> dict[str, list[DecayPoint]]:
    """Both modes' decay points over the seeded second moments ``v0_values``."""
    return {mode: [decay_point(mode, v0) for v0 in v0_values] for mode in MODES}


def default_v0_grid() -> list[Fraction]:
    """v0 = 0 and then 1, 2, 5, 10 ... per decade from 1e-8 to 1e2 (exact decimals)."""
    grid = [Fraction(0)]
    for exponent in range(-8, 3):
        grid += [Fraction(mantissa) * Fraction(10) ** exponent for mantissa in (1, 2, 5)]
    return grid


def mechanism_figure() -> Any:
    """Draw figure 1 and return the matplotlib Figure."""
    from adamw_oracle.plots._matplotlib import pyplot  # heavy or optional

    plt = pyplot()
    curves = decay_curves(default_v0_grid())
    seeds = {mode: [decay_point(mode, v0) for v0 in SEED_000_V] for mode in MODES}
    figure, axes = plt.subplots(figsize=(7.5, 4.6))
    colours = {"Adam + L2": "tab:red", "AdamW": "tab:blue"}
    for mode, curve in curves.items():
        curve = [p for p in curve if p.v_hat > 0]  # v-hat = 0 has no place on a log axis
        axes.plot([float(p.v_hat) for p in curve], [float(p.factor) for p in curve],
                  color=colours[mode], lw=2, label=f"{mode} ({MODES[mode]})")
    offsets = {("Adam + L2", "1"): (-8, 8, "right"), ("Adam + L2", "1e-4"): (10, 4, "left"),
               ("AdamW", "1"): (8, -15, "left"), ("AdamW", "1e-4"): (8, -15, "left")}
    for mode, marks in seeds.items():
        for point, v0 in zip(marks, SEED_000_V):
            x, y = float(point.v_hat), float(point.factor)
            axes.plot(x, y, "o", ms=8, mfc="white", mec=colours[mode], mew=2)
            dx, dy, align = offsets[(mode, v0)]
            axes.annotate(f"seed 000, v0={v0}: {y:.6f}", (x, y), textcoords="offset points", xytext=(dx, dy),
                          ha=align, fontsize=8, color=colours[mode])
    axes.axhline(1 - float(Fraction(LR) * Fraction(WEIGHT_DECAY)), color="grey", ls=":", lw=1)
    axes.set_xscale("log")
    axes.set_ylim(top=1.025)
    axes.set_xlabel(r"$\hat v$ of the step (bias-corrected second moment)")
    axes.set_ylabel(r"effective decay factor $p_{t}/p_{t-1}$ (zero gradient)")
    axes.set_title("Adam + L2 couples decay to $1/\\sqrt{\\hat v}$; AdamW decays every weight by $1-\\eta\\lambda$",
                   fontsize=10)
    figure.text(0.01, -0.02, f"Computed by the reference (mpmath, 256 bits): p = 1, g = 0, m = 0, seeded v0, "
                f"lr = wd = {LR}, betas 0.9/0.999, eps = 1e-8, step t = {STEPS_TAKEN + 1}.", fontsize=8, color="dimgrey")
    axes.legend(loc="lower right", fontsize=9)
    axes.grid(True, which="major", alpha=0.3)
    return figure
