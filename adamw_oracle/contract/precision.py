"""Which floating-point formats a correct implementation of a case may use, and what one rounding costs.

A :class:`PrecisionModel` names four formats:

* ``arithmetic``: every elementwise operation of the step is rounded to it (unit roundoff u_a);
* ``scalars``: hyperparameters and per-step scalars (1 - beta, beta**t, lr*wd, ...) are rounded to it:
  float32 when the arithmetic is a half format (frameworks keep Python-float scalars in float32 or
  double "opmath"; rounding beta2 = 0.999 to bfloat16 would give exactly 1), else the arithmetic format;
* ``state``: m, v, vmax are stored in it after each step;
* ``param``: the parameter is stored in it after each step (always the case's dtype).

The arithmetic may be *coarser* than the parameter or state format (float32 arithmetic for float64
parameters, as libraries do that keep float32 working copies and write the result back): every value
read from a finer storage format (the parameter, the gradient, a finer state) is then rounded once to
the arithmetic format before the step uses it, and the bound counts that rounding too (a value
beyond the arithmetic format's range is flagged as a possible overflow, like any other).

Two models are provided for a case in dtype D:

* :meth:`PrecisionModel.conservative` (the default of :func:`~adamw_oracle.verify.judge`):
  arithmetic = state = param = D. For float16/bfloat16 this is the widest legitimate model (torch on
  the CPU keeps half-precision state and rounds every op to D; Keras computes in the variable dtype),
  and it also bounds implementations that compute in float32, since a float32 rounding is smaller.
* :meth:`PrecisionModel.mixed`: float32 arithmetic and float32 state, parameters stored in D (the
  GPU kernels' host build, apex/bitsandbytes 32-bit state). For float32/float64 it equals the
  conservative model.
* :meth:`PrecisionModel.float32_arithmetic`: float32 arithmetic and float32 state for parameters in
  any dtype, float64 included (the parameter and gradient are rounded to float32 when read, the
  result written back to the parameter's dtype); for the other dtypes it equals ``mixed``.

A model may also declare that the implementation's parameter update *reads its moments back from
storage* (:attr:`PrecisionModel.reads_back_state`): the update of step t is computed from the stored,
rounded m_t, v_t (vmax_t) of that step, not from the values before their store. The per-step judge
then judges the parameter from the stored moments it observes (see the attribute).

One correctly rounded operation with exact result z returns fl(z) with
``|fl(z) - z| <= u*|z| + eta`` where ``eta`` is half the smallest subnormal (gradual underflow).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache

from adamw_oracle.contract.conventions import parse_choice
from adamw_oracle.contract.dtypes import Dtype, FloatFormat
from adamw_oracle.errors import InvalidArgumentError

_UP = 1.0 + 2.0**-50  # inflates a float64-computed bound so its own rounding cannot make it too small


class ParamRounding(enum.Enum):
    """How the parameter is rounded into its storage format after each step.

    * ``NEAREST``: round to nearest, ties to even (every framework's default).
    * ``STOCHASTIC``: stochastic rounding to bfloat16 (torchao's ``bf16_stochastic_round``, optimi):
      the float32 result x is stored as the neighbouring bfloat16 value away from zero with probability
      equal to x's fractional position between its two neighbours (adding 16 random bits to the
      float32 pattern and truncating), else as the neighbour nearer zero. One rounding then errs by
      less than one full spacing (2u relative), not half; :mod:`adamw_oracle.verify.stochastic` judges
      the distribution.
    """

    NEAREST = "nearest"
    STOCHASTIC = "stochastic"


class ParamSummation(enum.Enum):
    """How the step's change d = p_new - p is added to the stored parameter.

    * ``PLAIN``: p <- fl(p + d), the parameter alone carries the value.
    * ``KAHAN``: compensated summation (torch-optimi's ``kahan_sum`` for bfloat16/float16 parameters):
      a compensation buffer c in the parameter's format keeps what the last rounding lost,
      ``y = fl(c + d); p' = fl(p + y); c' = fl(y - (p' - p))``, with d = -(update + decay) computed in
      the arithmetic from the stored p. The exact algorithm is the exact update (compensation is a
      rounding-reduction method: in exact arithmetic c stays 0), so the reference and symbolic layers
      are unchanged; the *high-precision value* p + c is what the judge compares with the exact
      parameter, under a bound that grows with |d| instead of |p| (:mod:`adamw_oracle.verify.kahan`).
      An implementation reports c after every step in ``Observation.compensation``.

      Where the decoupled decay goes is :attr:`PrecisionModel.decay_compensated`: inside d (the
      kernels' form, the default), or applied to the stored parameter before the compensated update,
      ``p <- fl(p - decay)`` (torch-optimi's ``param.mul_(1 - lr*wd)``), which rounds the decayed
      parameter as plain storage does: the bound then grows by ``u_P |p|`` at every step with a decay.
    """

    PLAIN = "plain"
    KAHAN = "kahan"


@dataclass(frozen=True)
class FormatCost:
    """Float64 views of one format's rounding constants (used on the hot path of the bound)."""

    name: str
    dtype: Dtype
    unit_roundoff: float
    underflow: float  # eta: absolute error floor of one rounding (half the smallest subnormal, at least 2**-1074)
    largest: float
    fmt: FloatFormat

    @classmethod
    def of(cls, dtype: Dtype) -> FormatCost:
        fmt = dtype.format
        eta = max(float(fmt.smallest_subnormal / 2), 2.0**-1074)
        return cls(dtype.value, dtype, float(fmt.unit_roundoff), eta, float(fmt.largest), fmt)

    @classmethod
    def stochastic(cls, dtype: Dtype) -> FormatCost:
        """The cost of one stochastic rounding into ``dtype``: less than one full spacing, so twice the
        unit roundoff and the whole smallest subnormal (a distinct name: never the arithmetic format)."""
        cost = cls.of(dtype)
        return replace(cost, name=f"{dtype.value}~stochastic", unit_roundoff=2 * cost.unit_roundoff,
                       underflow=max(float(dtype.format.smallest_subnormal), 2.0**-1074))


@dataclass(frozen=True)
class PrecisionModel:
    """The formats of arithmetic, state storage and parameter storage of a correct implementation."""

    arithmetic: Dtype
    state: Dtype
    param: Dtype
    scalars: Dtype | None = None
    param_rounding: ParamRounding = ParamRounding.NEAREST
    param_summation: ParamSummation = ParamSummation.PLAIN
    #: under Kahan summation: whether the decoupled decay is part of the compensated change d (True, the
    #: kernels' form) or multiplies the stored parameter before the compensated update (False: torch-optimi)
    decay_compensated: bool = True
    #: whether the parameter update reads m, v (and vmax) back from their storage after storing them:
    #: with M_t = st(m_t), V_t = st(v_t) (st: one rounding into the state format) the implementation
    #: computes ``p_t = p_{t-1} - decay - lr_t * (M_t/bc1) / (sqrt(V~_t) + eps)``, V~_t from V_t (or the
    #: stored maximum st(vmax_t)) exactly as the contract's update takes v~ from v. torch's for-loop and
    #: foreach Adam/AdamW paths do (each step is separate tensor ops, each result stored in the tensor's
    #: dtype: ``exp_avg_sq.mul_(beta2).addcmul_(...)``, then ``denom = exp_avg_sq.sqrt() / bc2_sqrt + eps``
    #: from the stored tensor); a fused kernel that divides by its unrounded working v does not. The
    #: per-step judge (:mod:`adamw_oracle.verify.resync`) then judges the parameter against the update
    #: computed from the observed stored M_t, V_t (exact binary numbers, bound 0) and judges M_t, V_t
    #: against the one-step reference as before; the trajectory judge ignores it.
    reads_back_state: bool = False

    def __post_init__(self) -> None:
        for name in ("arithmetic", "state", "param"):
            object.__setattr__(self, name, Dtype.parse(getattr(self, name), name))
        rounding = parse_choice(ParamRounding, self.param_rounding, "param_rounding")
        object.__setattr__(self, "param_rounding", rounding)
        summation = parse_choice(ParamSummation, self.param_summation, "param_summation")
        object.__setattr__(self, "param_summation", summation)
        if summation is ParamSummation.KAHAN and rounding is ParamRounding.STOCHASTIC:
            raise InvalidArgumentError("param_summation", summation.value, "plain with stochastic rounding")
        if not isinstance(self.decay_compensated, bool):
            raise InvalidArgumentError("decay_compensated", self.decay_compensated, "True or False")
        if not isinstance(self.reads_back_state, bool):
            raise InvalidArgumentError("reads_back_state", self.reads_back_state, "True or False")
        if not self.decay_compensated and summation is not ParamSummation.KAHAN:
            raise InvalidArgumentError("decay_compensated", False, "True unless param_summation is kahan")
        if rounding is ParamRounding.STOCHASTIC and not (
                self.param is Dtype.BFLOAT16 and self.arithmetic.format.precision > self.param.format.precision):
            raise InvalidArgumentError("param_rounding", rounding.value,
                                       "nearest unless bfloat16 parameters are computed in a wider arithmetic")
        if self.scalars is None:
            half = self.arithmetic in (Dtype.FLOAT16, Dtype.BFLOAT16)
            object.__setattr__(self, "scalars", Dtype.FLOAT32 if half else self.arithmetic)
        else:
            object.__setattr__(self, "scalars", Dtype.parse(self.scalars, "scalars"))

    @classmethod
    def conservative(cls, dtype: Dtype | str) -> PrecisionModel:
        """Everything in the case's dtype (the default)."""
        d = Dtype.parse(dtype)
        return cls(d, d, d)

    @classmethod
    def mixed(cls, dtype: Dtype | str) -> PrecisionModel:
        """Float32 arithmetic and state for half-precision parameters; else the conservative model."""
        d = Dtype.parse(dtype)
        if d in (Dtype.FLOAT16, Dtype.BFLOAT16):
            return cls(Dtype.FLOAT32, Dtype.FLOAT32, d)
        return cls(d, d, d)

    @classmethod
    def float32_arithmetic(cls, dtype: Dtype | str) -> PrecisionModel:
        """Float32 arithmetic and state for parameters of ``dtype`` (float64 included)."""
        return cls(Dtype.FLOAT32, Dtype.FLOAT32, Dtype.parse(dtype))

    @classmethod
    def stochastic(cls, dtype: Dtype | str = Dtype.BFLOAT16) -> PrecisionModel:
        """Float32 arithmetic and state with stochastic rounding of bfloat16 parameters (for any other
        dtype: :meth:`mixed`, which has no stochastic form)."""
        d = Dtype.parse(dtype)
        if d is not Dtype.BFLOAT16:
            return cls.mixed(d)
        return cls(Dtype.FLOAT32, Dtype.FLOAT32, d, param_rounding=ParamRounding.STOCHASTIC)

    @classmethod
    def kahan(cls, dtype: Dtype | str, *, decay_compensated: bool = True) -> PrecisionModel:
        """:meth:`mixed` with the parameter kept by compensated (Kahan) summation (``decay_compensated``:
        see :class:`ParamSummation`)."""
        return replace(cls.mixed(dtype), param_summation=ParamSummation.KAHAN, decay_compensated=decay_compensated)

    def param_cost(self) -> FormatCost:
        """The cost of storing the parameter: one rounding to nearest, or one stochastic rounding."""
        if self.param_rounding is ParamRounding.STOCHASTIC:
            return FormatCost.stochastic(self.param)
        return FormatCost.of(self.param)

    def rounds_on_load(self, stored: Dtype) -> bool:
        """Whether a value held in ``stored`` is rounded when the arithmetic reads it (a finer format)."""
        return stored.format.precision > self.arithmetic.format.precision

    def describe(self) -> str:
        if self.arithmetic == self.state == self.param:
            text = f"{self.param.value} arithmetic and storage"
        elif self.rounds_on_load(self.param):
            text = f"{self.arithmetic.value} arithmetic and {self.state.value} state for {self.param.value} parameters"
        else:
            text = f"{self.arithmetic.value} arithmetic, {self.state.value} state, {self.param.value} parameters"
        assert self.scalars is not None
        if self.scalars != self.arithmetic:
            text += f", {self.scalars.value} scalars"
        if self.param_rounding is ParamRounding.STOCHASTIC:
            text += ", parameters rounded stochastically"
        if self.param_summation is ParamSummation.KAHAN:
            text += ", parameters kept with Kahan compensation"
            if not self.decay_compensated:
                text += " (decoupled decay applied to the stored parameter)"
        if self.reads_back_state:
            text += ", the update reads the stored m and v back"
        return text

    def reading_back(self) -> PrecisionModel:
        """This model with :attr:`reads_back_state` declared."""
        return replace(self, reads_back_state=True)


@lru_cache(maxsize=4096)
def hyperparameter_error(value: Fraction, arithmetic: Dtype) -> float:
    """Bound on |h' - h| for a hyperparameter h that a framework receives as a Python float.

    ``h' `` is either fl64(h) (a double scalar) or fl_a(fl64(h)) (the scalar cast to the arithmetic
    dtype); the bound is the larger of the two exact errors, so it covers both.
    """
    as_double = Fraction(float(value))
    in_arith = arithmetic.format.round(as_double)
    if not isinstance(in_arith, Fraction):
        return float("inf")
    worst = max(abs(as_double - value), abs(in_arith - value))
    return float(worst) * _UP


def inflate(x: float) -> float:
    """Round a float64-computed error bound upwards by a relative 2**-50."""
    return x * _UP
