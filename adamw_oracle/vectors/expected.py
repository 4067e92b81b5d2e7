"""The expected numbers of one vector: certified roundings of the exact trajectory and per-element bounds.

For a case (run + dtype):

* the exact trajectory (p, and m, v for the Adam family; m for SGD with momentum) is enclosed in arb
  balls (:class:`~adamw_oracle.reference.arb_backend.ArbBackend`, the reference's own element steps);
  a value is *certified* when both ends of its ball round to the same value of the dtype (round to
  nearest, ties to even, gradual underflow, overflow to inf) and to the same ``DIGITS``-significant-digit
  decimal; otherwise the run is repeated at twice the precision. An exact tie between two dtype values
  or an exact 0 never settles that way; from ``EXACT_PREC`` bits on such a value is decided by its
  exact rational when it is rational (see :func:`certified`);
* the bound of every element is the error model's running bound
  (:func:`adamw_oracle.verify.error_model.tracked_constants` and the same element steps on
  :class:`~adamw_oracle.verify.tracked.Tracked` numbers, conservative precision model, times the judge's
  ``SLACK``), expressed as an integer number of representable steps: an observed value passes when
  ``ulp_distance(observed, expected) <= ulps``, where ``ulps`` counts the representable values between
  the expected pattern and the farthest one inside ``[exact - SLACK*e, exact + SLACK*e]``;
* an element whose bound the error model cannot derive (an ill-conditioned divisor, a possible overflow)
  is *acceptable*: any finite value is tolerated, and the reason is recorded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import FormatCost, ParamSummation, PrecisionModel
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import CertificationError
from adamw_oracle.reference.adam import adam_element_step
from adamw_oracle.reference.arb_backend import ArbBackend
from adamw_oracle.reference.backends import raw_mpf_to_fraction
from adamw_oracle.reference.digits import round_raw_to_format, significant, significant_raw
from adamw_oracle.reference.sgd import sgd_element_step
from adamw_oracle.reference.trajectory import run_trajectory
from adamw_oracle.vectors.bits import ordinal, to_bits
from adamw_oracle.vectors.rational import exact_values
from adamw_oracle.verify.error_model import bounded_trajectory, tracked_constants
from adamw_oracle.verify.judge import SLACK
from adamw_oracle.verify.kahan import kahan_bounds
from adamw_oracle.verify.tracked import ILL, NONFINITE, OVERFLOW, RunningErrorBackend, Tracked, bound_proves

DIGITS = 21
"""Significant digits of the exact decimals (float64 needs 17 to identify a value; 21 leave a margin)."""

START_PREC = 128
EXACT_PREC = 512
MAX_PREC = 2048


@dataclass(frozen=True)
class Expected:
    """One quantity of one element after one step: certified rounding, exact decimal, tolerance.

    ``bits`` is the correctly rounded pattern; ``ulps`` is None when the element is acceptable
    (ill-conditioned), ``why`` then says why.
    """

    bits: int
    decimal: str
    ulps: int | None
    why: str | None = None
    #: ``highPrecision`` entries (Kahan variant): the bound on |p + c - exact| (None: acceptable)
    bound: float | None = None


def quantities(run: Run) -> tuple[str, ...]:
    """The quantities a vector of ``run`` lists: p, and the moments the convention has."""
    if run.config.conventions.family is Family.ADAM:
        return ("p", "m", "v")
    return ("p", "m") if run.config.hyper.momentum != 0 else ("p",)


Value = tuple[Fraction | float, str]  # (correctly rounded value in the dtype, certified decimal)


def certified(run: Run, dtype: Dtype, names: tuple[str, ...] | None = None, *,
              with_decimal: bool | None = None) -> list[dict[str, list[Value]]]:
    """Per step and quantity (default: :func:`quantities`): (rounded value, decimal) per element.

    An enclosure that has not settled by ``EXACT_PREC`` bits is decided by the value's exact rational
    (:mod:`adamw_oracle.vectors.rational`) when it has one: an exact tie between two values of the dtype
    (m = (1 - beta1)*g for a subnormal g = k*2**-149 with k = 5 (mod 10) is exactly half a quantum) or
    an exact 0 (a moment that cancels) never settles otherwise. Irrational values only get more bits.
    """
    wanted = names if names is not None else quantities(run)
    decimals = names is None if with_decimal is None else with_decimal
    exact: list[dict[str, list[Fraction | None]]] | None = None
    prec = START_PREC
    while True:
        backend = ArbBackend(prec)
        with backend.scope():
            steps = run_trajectory(run, backend).steps
            out: list[dict[str, list[Value]]] = []
            for k, row in enumerate(steps):
                certified_row: dict[str, list[Value]] = {}
                for name in wanted:
                    values = []
                    for i, element in enumerate(row):
                        ball = element.p_new if name == "p" else getattr(element, name)
                        value = _settled(ball, dtype, with_decimal=decimals)
                        if value is None and prec >= EXACT_PREC and ball.is_finite():
                            exact = exact if exact is not None else exact_values(run, wanted)
                            value = _from_exact(exact[k][name][i], dtype)
                        if value is None:
                            break
                        values.append(value)
                    if len(values) < len(row):
                        break
                    certified_row[name] = values
                if len(certified_row) < len(wanted):
                    break
                out.append(certified_row)
        if len(out) == len(steps):
            return out
        if prec >= MAX_PREC:
            raise CertificationError(f"could not certify the roundings of run {run.name!r} with {MAX_PREC} bits")
        prec *= 2


def rounded_params(run: Run, dtype: Dtype) -> list[list[Fraction | float]]:
    """Per step: the correctly rounded parameters of ``run`` in ``dtype`` (no decimals, no moments)."""
    return [[value for value, _ in row["p"]] for row in certified(run, dtype, ("p",))]


RawMpf = tuple  # (sign, man, exp, bc), as reference.digits takes it


def raw_ends(ball: Any) -> tuple[RawMpf, RawMpf]:
    """The exact ends mid - rad and mid + rad of a finite arb ball as raw (sign, man, exp, bc) tuples."""
    mid_man, mid_exp = (int(x) for x in ball.mid().man_exp())
    rad_man, rad_exp = (int(x) for x in ball.rad().man_exp())
    if not rad_man:
        return _raw(mid_man, mid_exp), _raw(mid_man, mid_exp)
    if not mid_man:
        mid_exp = rad_exp
    exp = min(mid_exp, rad_exp)
    mid = mid_man << (mid_exp - exp)
    rad = rad_man << (rad_exp - exp)
    return _raw(mid - rad, exp), _raw(mid + rad, exp)


def _raw(man: int, exp: int) -> RawMpf:
    if not man:
        return (0, 0, 0, 0)
    return (1 if man < 0 else 0, abs(man), exp, abs(man).bit_length())


def _settled(ball: Any, dtype: Dtype, *, with_decimal: bool) -> Value | None:
    """(rounding, decimal) when both ends of ``ball`` agree on them; None otherwise."""
    if not ball.is_finite():
        return None
    low, high = raw_ends(ball)
    fmt = dtype.format
    fa = round_raw_to_format(low, fmt.precision, fmt.emin, fmt.emax)
    if fa != round_raw_to_format(high, fmt.precision, fmt.emin, fmt.emax):
        return None
    text = _decimal(low, high) if with_decimal else ""
    if text is None:
        return None
    return (Fraction(fa) if math.isfinite(fa) else fa), text


def _from_exact(value: Fraction | None, dtype: Dtype) -> Value | None:
    """(rounding, decimal) of an exactly known value: the shortest of DIGITS .. DIGITS + 4 significant
    digits that is exact, else DIGITS digits rounded half to even."""
    if value is None:
        return None
    if value == 0:
        return Fraction(0), "0"
    for digits in range(DIGITS, DIGITS + 5):
        text = significant(value, digits)
        if Fraction(text) == value:
            return dtype.format.round(value), text
    return dtype.format.round(value), significant(value, DIGITS)


def _decimal(low: RawMpf, high: RawMpf) -> str | None:
    """The shortest of ``DIGITS`` .. ``DIGITS + 4`` significant digits on which both ends agree.

    An exact value that is itself a decimal lying halfway between two ``DIGITS``-digit strings (m = 0.1*g
    for a float32 g often is) can never be certified to ``DIGITS`` digits; one more digit settles it.
    """
    for digits in range(DIGITS, DIGITS + 5):
        text = significant_raw(low, digits)
        if text == significant_raw(high, digits):
            return text
    return None


def tracked_rows(case: Case) -> list[dict[str, list[Tracked]]]:
    """Per step: the running-error numbers (exact value, bound, flags) of p, m, v per element.

    The same loop as :func:`adamw_oracle.verify.error_model.bounded_trajectory` under the conservative
    model (arithmetic, state and parameters in the case's dtype), keeping the state too.
    """
    precision = PrecisionModel.conservative(case.dtype)
    arith = FormatCost.of(precision.arithmetic)
    backend = RunningErrorBackend(arith, 200)
    assert precision.scalars is not None
    scalars = backend.sibling(FormatCost.of(precision.scalars))
    run = case.run
    conv, hyper = run.config.conventions, run.config.hyper
    st = run.initial_state
    assert st is not None
    params = [backend.exact(x) for x in run.initial_params]
    m = [backend.exact(x) for x in st.m]
    v = [backend.exact(x) for x in st.v]
    vmax = [backend.exact(x) for x in st.vmax]
    rows: list[dict[str, list[Tracked]]] = []
    for k, grads in enumerate(run.gradients):
        t = st.step + k + 1
        consts = tracked_constants(scalars, run.config_at(k), t)
        g = [backend.exact(x) for x in grads]
        if conv.family is Family.ADAM:
            steps = [adam_element_step(backend, consts, conv, *args) for args in zip(params, g, m, v, vmax)]
            v = [_present(e.v) for e in steps]
            vmax = [_present(e.vmax) for e in steps]
        else:
            steps = [sgd_element_step(backend, consts, conv, p, gi, b, first_step=t == 1, nesterov=hyper.nesterov,
                                      has_momentum=hyper.momentum != 0) for p, gi, b in zip(params, g, m)]
        m = [e.m for e in steps]
        params = [e.p_new for e in steps]
        rows.append({"p": params, "m": m, "v": v})
    return rows


def _present(value: Tracked | None) -> Tracked:
    assert value is not None  # the Adam family always reports v and vmax
    return value


BOUND_REASON = "bound overflow: the slackened bound is inf, NaN or beyond the largest finite value"
"""Why an element whose bound overflowed without a flag (a long run's growing bound) is acceptable."""


def reason(flags: int) -> str:
    """Why an element is acceptable rather than valid (the judge's wording)."""
    if flags & NONFINITE:
        return "non-finite input"
    if flags & ILL:
        return "ill-conditioned divisor: its error bound exceeds 1/16 of itself"
    return "possible overflow: an intermediate may exceed the largest finite value"


def tolerance(exact: Fraction, expected: Fraction | float, bound: float, dtype: Dtype) -> int:
    """Representable steps from ``expected`` to the farthest value of ``dtype`` within ``bound`` of ``exact``."""
    if not isinstance(expected, Fraction):
        return 0
    allowed = Fraction(bound)
    e_ord = ordinal(to_bits(expected, dtype), dtype)
    hi_ord = _directed_ordinal(exact + allowed, dtype, up=False)
    lo_ord = _directed_ordinal(exact - allowed, dtype, up=True)
    return max(hi_ord - e_ord, e_ord - lo_ord, 0)


def _directed_ordinal(value: Fraction, dtype: Dtype, *, up: bool) -> int:
    """The ordinal of ``value`` rounded up (or down) to ``dtype``, saturating at the largest finite values.

    ``value`` is dyadic (an mpf plus a float64 bound), so it is rounded to nearest by integer arithmetic
    on its (man, exp) form and then moved one step when the nearest value lies on the wrong side.
    """
    fmt = dtype.format
    den = value.denominator
    exp = -(den.bit_length() - 1)
    assert den == 1 << -exp, "dyadic"
    man = abs(value.numerator)
    nearest = round_raw_to_format((1 if value < 0 else 0, man, exp, man.bit_length()), fmt.precision, fmt.emin, fmt.emax)
    largest = ordinal(to_bits(fmt.largest, dtype), dtype)
    if not math.isfinite(nearest):
        return largest if nearest > 0 else -largest
    position = ordinal(to_bits(Fraction(nearest), dtype), dtype)
    near = Fraction(nearest)
    if near != value and (near > value) != up:
        position += 1 if up else -1
    return max(-largest, min(largest, position))


def model_trajectory(case: Case, precision: PrecisionModel) -> list[dict[str, list[Expected]]]:
    """Per step: the :class:`Expected` of every element's parameter under ``precision`` (a variant's
    model, :mod:`adamw_oracle.vectors.variants`): the running bound of
    :func:`~adamw_oracle.verify.error_model.bounded_trajectory` (to nearest or stochastic rounding,
    values rounded when read from a finer format), or under Kahan summation the bounds of
    :func:`~adamw_oracle.verify.kahan.kahan_bounds`: ``p`` within the high-precision bound plus the
    compensation's, and ``highPrecision`` (the bound on |p + c - exact|)."""
    dtype = case.dtype
    values = certified(case.run, dtype, ("p",), with_decimal=True)
    kahan = precision.param_summation is ParamSummation.KAHAN
    if kahan:
        bounds = [list(row) for row in kahan_bounds(case, precision)]
    else:
        bounds = [[(bv, 0.0) for bv in row] for row in bounded_trajectory(case, precision).params]
    rows = []
    for value_row, bound_row in zip(values, bounds):
        params, high = [], []
        for (rounded, text), (bv, compensation) in zip(value_row["p"], bound_row):
            bits = to_bits(rounded, dtype)
            allowed, allowed_high = SLACK * (bv.bound + compensation), SLACK * bv.bound
            if bv.flags & (ILL | OVERFLOW | NONFINITE) or not math.isfinite(allowed) or not isinstance(bv.exact, Fraction):
                why = reason(bv.flags if bv.flags & (ILL | OVERFLOW | NONFINITE) else OVERFLOW)
                params.append(Expected(bits, text, None, why))
                high.append(Expected(bits, text, None, why))
                continue
            params.append(Expected(bits, text, tolerance(bv.exact, rounded, allowed, dtype)))
            high.append(Expected(bits, text, None, bound=allowed_high))
        rows.append({"p": params, "highPrecision": high} if kahan else {"p": params})
    return rows


def expected_trajectory(case: Case, precision: PrecisionModel | None = None) -> list[dict[str, list[Expected]]]:
    """Per step and quantity: the :class:`Expected` of every element of ``case`` (under the
    conservative model, or only the parameter under another ``precision``: :func:`model_trajectory`)."""
    if precision is not None and precision != PrecisionModel.conservative(case.dtype):
        return model_trajectory(case, precision)
    values = certified(case.run, case.dtype)
    tracked = tracked_rows(case)
    dtype = case.dtype
    largest = float(dtype.format.largest)
    rows = []
    for value_row, tracked_row in zip(values, tracked):
        row: dict[str, list[Expected]] = {}
        for name, items in value_row.items():
            out = []
            for (rounded, text), tr in zip(items, tracked_row[name]):
                bits = to_bits(rounded, dtype)
                if tr.flags & (ILL | OVERFLOW | NONFINITE):
                    out.append(Expected(bits, text, None, reason(tr.flags)))
                    continue
                if not bound_proves(SLACK * tr.e, largest):  # inf, NaN or beyond the dtype's range
                    out.append(Expected(bits, text, None, BOUND_REASON))
                    continue
                exact = raw_mpf_to_fraction(tr.x._mpf_)
                if not isinstance(exact, Fraction):
                    out.append(Expected(bits, text, None, reason(NONFINITE)))
                    continue
                out.append(Expected(bits, text, tolerance(exact, rounded, SLACK * tr.e, dtype)))
            row[name] = out
        rows.append(row)
    return rows
