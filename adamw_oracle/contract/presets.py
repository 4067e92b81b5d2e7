"""Named presets: the conventions and default hyperparameters of real implementations.

Facts from ``shared/GUIDE.md`` section 1 (read from each project's source, 2024-2026). A preset maps the
framework's own flags (``amsgrad=True``, ``maximize=True``) to the contract's named conventions, so
``preset("optax.adam", amsgrad=True)`` gives AMSGrad over v-hat while ``preset("torch.Adam",
amsgrad=True)`` gives AMSGrad over raw v.

Hyperparameters a framework requires (optax's lr, TF-Addons' weight_decay) have no default here either.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    WeightDecay,
)
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.errors import InvalidArgumentError


@dataclass(frozen=True)
class Preset:
    """One real implementation: its conventions, defaults and the AMSGrad form it would use."""

    name: str
    summary: str
    conventions: Conventions
    defaults: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    amsgrad_form: AmsGrad | None = None  # None: the implementation has no AMSGrad
    has_maximize: bool = False

    def config(self, *, amsgrad: bool = False, maximize: bool = False, **hyper: Any) -> OptimizerConfig:
        """The configuration with these hyperparameters (exact strings recommended)."""
        missing = [name for name in self.required if name not in hyper]
        if missing:
            raise InvalidArgumentError(missing[0], None, f"a value: {self.name} has no default for it")
        values: dict[str, Any] = dict(self.defaults)
        values.update(hyper)
        conventions = self.conventions
        if amsgrad:
            if self.amsgrad_form is None:
                raise InvalidArgumentError("amsgrad", True, f"False: {self.name} has no AMSGrad")
            conventions = conventions.replace(amsgrad=self.amsgrad_form)
        if maximize:
            if not self.has_maximize:
                raise InvalidArgumentError("maximize", True, f"False: {self.name} has no maximize flag")
            conventions = conventions.replace(maximize=True)
        return OptimizerConfig(conventions, Hyperparameters(**values), name=self.name)


_ADAM = Family.ADAM
_SGD = Family.SGD
_TORCH_ADAM_DEFAULTS = {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-8"}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("torch.Adam", "torch.optim.Adam: L2 added to the gradient, eps after sqrt(v)/sqrt(bc2)",
               Conventions(_ADAM, WeightDecay.COUPLED_L2), {**_TORCH_ADAM_DEFAULTS, "weight_decay": "0"},
               amsgrad_form=AmsGrad.MAX_RAW_V, has_maximize=True),
        Preset("torch.AdamW", "torch.optim.AdamW: p *= 1 - lr*wd before the Adam step",
               Conventions(_ADAM, WeightDecay.DECOUPLED_LR), {**_TORCH_ADAM_DEFAULTS, "weight_decay": "0.01"},
               amsgrad_form=AmsGrad.MAX_RAW_V, has_maximize=True),
        Preset("optax.adam", "optax.adam: eps_root inside the root, eps after it; AMSGrad over v-hat",
               Conventions(_ADAM, WeightDecay.NONE, eps_placement=EpsPlacement.INSIDE_ROOT),
               {"beta1": "0.9", "beta2": "0.999", "eps": "1e-8", "eps_root": "0"}, required=("lr",),
               amsgrad_form=AmsGrad.MAX_V_HAT),
        Preset("optax.adamw", "optax.adamw: u = -lr*(adam direction + wd*p)",
               Conventions(_ADAM, WeightDecay.DECOUPLED_LR, eps_placement=EpsPlacement.INSIDE_ROOT),
               {"beta1": "0.9", "beta2": "0.999", "eps": "1e-8", "eps_root": "0", "weight_decay": "0.0001"},
               required=("lr",), amsgrad_form=AmsGrad.MAX_V_HAT),
        Preset("keras.Adam", "Keras 3 Adam: epsilon-hat; weight_decay (if set) is decoupled and lr-scaled",
               Conventions(_ADAM, WeightDecay.DECOUPLED_LR, eps_placement=EpsPlacement.EPSILON_HAT),
               {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-7", "weight_decay": "0"},
               amsgrad_form=AmsGrad.MAX_RAW_V),
        Preset("keras.AdamW", "Keras 3 AdamW: epsilon-hat, p -= p*wd*lr before the step",
               Conventions(_ADAM, WeightDecay.DECOUPLED_LR, eps_placement=EpsPlacement.EPSILON_HAT),
               {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-7", "weight_decay": "0.004"},
               amsgrad_form=AmsGrad.MAX_RAW_V),
        Preset("tfa.AdamW", "TF-Addons AdamW: epsilon-hat, p -= wd*p not scaled by lr",
               Conventions(_ADAM, WeightDecay.DECOUPLED_UNSCALED, eps_placement=EpsPlacement.EPSILON_HAT),
               {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-7"}, required=("weight_decay",),
               amsgrad_form=AmsGrad.MAX_RAW_V),
        Preset("paper.AdamW", "Loshchilov & Hutter Alg. 2: p -= eta_t*(alpha*adam + wd*p), epsilon-hat code",
               Conventions(_ADAM, WeightDecay.DECOUPLED_SCHEDULE, eps_placement=EpsPlacement.EPSILON_HAT),
               {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-8"}),
        Preset("hf.AdamW", "HF transformers AdamW (removed): epsilon-hat, decay on the updated p",
               Conventions(_ADAM, WeightDecay.DECOUPLED_LR, DecayTarget.UPDATED_PARAM, EpsPlacement.EPSILON_HAT),
               {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-6", "weight_decay": "0"}),
        Preset("mlx.AdamW", "MLX AdamW: no bias correction by default, p *= 1 - lr*wd before the step",
               Conventions(_ADAM, WeightDecay.DECOUPLED_LR, bias_correction=BiasCorrection.OFF),
               {"beta1": "0.9", "beta2": "0.999", "eps": "1e-8", "weight_decay": "0.01"}, required=("lr",)),
        Preset("torch.SGD", "torch.optim.SGD: L2 into the gradient, buffer = g at step 1",
               Conventions(_SGD, WeightDecay.COUPLED_L2),
               {"lr": "0.001", "momentum": "0", "dampening": "0", "weight_decay": "0"}, has_maximize=True),
        Preset("sgdw", "SGDW (Loshchilov & Hutter Alg. 1 with lr-scaled decay): p -= lr*wd*p, then SGD",
               Conventions(_SGD, WeightDecay.DECOUPLED_LR),
               {"lr": "0.001", "momentum": "0", "dampening": "0", "weight_decay": "0"}, has_maximize=True),
    ]
}


def preset(name: str, **options: Any) -> OptimizerConfig:
    """The configuration of preset ``name`` with ``options`` (hyperparameters, amsgrad, maximize).

    Raises:
        InvalidArgumentError: unknown preset (the message lists the known names and the closest one).
    """
    return get_preset(name).config(**options)


def get_preset(name: str) -> Preset:
    if name in PRESETS:
        return PRESETS[name]
    folded = {key.lower(): key for key in PRESETS}
    if isinstance(name, str) and name.lower() in folded:
        return PRESETS[folded[name.lower()]]

    close = difflib.get_close_matches(str(name).lower(), list(folded), n=1)
    raise InvalidArgumentError("preset", name, "one of " + ", ".join(PRESETS),
                               hint=f"did you mean {folded[close[0]]!r}?" if close else None)
