"""Figure 2, a trace: parameter trajectories of AdamW, Adam + L2 and Adam for one run.

The run is seed 001's anchor extended: w0 = 0.8, a constant gradient g = -0.3, lr = 0.001,
wd = 0.01, betas 0.9/0.999, eps = 1e-8 (torch conventions), for ``steps`` steps::

    Adam       (torch.Adam, wd = 0):     p_t = p_{t-1} - lr * m^/(sqrt(v^) + eps)
    Adam + L2  (torch.Adam, wd):         the same with g' = g + wd * p_{t-1}
    AdamW      (torch.AdamW, wd):        p_t = p_{t-1} - lr*wd*p_{t-1} - lr * m^/(sqrt(v^) + eps)

AdamW's difference from Adam is its decay lr*wd*p, summed over the steps. Adam + L2's difference only
comes through the normalised direction m^/sqrt(v^): wd*p shifts g' and changes it as p grows, so its
effect is set by the moments' memory, not by wd alone. The lower panel shows each trajectory minus
Adam's. Values come from the reference (mpmath, 256 bits).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.exact import finite_exact
from adamw_oracle.contract.presets import preset
from adamw_oracle.contract.run import Run, constant_gradients
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.trajectory import run_trajectory

ANCHOR = {"p0": "0.8", "g": "-0.3", "lr": "0.001", "weight_decay": "0.01"}
SEED_001_ADAMW_TABLE = (0.800992, 0.801984, 0.802976, 0.803968, 0.804960)  # seed 001's printed w_new, t = 1..5
MODES = {"AdamW": ("torch.AdamW", ANCHOR["weight_decay"]), "Adam + L2": ("torch.Adam", ANCHOR["weight_decay"]),
         "Adam": ("torch.Adam", "0")}


@dataclass(frozen=True)
class TraceCurves:
    """``params[mode][k]`` is the reference's p after step k+1 (exact rational of the 256-bit result)."""

    steps: int
    params: dict[str, list[Fraction]]


def anchor_run(mode: str, steps: int) -> Run:
    """Seed 001's anchor under ``mode`` ("AdamW", "Adam + L2" or "Adam"), extended to ``steps`` steps."""
    name, weight_decay = MODES[mode]
    config = preset(name, lr=ANCHOR["lr"], weight_decay=weight_decay)
    return Run(config, (ANCHOR["p0"],), constant_gradients([ANCHOR["g"]], steps), name=f"seed-001 anchor, {mode}")


def trace_curves(steps: int = 1000) -> TraceCurves:
    """Reference trajectories of the three modes."""
    if not isinstance(steps, int) or isinstance(steps, bool) or not 5 <= steps <= 100_000:
        raise InvalidArgumentError("steps", steps, "an int in [5, 100000]")
    params = {}
    for mode in MODES:
        params[mode] = [finite_exact(row[0], "p_new") for row in run_trajectory(anchor_run(mode, steps)).as_fractions("p_new")]
    return TraceCurves(steps, params)


def trace_figure(steps: int = 1000) -> Any:
    """Draw figure 2 and return the matplotlib Figure."""
    from adamw_oracle.plots._matplotlib import pyplot  # heavy or optional

    plt = pyplot()
    curves = trace_curves(steps)
    t = list(range(1, steps + 1))
    colours = {"AdamW": "tab:blue", "Adam + L2": "tab:red", "Adam": "black"}
    styles = {"AdamW": "-", "Adam + L2": "--", "Adam": ":"}
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for mode, values in curves.params.items():
        name, wd = MODES[mode]
        top.plot(t, [float(x) for x in values], styles[mode], color=colours[mode], lw=1.8, label=f"{mode} ({name}, wd={wd})")
    top.plot(range(1, 6), SEED_001_ADAMW_TABLE, "o", ms=5, mfc="white", mec="tab:blue", label="seed 001's printed AdamW table (t = 1..5)")
    top.set_ylabel("parameter $p_t$")
    top.set_title(f"Seed 001's anchor extended to {steps} steps: w0 = 0.8, g = -0.3, lr = 0.001, wd = 0.01", fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    top.grid(True, alpha=0.3)
    adam = curves.params["Adam"]
    for mode in ("AdamW", "Adam + L2"):
        diff = [float(a - b) for a, b in zip(curves.params[mode], adam)]
        bottom.plot(t, diff, styles[mode], color=colours[mode], lw=1.8, label=f"{mode} - Adam")
    bottom.axhline(0, color="black", lw=0.6)
    bottom.set_xlabel("step t")
    bottom.set_ylabel("$p_t - p_t^{Adam}$")
    bottom.legend(fontsize=8, loc="lower left")
    bottom.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    bottom.grid(True, alpha=0.3)
    figure.text(0.01, -0.01, "Computed by the reference (mpmath, 256 bits). AdamW - Adam: the summed decay lr*wd*p; "
                "Adam + L2 - Adam: wd*p seen only through m-hat/sqrt(v-hat).", fontsize=8, color="dimgrey")
    return figure
