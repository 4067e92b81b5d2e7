"""Designed probes: tiny runs whose outcomes separate the algebraic conventions of Adam-type optimizers.

Each probe is a short run (one or two elements, one or two steps) whose inputs are exact binary values
(dyadic rationals, or the float64 values a framework receives), so that the reference computes on exactly
what the optimizer under test sees. What each candidate convention predicts is computed by the reference
layer (:func:`~adamw_oracle.reference.run_trajectory`), never typed in. The probes (GUIDE section 1),
with betas (0.9, 0.999) unless stated:

* ``eps_placement``: t=1, p=1, g=2^-7, lr=1, eps=1. After-root update g/(|g|+1); epsilon-hat
  sqrt(bc2)/bc1 * m/(sqrt(v)+1), about 400 times smaller; no bias correction 0.1g/(0.0316|g|+1).
* ``eps_floor``: t=1, p=1, g=2^-7, lr=2^-4, eps=2^-8 (below sqrt(v-hat) = 2^-7): eps as a floor,
  max(sqrt(v-hat), eps), leaves the update at lr; added after the root it gives 2/3 lr.
* ``eps_root``: t=1, p=1, g=2^-7, lr=2^-4, eps=0, eps_root=1: g/sqrt(g^2+1) inside the root, 1 (g/|g|) when
  eps_root is ignored.
* ``bias_correction``: two steps of g=2^-7, lr=2^-10, eps=2^-40: each update is about lr with bias
  correction and sqrt(1000)/10 = 3.16 lr at t=1 without.
* ``amsgrad_form``: p=0, lr=1, eps=2^-60, g=1 then g=0; the second update is 0.669723 (max of raw v,
  divided by sqrt(bc2)) or 0.473684 (max of v-hat).
* ``decay_scaling``: g=0, p=2, lr=2^-3, wd=2^-6: p -> 2 - 2*lr*wd (lr-scaled), 2 - 2*wd (unscaled,
  equal to the paper's schedule-only form at multiplier 1), about 2 - lr (coupled L2, the step of a
  gradient wd*p normalised by Adam).
* ``decay_order``: t=1, p=2, g=1, lr=1, wd=2^-1, eps=2^-40: 0 (decay on p(t-1)) versus 0.5 (decay on
  the updated p), 1 (coupled L2).
* ``zero_gradient_mechanism`` (seed 000): two parameters at 1, step 1 gradients (1, 2^-10) give them very
  different v, step 2 has gradient 0: decoupled decay shrinks both by the same 1 - lr*wd on top of
  their momentum steps, coupled L2 divides the decay by sqrt(v-hat) so the two shrink differently.
* ``scalar_rounding``: p=0, gradients 1, 0, 0, lr=0.1, eps=2^-60: the result is proportional to lr and
  depends on beta1 and beta2 through m-hat/sqrt(v-hat) with sensitivity about 1, so a target that
  rounds lr or the betas to float32 (Keras keeps learning_rate in a float32 variable) is ~1e-8
  relatively off the float64 prediction, 1e5 times a float64 allowance; predictions with the
  hyperparameters rounded to a format name the scalars.
* ``maximize``: the eps_placement probe with ``maximize=True``: the step must change sign.

Precision probes (:data:`PRECISION_PROBES`, judged in the target's own parameter format by
:mod:`adamw_oracle.check.fingerprint`; ``{spacing}`` is the spacing of that format just below 1):

* ``half_rounding``: 32 parameters at 0, gradient 1 then i/16 (i = 0..31; exact in both half formats),
  lr=2^-4: the second update (0.5 to 1.5 lr, different for every element) goes through m, v, sqrt, a
  division and a product; rounding each of them to a half format moves some elements by an ulp, which
  a model with float32 arithmetic does not allow (judged with slack 1, the rigorous bound itself), so
  the finest passing model names the arithmetic.
* ``half_rounding_eps``: 64 parameters at 0, one gradient 1 + i*2^(1-p) (exact in the p-bit format),
  lr=1, eps=1: g^2 and sqrt(v) + eps (2 + i*2^(1-p), odd i not representable) are rounded by a target
  that stores each operation's result in the half format, not by one that computes in float32.
* ``stagnation``: 16 parameters at 1, gradient 1 for 8 steps, lr = spacing/4 (each update, about lr,
  is a quarter of the spacing below 1): rounding to nearest leaves p = 1 for ever; compensated (Kahan)
  summation moves every element alike to about 1 - 8 lr; stochastic rounding moves them apart
  (unbiased: their mean is near 1 - 8 lr); any other movement is a biased rounding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import AmsGrad, Conventions, EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.run import Run

B1 = 0.9  # binary floats on purpose: the reference then uses the exact value a framework receives
B2 = 0.999


@dataclass(frozen=True)
class Probe:
    """One designed probe.

    ``aspect`` is the Conventions field (or ``"amsgrad_form"`` / ``"maximize"``) it was designed to
    decide; ``needs`` the target capabilities it uses; ``hyper`` exact hyperparameters; ``params`` the
    initial parameters and ``gradients`` one row per step.
    """

    name: str
    aspect: str
    question: str
    hyper: dict[str, Any]
    params: tuple[Any, ...]
    gradients: tuple[tuple[Any, ...], ...]
    needs: frozenset[Capability] = field(default_factory=frozenset)
    amsgrad: bool = False
    maximize: bool = False

    def driver_config(self) -> OptimizerConfig:
        """A valid configuration carrying this probe's hyperparameters and flags to an adapter.

        Adapters read only hyperparameters and the amsgrad/maximize switches, so the algebraic
        conventions of the driver are irrelevant to what the target computes.
        """
        conv = Conventions(
            Family.ADAM,
            WeightDecay.DECOUPLED_LR if self.hyper.get("weight_decay", 0) else WeightDecay.NONE,
            eps_placement=EpsPlacement.INSIDE_ROOT if self.hyper.get("eps_root", 0) else EpsPlacement.AFTER_ROOT,
            amsgrad=AmsGrad.MAX_RAW_V if self.amsgrad else AmsGrad.OFF,
            maximize=self.maximize,
        )
        return OptimizerConfig(conv, Hyperparameters(**self.hyper), name=f"probe:{self.name}")

    def driver_run(self) -> Run:
        return Run(self.driver_config(), self.params, self.gradients, name=f"probe:{self.name}")

    def candidate_run(self, conventions: Conventions, amsgrad_form: AmsGrad | None,
                      scalars: Dtype | None = None) -> Run | None:
        """The run as ``conventions`` would compute it (None if the candidate cannot take this probe).

        A candidate that ignores an option sees it as absent: weight decay NONE drops ``weight_decay``,
        a denominator other than inside-root drops ``eps_root``. ``amsgrad_form`` None on an AMSGrad
        probe is a target that ignores the flag (plain Adam). ``scalars``: the hyperparameters as a
        target that rounds them (from the float64 value it receives) to that format sees them.
        """
        conv = conventions
        if self.amsgrad and amsgrad_form is not None:
            conv = conv.replace(amsgrad=amsgrad_form)
        if self.maximize:
            conv = conv.replace(maximize=True)
        hyper = dict(self.hyper)
        if conv.weight_decay is WeightDecay.NONE:
            hyper["weight_decay"] = 0
        if conv.eps_placement is not EpsPlacement.INSIDE_ROOT:
            hyper["eps_root"] = 0
        if scalars is not None:
            hyper = {k: _rounded(v, scalars) for k, v in hyper.items()}
        config = OptimizerConfig(conv, Hyperparameters(**hyper))
        return Run(config, self.params, self.gradients, name=f"probe:{self.name}")


def _rounded(value: Any, fmt: Dtype) -> Any:
    """``value`` as a framework holding it in ``fmt`` sees it: fl_fmt(fl64(value)) (0 stays 0)."""
    rounded = fmt.format.round(Fraction(float(value)))
    return rounded if isinstance(rounded, Fraction) else value


def _h(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"beta1": B1, "beta2": B2, "eps_root": 0, "weight_decay": 0}
    base.update(values)
    return base


_G = Fraction(1, 128)

PROBES: tuple[Probe, ...] = (
    Probe("eps_placement", "eps_placement", "where does eps enter the denominator (and is there bias correction)?",
          _h(lr=1, eps=1), (1,), ((_G,),)),
    Probe("eps_floor", "eps_placement", "is eps added to sqrt(v-hat) or only a floor under it?",
          _h(lr=Fraction(1, 16), eps=Fraction(1, 256)), (1,), ((_G,),)),
    Probe("eps_root", "eps_placement", "is eps_root added inside the square root?",
          _h(lr=Fraction(1, 16), eps=0, eps_root=1), (1,), ((_G,),), needs=frozenset({Capability.EPS_ROOT})),
    Probe("bias_correction", "bias_correction", "are m and v divided by 1 - beta^t?",
          _h(lr=Fraction(1, 1024), eps=Fraction(1, 2**40)), (1,), ((_G,), (_G,))),
    Probe("amsgrad_form", "amsgrad_form", "does AMSGrad keep the maximum of raw v or of v-hat?",
          _h(lr=1, eps=Fraction(1, 2**60)), (0,), ((1,), (0,)), needs=frozenset({Capability.AMSGRAD}), amsgrad=True),
    Probe("decay_scaling", "weight_decay", "is weight decay coupled (L2) or decoupled, and scaled by lr?",
          _h(lr=Fraction(1, 8), eps=Fraction(1, 10**8), weight_decay=Fraction(1, 64)), (2,), ((0,),),
          needs=frozenset({Capability.WEIGHT_DECAY})),
    Probe("decay_order", "decay_target", "does decoupled decay multiply p(t-1) or the updated parameter?",
          _h(lr=1, eps=Fraction(1, 2**40), weight_decay=Fraction(1, 2)), (2,), ((1,),), needs=frozenset({Capability.WEIGHT_DECAY})),
    Probe("zero_gradient_mechanism", "weight_decay",
          "with zero gradient, do two parameters with different v shrink by the same factor (seed 000)?",
          _h(lr=Fraction(1, 1024), eps=Fraction(1, 10**8), weight_decay=Fraction(1, 16)), (1, 1),
          ((1, Fraction(1, 1024)), (0, 0)), needs=frozenset({Capability.WEIGHT_DECAY})),
    Probe("scalar_rounding", "scalars", "are lr and the betas used as given (float64) or rounded to a shorter format?",
          _h(lr=0.1, eps=Fraction(1, 2**60)), (0,), ((1,), (0,), (0,))),
    Probe("maximize", "maximize", "does maximize=True negate the gradient?",
          _h(lr=1, eps=1), (1,), ((_G,),), needs=frozenset({Capability.MAXIMIZE}), maximize=True),
)


def probes_for(capabilities: frozenset[Capability]) -> tuple[Probe, ...]:
    """The probes a target with these capabilities can take."""
    return tuple(p for p in PROBES if p.needs <= capabilities)


def spacing_below_one(dtype: Dtype) -> Fraction:
    """The distance from 1 to the largest value of ``dtype`` below it (2**-p)."""
    return Fraction(1, 2 ** dtype.format.precision)


def precision_probes(dtype: Dtype) -> tuple[Probe, ...]:
    """The precision probes (module docstring) for parameters in ``dtype``; none for float64."""
    if dtype is Dtype.FLOAT64:
        return ()
    n = 64
    half = Probe("half_rounding", "arithmetic", "are the step's operations rounded to the parameter format?",
                 _h(lr=Fraction(1, 16), eps=Fraction(1, 2**40)), (0,) * n,
                 ((1,) * n, tuple(Fraction(i, 32) for i in range(n))))
    eps_one = Probe("half_rounding_eps", "arithmetic", "are g^2, its root and root + eps rounded to the parameter format?",
                    _h(lr=1, eps=1), (0,) * n, (tuple(1 + i * 2 * spacing_below_one(dtype) for i in range(n)),))
    stagnation = Probe("stagnation", "rounding", "do updates of a quarter of the spacing below 1 accumulate?",
                       _h(lr=spacing_below_one(dtype) / 4, eps=Fraction(1, 2**60)), (1,) * 16, ((1,) * 16,) * 8)
    return (half, eps_one, stagnation) if dtype in (Dtype.BFLOAT16, Dtype.FLOAT16) else (stagnation,)
