"""Vector files for conventions and precision models that no preset of the contract has.

A :class:`Variant` is a base preset with one change: a convention (eps as a floor) or the precision
model its tolerances are computed under (float32 arithmetic for float64 parameters, Kahan summation,
stochastic rounding of bfloat16 parameters). Its files are ``<base>+<name>.<dtype>.json`` (for example
``torch.AdamW+kahan.bfloat16.json``), hold the same kinds of vectors as the preset files (the draws
are seeded by the variant's label) and state the variant and its rule in the header.

* ``eps_floor``: the update is lr_t*m-hat / max(sqrt(v-hat), eps) (``EpsPlacement.FLOOR``); the
  conservative model, p, m and v listed as in the preset files.
* ``float32_arithmetic``: float64 parameters computed in float32 with float32 state
  (:meth:`~adamw_oracle.contract.precision.PrecisionModel.float32_arithmetic`): ``p`` only (the state
  is float32, not the file's dtype), its ``ulps`` counted in float64 values.
* ``kahan``: bfloat16 parameters kept with Kahan compensation (:meth:`PrecisionModel.kahan`: float32
  arithmetic and state; the compensation starts at 0). Every step lists ``p`` (the stored parameter
  alone: its ``ulps`` allow the compensation's own bound) and ``highPrecision``: the exact parameter
  and the bound on ``|p + c - exact|``, the test of the compensated value (:mod:`adamw_oracle.verify.kahan`).
* ``stochastic_rounding``: bfloat16 parameters stored by stochastic rounding from float32 arithmetic
  (:meth:`PrecisionModel.stochastic`). No random bits are fixed: each step's ``ulps`` describe the
  *set* of values a correct stochastic rounding may hold, whatever its bits (every rounding costs up
  to one full spacing; the bound carries them through the run), around the round-to-nearest pattern of
  the exact value. Whether the roundings are unbiased needs many draws, not a vector: that is
  :func:`~adamw_oracle.verify.stochastic.judge_stochastic_rounding`'s frequency test.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from adamw_oracle.contract.conventions import EpsPlacement
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import ParamRounding, ParamSummation, PrecisionModel
from adamw_oracle.contract.presets import PRESETS, Preset

SEPARATOR = "+"


@dataclass(frozen=True)
class Variant:
    """A preset with one convention or precision model changed (see the module docstring)."""

    name: str
    base: str
    summary: str
    dtypes: tuple[Dtype, ...]
    precision: Callable[[Dtype], PrecisionModel] = PrecisionModel.conservative
    eps_placement: EpsPlacement | None = None

    @property
    def label(self) -> str:
        """The name the files and ``vectors --preset`` use: ``<base>+<name>``."""
        return f"{self.base}{SEPARATOR}{self.name}"

    def preset(self) -> Preset:
        """The base preset with the variant's conventions, named by :attr:`label`."""
        base = PRESETS[self.base]
        conventions = base.conventions
        if self.eps_placement is not None:
            conventions = conventions.replace(eps_placement=self.eps_placement)
        return dataclasses.replace(base, name=self.label, summary=self.summary, conventions=conventions)

    def model(self, dtype: Dtype) -> PrecisionModel:
        return self.precision(dtype)

    def kahan(self, dtype: Dtype) -> bool:
        return self.model(dtype).param_summation is ParamSummation.KAHAN

    def stochastic(self, dtype: Dtype) -> bool:
        return self.model(dtype).param_rounding is ParamRounding.STOCHASTIC

    def params_only(self, dtype: Dtype) -> bool:
        """Whether only p is listed (the state is not stored in the file's dtype under this model)."""
        return self.model(dtype) != PrecisionModel.conservative(dtype)


ALL = (Dtype.FLOAT64, Dtype.FLOAT32, Dtype.FLOAT16, Dtype.BFLOAT16)

VARIANTS: tuple[Variant, ...] = (
    Variant("eps_floor", "torch.AdamW",
            "torch.AdamW with eps as a floor under the root: update = lr*m-hat / max(sqrt(v-hat), eps)",
            ALL, eps_placement=EpsPlacement.FLOOR),
    Variant("float32_arithmetic", "torch.AdamW",
            "torch.AdamW on float64 parameters computed in float32 with float32 state (p and g rounded to float32 "
            "when read, the result written back to float64)", (Dtype.FLOAT64,), PrecisionModel.float32_arithmetic),
    Variant("kahan", "torch.AdamW",
            "torch.AdamW on bfloat16 parameters kept with Kahan compensation c (float32 arithmetic and state, c in "
            "bfloat16, starting at 0): y = c + d, p' = p + y, c' = y - (p' - p) with d = -(update + decay)",
            (Dtype.BFLOAT16,), PrecisionModel.kahan),
    Variant("stochastic_rounding", "torch.AdamW",
            "torch.AdamW on bfloat16 parameters stored by stochastic rounding of the float32 result (float32 "
            "arithmetic and state)", (Dtype.BFLOAT16,), PrecisionModel.stochastic),
)

VARIANTS_BY_LABEL: dict[str, Variant] = {v.label: v for v in VARIANTS}
