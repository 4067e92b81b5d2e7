"""Figure 3, a check report: a third-party optimizer's errors, per dtype, in ULPs and against the bound.

For each dtype, ``examples`` cases of ``steps`` steps over ``size`` elements are run through the real
optimizer (a built-in target such as ``torch.AdamW``, resolved by
:func:`adamw_oracle.adapters.resolve_target`) with its preset's default hyperparameters. Initial
parameters and gradients are drawn from a seeded generator and rounded to the dtype, so the optimizer
and the reference start from the same numbers. For element i after step k, with ``exact`` the
reference value and ``bound`` the error model's running bound
(:func:`adamw_oracle.verify.error_model.bounded_trajectory`, precision model
``PrecisionModel.conservative(dtype)``)::

    ulps              = |observed - exact| / ulp_dtype(exact)
    fraction_of_bound = |observed - exact| / (SLACK * bound)      (<= 1: within the error model)

which are the quantities :func:`adamw_oracle.verify.judge` reports for the worst element. Elements the
error model sets aside as ill-conditioned are counted, not plotted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.adapters.registry import builtin_preset, resolve_target
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.presets import get_preset
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.error_model import bounded_trajectory
from adamw_oracle.verify.judge import SLACK, judge
from adamw_oracle.verify.tracked import ILL, NONFINITE, OVERFLOW

DTYPES = (Dtype.FLOAT64, Dtype.FLOAT32, Dtype.BFLOAT16, Dtype.FLOAT16)


@dataclass
class DtypeErrors:
    """Per-element errors of one dtype; exact matches are counted (they have no place on a log axis)."""

    dtype: Dtype
    ulps: list[float] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    exact_matches: int = 0
    ill_conditioned: int = 0
    cases_passed: int = 0
    cases: int = 0


def _dtype_values(rng: np.random.Generator, shape: tuple[int, ...], scale: float, dtype: Dtype) -> np.ndarray:
    """Normal(0, scale) draws rounded to ``dtype`` (returned as float64 holding dtype values)."""
    draws = rng.normal(0.0, scale, size=shape)
    rounded = [dtype.format.round(Fraction(float(x))) for x in draws.ravel()]
    return np.array([float(x) for x in rounded], dtype=np.float64).reshape(shape)


def make_cases(target: str, dtype: Dtype, examples: int, seed: int, *, size: int = 8, steps: int = 16) -> list[Any]:
    """Seeded cases for ``target``'s preset (its default hyperparameters; optax's required lr = 1e-3)."""

    preset_name = builtin_preset(target)
    if preset_name is None:
        raise InvalidArgumentError("target", target, "a built-in target (see adamw-oracle check --help)")
    spec = get_preset(preset_name)
    hyper: dict[str, Any] = {name: "0.001" for name in spec.required}
    config = spec.config(**hyper)
    rng = np.random.default_rng([seed, list(Dtype).index(dtype)])
    cases = []
    for _ in range(examples):
        params = _dtype_values(rng, (size,), 1.0, dtype)
        grads = _dtype_values(rng, (steps, size), 0.1, dtype)
        run = Run(config, tuple(float(x) for x in params), tuple(tuple(float(x) for x in row) for row in grads))
        cases.append(Case(run, dtype))
    return cases


def collect_errors(target: str, *, examples: int = 30, seed: int = 0, dtypes: tuple[Dtype, ...] = DTYPES,
                   size: int = 8, steps: int = 16) -> dict[Dtype, DtypeErrors]:
    """Run ``target`` on seeded cases of every dtype and measure each element's error (see module doc)."""

    if not isinstance(examples, int) or isinstance(examples, bool) or not 1 <= examples <= 10_000:
        raise InvalidArgumentError("examples", examples, "an int in [1, 10000]")
    implementation = resolve_target(target)
    out = {}
    for dtype in dtypes:
        errors = DtypeErrors(dtype)
        fmt = dtype.format
        for case in make_cases(target, dtype, examples, seed, size=size, steps=steps):
            bounds = bounded_trajectory(case, PrecisionModel.conservative(dtype))
            observation = implementation.run(case)
            errors.cases += 1
            errors.cases_passed += judge(case, observation, bounds=bounds).passed
            if observation.error is not None:
                continue
            observed = np.asarray(observation.params, dtype=np.float64)
            for k, row in enumerate(bounds.params):
                for i, value in enumerate(row):
                    if value.flags & (ILL | OVERFLOW | NONFINITE) or not isinstance(value.exact, Fraction):
                        errors.ill_conditioned += 1
                        continue
                    obs = float(observed[k, i])
                    if not math.isfinite(obs):
                        errors.ulps.append(math.inf)
                        errors.fractions.append(math.inf)
                        continue
                    diff = abs(Fraction(obs) - value.exact)
                    if diff == 0:
                        errors.exact_matches += 1
                        continue
                    errors.ulps.append(float(diff / fmt.ulp(value.exact)))
                    errors.fractions.append(float(diff) / (SLACK * value.bound))
        out[dtype] = errors
    return out


def check_report_figure(target: str = "torch.AdamW", *, examples: int = 30, seed: int = 0) -> Any:
    """Draw figure 3 for ``target`` and return the matplotlib Figure."""
    from adamw_oracle.plots._matplotlib import pyplot  # heavy or optional

    plt = pyplot()
    data = collect_errors(target, examples=examples, seed=seed)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    colours = {Dtype.FLOAT64: "tab:blue", Dtype.FLOAT32: "tab:orange", Dtype.BFLOAT16: "tab:green", Dtype.FLOAT16: "tab:red"}
    finite_ulps = [x for d in data.values() for x in d.ulps if math.isfinite(x) and x > 0]
    finite_fracs = [x for d in data.values() for x in d.fractions if math.isfinite(x) and x > 0]
    ulp_bins = np.logspace(math.floor(math.log10(min(finite_ulps, default=1e-3))),
                           math.ceil(math.log10(max(finite_ulps, default=10))) + 1e-9, 40)
    frac_bins = np.logspace(math.floor(math.log10(min(finite_fracs, default=1e-6))),
                            max(1, math.ceil(math.log10(max(finite_fracs, default=1)))) + 1e-9, 40)
    for dtype, errors in data.items():
        total = len(errors.ulps) + errors.exact_matches
        label = (f"{dtype.value}: {errors.cases_passed}/{errors.cases} cases pass, "
                 f"{errors.exact_matches} of {total} exact, {errors.ill_conditioned} set aside")
        left.hist([x for x in errors.ulps if math.isfinite(x)], bins=ulp_bins, histtype="step", lw=1.8,
                  color=colours[dtype], label=label)
        right.hist([x for x in errors.fractions if math.isfinite(x)], bins=frac_bins, histtype="step", lw=1.8,
                   color=colours[dtype], label=dtype.value)
    left.set_xscale("log")
    left.set_xlabel("|observed - exact| in ULPs of the dtype (inexact elements)")
    left.set_ylabel("elements (all steps)")
    left.legend(fontsize=7, loc="upper left")
    right.set_xscale("log")
    right.axvline(1.0, color="black", ls="--", lw=1)
    right.text(1.0, 0.97, " bound", transform=right.get_xaxis_transform(), va="top", fontsize=8)
    right.set_xlabel("|observed - exact| / (slack x error-model bound)")
    right.legend(fontsize=8, loc="upper left")
    for axes in (left, right):
        axes.grid(True, alpha=0.3)
    figure.suptitle(f"{target} against the reference: {examples} cases per dtype, 8 elements x 16 steps, "
                    f"preset defaults, seed {seed}", fontsize=10)
    return figure
