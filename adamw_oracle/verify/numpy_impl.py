"""A plain numpy implementation of every convention of the contract, in several legitimate orders.

It is a third, independent implementation for the three-way fuzz (the reference and the GPU host
build being the other two) and the base the deliberately broken steps of
:mod:`adamw_oracle.verify.mutations` override one hook of. The equations are the contract's
(:mod:`adamw_oracle.contract.conventions`)::

    g' = (-g if maximize else g) + [wd*p if COUPLED_L2]
    m = b1*m + (1-b1)*g'            v = b2*v + (1-b2)*g'^2          bc_i = 1 - b_i^t (1 if OFF)
    AFTER_ROOT : update = lr_t * (m/bc1) / (sqrt(v~/bc2) + eps)     (v~: v or the AMSGrad max)
    INSIDE_ROOT: update = lr_t * (m/bc1) / (sqrt(v~/bc2 + eps_root) + eps)
    EPSILON_HAT: update = lr_t * sqrt(bc2)/bc1 * m / (sqrt(v~) + eps)
    FLOOR      : update = lr_t * (m/bc1) / max(sqrt(v~/bc2), eps)
    PREVIOUS_PARAM: p = p - c*p - update;   UPDATED_PARAM: q = p - update; p = q - c*q

The quantities carry the names the other layers use (``g_used``, ``m_hat``, ``v_hat``, ``v_tilde``,
``denom``, ``update``, ``decay``, ``p_new``); which per-step scalars exist, the choice of bc and the
factor of c are the contract's (:mod:`adamw_oracle.contract.scalars`), evaluated here in Python floats.

:class:`NumpyVariant` picks among orders real frameworks use (lerp for the moment, lr/bc1 folded
into one float64 step size, sqrt(v)/sqrt(bc2), p*(1-c), optax's lr*(direction + wd*p)). Arithmetic
is in the case's dtype for float64/float32; for float16/bfloat16 it is float32 with float32 state and
parameters rounded to the dtype after each step, or (``half_arithmetic="storage"``) every tensor
operation's result rounded to the half format, as torch does on the CPU (scalars stay float32).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from adamw_oracle.contract.capabilities import EVERY_CAPABILITY
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import AmsGrad, Conventions, DecayTarget, EpsPlacement, Family, WeightDecay
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.scalars import bias_corrected, decay_coefficient, decay_rule
from adamw_oracle.errors import InvalidArgumentError

NUMPY_DTYPES: dict[Dtype, Any] = {
    Dtype.FLOAT64: np.dtype(np.float64), Dtype.FLOAT32: np.dtype(np.float32),
    Dtype.FLOAT16: np.dtype(np.float16), Dtype.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
}

_CHOICES = {
    "moment_form": ("weighted", "lerp"),
    "decay_form": ("subtract", "scale", "optax"),
    "scalars": ("float64", "arithmetic"),
    "half_arithmetic": ("float32", "storage"),
    "arithmetic": ("native", "float32"),
    "param_rounding": ("nearest", "stochastic", "toward_zero", "away_from_zero"),
}


@dataclass(frozen=True)
class NumpyVariant:
    """One legitimate operation order (every combination computes the contract's equations).

    * ``moment_form``: ``weighted`` b*m + (1-b)*g, or ``lerp`` as torch computes lerp(m, g, 1-b):
      m + (1-b)*(g - m) when 1-b < 0.5, else g - (g - m)*b.
    * ``fold_step_size``: lr_t/bc1 (epsilon-hat: lr_t*sqrt(bc2)/bc1) computed once in float64.
    * ``split_sqrt``: sqrt(v~)/sqrt(bc2) + eps (torch) instead of sqrt(v~/bc2) + eps.
    * ``decay_form``: ``subtract`` p - c*p, ``scale`` p*(1 - c) (torch AdamW), ``optax``
      p - lr*(direction + wd*p) (DECOUPLED_LR on the previous parameter only; else ``subtract``).
    * ``scalars``: bias corrections in Python float64 or computed in the arithmetic dtype (Keras).
    * ``half_arithmetic``: float16/bfloat16 cases computed in ``float32`` with float32 state, or
      (``storage``) torch-CPU style: each tensor operation computed in float32 from float32 scalars and
      its result rounded to the half format (state kept in the half format).
    * ``arithmetic``: ``native`` (the case's dtype; float32 for half parameters) or ``float32``:
      float32 arithmetic and state for parameters of any dtype, float64 included (p and g are read
      as float32, the result is written back to the parameter's dtype), the precision model
      :meth:`~adamw_oracle.contract.precision.PrecisionModel.float32_arithmetic`.
    * ``param_rounding``: how a float32 result is stored into bfloat16 parameters: ``nearest`` (ties to
      even), ``stochastic`` (torchao's ``bf16_stochastic_round``: 16 random bits from a generator
      seeded with ``seed`` are added to the float32 pattern, which is then truncated), or the biased
      roundings ``toward_zero`` (truncation) and ``away_from_zero``, which are *not* correct (the
      frequency test of :mod:`adamw_oracle.verify.stochastic` must reject them). Other dtypes, and the
      ``storage`` half arithmetic, always round to nearest.
    * ``kahan``: the parameter is kept with compensated summation (torch-optimi's ``kahan_sum``): the
      step's change d = -(update + decay) is computed from the stored p, then
      ``y = c + d; p' = p + y; c' = y - (p' - p)``, each result rounded to the parameter's format
      (the compensation c is held in it); the observation carries c after every step.
    """

    moment_form: str = "weighted"
    fold_step_size: bool = False
    split_sqrt: bool = False
    decay_form: str = "subtract"
    scalars: str = "float64"
    half_arithmetic: str = "float32"
    arithmetic: str = "native"
    param_rounding: str = "nearest"
    seed: int = 0
    kahan: bool = False

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InvalidArgumentError(name, getattr(self, name), "one of " + ", ".join(allowed))

    def label(self) -> str:
        parts = [self.moment_form, self.decay_form, f"scalars-{self.scalars}"]
        if self.fold_step_size:
            parts.append("folded")
        if self.split_sqrt:
            parts.append("split-sqrt")
        if self.half_arithmetic == "storage":
            parts.append("half-arith")
        if self.arithmetic == "float32":
            parts.append("f32-arith")
        if self.param_rounding != "nearest":
            parts.append(f"{self.param_rounding}-rounding")
        if self.kahan:
            parts.append("kahan")
        return "/".join(parts)


class RunScalars:
    """A run's hyperparameters (Python floats) and ``s(x)``: a scalar as a 0-d array of the arithmetic dtype."""

    def __init__(self, case: Case, arith: np.dtype) -> None:
        self.h = case.hyper_floats()
        self.arith = arith

    def s(self, x: float) -> Any:
        return np.asarray(x, dtype=self.arith)


class NumpyImplementation:
    """Plain numpy Adam/AdamW/SGD/SGDW for every convention (an :class:`Implementation`).

    Hooks a mutation overrides: :meth:`gradient_used`, :meth:`bias_corrections`, :meth:`amsgrad`,
    :meth:`denominator`, :meth:`decay_coefficient`, :meth:`apply_decay`, :meth:`sgd_direction`,
    :meth:`square`. It honours every option and any seeded state (``capabilities``).
    """

    capabilities = EVERY_CAPABILITY
    #: whether :meth:`run` returns its state after every step (``Observation.step_states``: m, v, vmax
    #: and the step counter it holds, as torch's ``optimizer.state`` shows them), so ``check`` judges each
    #: step from it (:mod:`adamw_oracle.verify.resync`); off by default: a black box judged by trajectory
    exposes_state = False

    def __init__(self, variant: NumpyVariant | None = None, name: str | None = None) -> None:
        self.variant = variant or NumpyVariant()
        self.name = name or f"numpy[{self.variant.label()}]"
        self._round_to: np.dtype | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- driver ----------------------------------------------------------------------------------
    def formats(self, dtype: Dtype) -> tuple[np.dtype, np.dtype]:
        """(arithmetic dtype, parameter storage dtype): float32 arithmetic for half parameters."""
        store = NUMPY_DTYPES[dtype]
        if dtype in (Dtype.FLOAT16, Dtype.BFLOAT16) or self.variant.arithmetic == "float32":
            return np.dtype(np.float32), store
        return store, store

    def precision_model(self, dtype: Dtype | str) -> PrecisionModel:
        """The precision model of this variant's arithmetic for parameters of ``dtype``."""
        dtype = Dtype.parse(dtype)
        if self.variant.half_arithmetic == "storage" and dtype in (Dtype.FLOAT16, Dtype.BFLOAT16):
            return PrecisionModel.conservative(dtype)
        if self.variant.arithmetic == "float32":
            return PrecisionModel.float32_arithmetic(dtype)
        if self.variant.param_rounding != "nearest":
            return PrecisionModel.stochastic(dtype)
        if self.variant.kahan:
            return PrecisionModel.kahan(dtype)
        return PrecisionModel.mixed(dtype)

    def store_param(self, p: np.ndarray, store: np.dtype, arith: np.dtype, rng: np.random.Generator) -> np.ndarray:
        """The parameter after storage into ``store`` (as values of ``arith``), per ``param_rounding``."""
        rounding = self.variant.param_rounding
        if rounding == "nearest" or store != NUMPY_DTYPES[Dtype.BFLOAT16] or arith != np.float32 or self._round_to is not None:
            return p.astype(store).astype(arith)
        bits = np.ascontiguousarray(p, dtype=np.float32).view(np.uint32)
        if rounding == "stochastic":
            added = rng.integers(0, 1 << 16, size=bits.shape, dtype=np.uint32)
        else:
            added = np.full(bits.shape, 0 if rounding == "toward_zero" else 0xFFFF, dtype=np.uint32)
        finite = (bits & 0x7F800000) != 0x7F800000
        # the sign-magnitude pattern: adding to the dropped 16 bits carries away from zero
        rounded = ((bits + added) & np.uint32(0xFFFF0000)).view(np.float32)
        return np.where(finite, rounded, p.astype(store).astype(arith)).astype(arith)

    def tensor_op(self, x: np.ndarray) -> np.ndarray:
        """The result of one tensor operation: rounded to the half storage format in ``storage`` mode
        (as torch stores every op on half tensors after computing it in float32), else unchanged."""
        if self._round_to is None:
            return x
        return x.astype(self._round_to).astype(np.float32)

    def run(self, case: Case) -> Observation:
        arith, store = self.formats(case.dtype)
        half_storage_ops = self.variant.half_arithmetic == "storage" and store != arith
        self._round_to = store if half_storage_ops else None
        ctx = RunScalars(case, arith)
        run = case.run
        st = run.initial_state
        assert st is not None
        p = case.initial_params().astype(arith)
        m = np.array([float(x) for x in st.m], dtype=np.float64).astype(arith)
        v = np.array([float(x) for x in st.v], dtype=np.float64).astype(arith)
        vmax = np.array([float(x) for x in st.vmax], dtype=np.float64).astype(arith)
        grads = case.gradients()
        rng = np.random.default_rng(self.variant.seed)
        out = np.empty((run.steps, run.size), dtype=np.float64)
        kahan = self.variant.kahan
        adam = run.config.conventions.family is Family.ADAM
        shown = (("m", "v", "vmax") if adam else ("m",)) if self.exposes_state else ()
        step_states: dict[str, np.ndarray] = {key: np.empty((run.steps, run.size), dtype=np.float64) for key in shown}
        counter = np.empty(run.steps, dtype=np.float64)
        comp = np.zeros(run.size, dtype=arith)
        comp_out = np.empty((run.steps, run.size), dtype=np.float64) if kahan else None

        def stored(x: np.ndarray) -> np.ndarray:
            return x.astype(store).astype(arith)

        with np.errstate(all="ignore"):
            for k in range(run.steps):
                t = run.t_at(k)  # the run's counter, when it declares one
                if run.schedule is not None:
                    ctx.h = case.hyper_floats(k)  # this step's eta_t
                g = grads[k].astype(arith)
                if adam:
                    p_new, m, v, vmax = self.adam_step(ctx, run.config.conventions, p, g, m, v, vmax, t)
                else:
                    p_new, m = self.sgd_step(ctx, run.config.conventions, p, g, m, t)
                for key, held in zip(shown, (m, v, vmax)):
                    step_states[key][k] = held.astype(np.float64)
                counter[k] = self.step_counter(t)
                if kahan:  # p_new is the change d here (see apply_decay)
                    y = stored(comp + p_new)
                    moved = stored(p + y)
                    comp = stored(y - (moved - p))
                    p = moved
                    assert comp_out is not None
                    comp_out[k] = comp.astype(np.float64)
                else:
                    p = self.store_param(p_new, store, arith, rng)
                out[k] = p.astype(np.float64)
        state = {"m": m.astype(np.float64), "v": v.astype(np.float64), "vmax": vmax.astype(np.float64)}
        if kahan:
            state["compensation"] = comp.astype(np.float64)
        if shown:
            step_states["step"] = counter
        return Observation(out, state, compensation=comp_out, step_states=step_states)

    # -- hooks -------------------------------------------------------------------------------------
    def gradient_used(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        g_used = -g if conv.maximize else g
        if decay_rule(conv.weight_decay).gradient_term:
            g_used = g_used + ctx.s(ctx.h["weight_decay"]) * p
        return g_used

    def step_counter(self, t: int) -> float:
        return float(t)

    def bias_corrections(self, ctx: RunScalars, conv: Conventions, t: int) -> tuple[Any, Any]:
        """(bc1, bc2): 1 - beta**t when the contract's ``bias_corrected`` holds, else (1, 1)."""
        if not bias_corrected(conv):
            return 1.0, 1.0
        b1, b2 = ctx.h["beta1"], ctx.h["beta2"]
        tc = self.step_counter(t)
        if self.variant.scalars == "arithmetic":
            one = ctx.s(1.0)
            return one - np.power(ctx.s(b1), ctx.s(tc)), one - np.power(ctx.s(b2), ctx.s(tc))
        return 1.0 - b1**tc, 1.0 - b2**tc

    def amsgrad(self, ctx: RunScalars, conv: Conventions, v: np.ndarray, vmax: np.ndarray, bc2: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """(new vmax, the second moment the denominator uses, whether it is already bias-corrected):
        the second moment is v~ when corrected, else its raw form r (v~ = r / bc2)."""
        if conv.amsgrad is AmsGrad.MAX_RAW_V:
            vmax_new = np.maximum(vmax, v)
            return vmax_new, vmax_new, False
        if conv.amsgrad is AmsGrad.MAX_V_HAT:
            v_hat = v / ctx.s(bc2)
            vmax_new = np.maximum(vmax, v_hat)
            return vmax_new, vmax_new, True
        return vmax, v, False

    def denominator(self, ctx: RunScalars, conv: Conventions, second: np.ndarray, corrected: bool, bc2: Any) -> np.ndarray:
        """denom = sqrt(v~)+eps per convention; ``second`` is v~ when ``corrected``, else raw r."""
        eps = ctx.s(ctx.h["eps"])
        if conv.eps_placement is EpsPlacement.EPSILON_HAT:
            raw = second * ctx.s(bc2) if corrected else second
            return np.sqrt(raw) + eps
        if conv.eps_placement is EpsPlacement.INSIDE_ROOT:
            v_tilde = second if corrected else second / ctx.s(bc2)
            return np.sqrt(v_tilde + ctx.s(ctx.h["eps_root"])) + eps
        if conv.eps_placement is EpsPlacement.FLOOR:
            if corrected:
                root = np.sqrt(second)
            elif self.variant.split_sqrt:
                root = np.sqrt(second) / ctx.s(np.sqrt(bc2))
            else:
                root = np.sqrt(second / ctx.s(bc2))
            return np.maximum(root, eps)
        if corrected:
            return np.sqrt(second) + eps
        if self.variant.split_sqrt:
            return np.sqrt(second) / ctx.s(np.sqrt(bc2)) + eps
        v_tilde = second / ctx.s(bc2)
        return np.sqrt(v_tilde) + eps

    def decay_coefficient(self, ctx: RunScalars, conv: Conventions) -> float:
        """c of the contract (lr_t*wd, s*wd, wd or 0), in Python float64."""
        h = ctx.h
        s = h["schedule_multiplier"]
        lr_t = h["lr"] * s
        c: float = decay_coefficient(conv.weight_decay, lr_t=lr_t, schedule=s, weight_decay=h["weight_decay"], zero=0.0)
        return c

    def apply_decay(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, update: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """p_new from p and the update, with the decoupled decay (if any) in the variant's form; with
        Kahan summation the change d = -(update + decay) instead (subtract form)."""
        if self.variant.kahan:
            if not conv.weight_decay.is_decoupled:
                return -update
            c = ctx.s(self.decay_coefficient(ctx, conv))
            decay = c * (p - update) if conv.decay_target is DecayTarget.UPDATED_PARAM else c * p
            return -(update + decay)
        if not conv.weight_decay.is_decoupled:
            return p - update
        c = self.decay_coefficient(ctx, conv)
        form = self.variant.decay_form
        if conv.decay_target is DecayTarget.UPDATED_PARAM:
            q = p - update
            if form == "scale":
                return q * ctx.s(1.0 - c)
            decay = ctx.s(c) * q
            return q - decay
        if form == "scale":
            return p * ctx.s(1.0 - c) - update
        if form == "optax" and conv.weight_decay is WeightDecay.DECOUPLED_LR:
            h = ctx.h
            lr_t = ctx.s(h["lr"] * h["schedule_multiplier"])
            return p - lr_t * (direction + ctx.s(h["weight_decay"]) * p)
        decay = ctx.s(c) * p
        return p - decay - update

    def sgd_direction(self, ctx: RunScalars, conv: Conventions, g_used: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(direction, new momentum buffer) of torch.optim.SGD."""
        h = ctx.h
        mu = h["momentum"]
        if mu == 0:
            return g_used, buf
        if t == 1:
            buf = g_used
        else:
            buf = ctx.s(mu) * buf + ctx.s(1.0 - h["dampening"]) * g_used
        return (g_used + ctx.s(mu) * buf if h["nesterov"] else buf), buf

    def square(self, g_used: np.ndarray) -> np.ndarray:
        """g'^2 for the second moment (in the arithmetic dtype)."""
        return g_used * g_used

    # -- the two families --------------------------------------------------------------------------
    def moment(self, ctx: RunScalars, state: np.ndarray, x: np.ndarray, beta: float) -> np.ndarray:
        if self.variant.moment_form == "lerp":
            # torch's lerp(state, x, w): state + w*(x - state) for w < 0.5, else x - (x - state)*(1 - w)
            w = 1.0 - beta
            if w < 0.5:
                return state + ctx.s(w) * (x - state)
            return x - (x - state) * ctx.s(beta)
        return ctx.s(beta) * state + ctx.s(1.0 - beta) * x

    def adam_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                  vmax: np.ndarray, t: int) -> tuple[np.ndarray, ...]:
        h = ctx.h
        r = self.tensor_op
        g_used = r(self.gradient_used(ctx, conv, p, g))
        m = r(self.moment(ctx, m, g_used, h["beta1"]))
        if self.variant.moment_form == "lerp":
            v = r(r(v * ctx.s(h["beta2"])) + g_used * g_used * ctx.s(1.0 - h["beta2"]))
        else:
            v = r(ctx.s(h["beta2"]) * v + ctx.s(1.0 - h["beta2"]) * self.square(g_used))
        bc1, bc2 = self.bias_corrections(ctx, conv, t)
        vmax, second, corrected = self.amsgrad(ctx, conv, v, vmax, bc2)
        vmax = r(vmax)
        denom = r(self.denominator(ctx, conv, second, corrected, bc2))
        lr_t = h["lr"] * h["schedule_multiplier"]
        if conv.eps_placement is EpsPlacement.EPSILON_HAT:
            if self.variant.fold_step_size:
                update = ctx.s(lr_t * float(np.sqrt(bc2)) / float(bc1)) * (m / denom)
                direction = update  # the optax form is not combined with folding
            else:
                direction = ctx.s(np.sqrt(bc2)) / ctx.s(bc1) * m / denom
                update = ctx.s(lr_t) * direction
        elif self.variant.fold_step_size:
            update = ctx.s(lr_t / float(bc1)) * (m / denom)
            direction = update
        else:
            m_hat = m / ctx.s(bc1)
            direction = m_hat / denom
            update = ctx.s(lr_t) * direction
        p_new = self.apply_decay(ctx, conv, p, r(update), direction)
        return p_new, m, v, vmax

    def sgd_step(self, ctx: RunScalars, conv: Conventions, p: np.ndarray, g: np.ndarray, buf: np.ndarray, t: int) -> tuple[np.ndarray, ...]:
        h = ctx.h
        r = self.tensor_op
        g_used = r(self.gradient_used(ctx, conv, p, g))
        direction, buf = self.sgd_direction(ctx, conv, g_used, buf, t)
        direction, buf = r(direction), r(buf)
        update = r(ctx.s(h["lr"] * h["schedule_multiplier"]) * direction)
        p_new = self.apply_decay(ctx, conv, p, update, direction)
        return p_new, buf


CORRECT_VARIANTS: tuple[NumpyVariant, ...] = (
    NumpyVariant(),
    NumpyVariant(moment_form="lerp", fold_step_size=True, split_sqrt=True, decay_form="scale"),  # torch-like
    NumpyVariant(scalars="arithmetic", fold_step_size=True),  # Keras-like: scalars in the variable dtype
    NumpyVariant(decay_form="optax"),  # optax-like: u = -lr*(direction + wd*p)
    NumpyVariant(moment_form="lerp", split_sqrt=True, half_arithmetic="storage"),  # torch CPU on half tensors
    NumpyVariant(moment_form="lerp", decay_form="scale", arithmetic="float32"),  # float32 working copy of any param
    NumpyVariant(param_rounding="stochastic"),  # bfloat16 parameters rounded stochastically (torchao, optimi)
    NumpyVariant(moment_form="lerp", kahan=True),  # parameters kept with Kahan compensation (torch-optimi)
)
"""Legitimate operation orders; the judge must never flag any of them (zero false alarms)."""


def correct_implementations() -> list[NumpyImplementation]:
    """One :class:`NumpyImplementation` per entry of :data:`CORRECT_VARIANTS`."""
    return [NumpyImplementation(v) for v in CORRECT_VARIANTS]
