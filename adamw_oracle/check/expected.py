"""The convention a target is expected to implement: a preset name or explicit choices.

``check_target(expect=...)`` accepts

* a preset name from :data:`adamw_oracle.contract.PRESETS` (``"torch.AdamW"``): its conventions and the
  AMSGrad form it uses when the framework's amsgrad flag is on;
* a :class:`~adamw_oracle.contract.conventions.Conventions` or a dict of explicit choices
  (``{"weight_decay": "decoupled_lr", "eps_placement": "epsilon_hat"}``); a non-OFF ``amsgrad`` there is
  the AMSGrad form;
* an :class:`~adamw_oracle.check.identify.Identification` (what ``identify`` found).

Both families are accepted: an SGD-family expectation (``"torch.SGD"``, ``"sgdw"``, or choices with
``family="sgd"``) makes the checker draw SGD cases (momentum, dampening, nesterov); its AMSGrad form is
always None.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import AmsGrad, Conventions, Family
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.presets import PRESETS, get_preset
from adamw_oracle.errors import InvalidArgumentError


@dataclass(frozen=True)
class ExpectedConvention:
    """Conventions with AMSGrad off, plus the form AMSGrad takes when the target's flag is on."""

    label: str
    conventions: Conventions
    amsgrad_form: AmsGrad | None

    @property
    def family(self) -> Family:
        """The update rule the target is expected to implement (Adam or SGD)."""
        return self.conventions.family

    def conventions_for(self, *, amsgrad: bool, maximize: bool) -> Conventions:
        """The full conventions of a case run with these framework flags."""
        conv = self.conventions
        if amsgrad:
            if self.amsgrad_form is None:
                raise InvalidArgumentError("amsgrad", True, f"False: the expected convention {self.label} has no AMSGrad form")
            conv = conv.replace(amsgrad=self.amsgrad_form)
        return conv.replace(maximize=maximize) if maximize else conv

    def config(self, hyper: Hyperparameters, *, amsgrad: bool = False, maximize: bool = False) -> OptimizerConfig:
        return OptimizerConfig(self.conventions_for(amsgrad=amsgrad, maximize=maximize), hyper, name=self.label)

    def describe(self) -> str:
        text = f"{self.label}: {self.conventions.describe()}"
        if self.amsgrad_form is not None:
            text += f"; amsgrad -> {self.amsgrad_form.value}"
        return text


def expected_convention(expect: Any) -> ExpectedConvention:
    """Normalise ``expect`` (see the module docstring).

    Raises:
        InvalidArgumentError: unknown preset or invalid choices.
    """
    from adamw_oracle.check.identify import Identification  # heavy or optional

    if isinstance(expect, ExpectedConvention):
        return expect
    if isinstance(expect, Identification):
        if expect.conventions is None:
            raise InvalidArgumentError("expect", expect.target, "an Identification that identified a convention")
        label = expect.presets[0] if expect.presets else "identified"
        return ExpectedConvention(label, expect.conventions, expect.amsgrad_form)
    if isinstance(expect, str):
        p = get_preset(expect)
        return ExpectedConvention(p.name, p.conventions, p.amsgrad_form)
    if isinstance(expect, dict):
        expect = Conventions.from_dict({k: v for k, v in expect.items()})
    if isinstance(expect, Conventions):
        form = None if expect.amsgrad is AmsGrad.OFF else expect.amsgrad
        base = expect.replace(amsgrad=AmsGrad.OFF, maximize=False)
        return ExpectedConvention("explicit", base, form)
    raise InvalidArgumentError("expect", expect, "a preset name (" + ", ".join(PRESETS) + "), a Conventions, a dict of "
                               "choices or an Identification")
