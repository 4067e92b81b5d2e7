"""Cases outside the domain of a flush-to-zero target: some exact intermediate is subnormal.

XLA on the CPU (JAX, hence optax and Keras' JAX backend) runs with denormals flushed to zero: a result
below the smallest normal number becomes 0, and subnormal operands are read as 0 (verified here:
``jnp.asarray(1e-300) * 1e-10`` is 0.0 in float64, while numpy gives 1e-310). The error model assumes
gradual underflow, so on such cases it would blame the target for the platform's flushing; a bias
correction 1 - beta2^t that is subnormal in float16 even turns into a division by zero.

:func:`subnormal_intermediates` lists the quantities of a case whose exact value v satisfies
0 < |v| < smallest normal of the case's dtype: every per-element intermediate of the reference step
(g', m, v, m-hat, v-hat, vmax, denominator, update, decay, p_new), the products of the moments'
increment form (1-b1)(g' - m) and (1-b2)(g'^2 - v) (Keras's order, torch's lerp), and the scalars 1-b1, 1-b2,
1-b1^t, 1-b2^t, lr*wd, eps and eps_root (the Adam-only ones for Adam cases only). The checker sets a failing case aside (counted, reported)
when the target declares ``flushes_subnormals`` and this list is not empty.
"""
from __future__ import annotations

from fractions import Fraction

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.conventions import Family
from adamw_oracle.reference import PointBackend, mpf_to_fraction, run_trajectory

_FIELDS = ("g_used", "m", "v", "m_hat", "v_hat", "vmax", "denom", "update", "decay", "p_new")


def _one_minus_power(beta: Fraction, t: int, tiny: Fraction) -> Fraction:
    """1 - beta^t, exact for small t; 0 when it cannot be subnormal.

    For 0 <= beta < 1 and t >= 1, 1 - beta^t >= 1 - beta, so when 1 - beta is at least the smallest
    normal ``tiny`` no power is subnormal and none is formed: an exact beta^t at a seeded step such as
    10**12 has a numerator of ~10**13 digits. Otherwise (1 - beta itself subnormal) and t > 4096, it is
    -expm1(t log beta) at 256 bits, rounded to a Fraction (relative error below 2**-250: only a value
    within that of ``tiny`` could be misclassified).
    """
    if 0 <= beta and 1 - beta >= tiny:
        return Fraction(0)
    if t <= 4096 or not 0 <= beta < 1:
        return 1 - beta ** t
    import mpmath  # the reference's dependency; only for the rare half-precision beta close to 1

    ctx = mpmath.MPContext()
    ctx.prec = 256
    value = -ctx.expm1(t * ctx.log(ctx.mpf(beta.numerator) / beta.denominator))
    out = mpf_to_fraction(value)
    return out if isinstance(out, Fraction) else Fraction(0)


def subnormal_intermediates(case: Case, limit: int = 3, *, element: int | None = None,
                            step: int | None = None) -> list[str]:
    """Up to ``limit`` names of quantities whose exact value is subnormal in the case's dtype.

    With ``element`` (and ``step``, 1-based), only the per-step scalars and that element's own inputs
    and intermediates up to that step count: elements are updated independently, so a flushed
    subnormal elsewhere in the tensor cannot explain a failure there (a failing element of a 129-element
    case was set aside because another element started at 5e-324)."""
    tiny = case.dtype.format.smallest_normal
    found: list[str] = []

    def visit(name: str, value: object) -> None:
        if len(found) < limit and isinstance(value, Fraction) and value != 0 and abs(value) < tiny:
            found.append(f"{name} = {float(value):.3g}")

    h = case.run.config.hyper
    start = case.run.initial_state.step if case.run.initial_state else 0
    # an SGD case carries betas and eps (1e-8: subnormal in float16) that its step never reads
    adam = case.run.config.conventions.family is Family.ADAM
    if adam:
        visit("1-beta1", 1 - h.beta1)
        visit("1-beta2", 1 - h.beta2)
    visit("lr*wd", h.lr * h.weight_decay)
    if adam:
        visit("eps", h.eps)
        visit("eps_root", h.eps_root)
        for t in range(start + 1, start + case.run.steps + 1):
            visit(f"1-beta1^{t}", _one_minus_power(h.beta1, t, tiny))
            visit(f"1-beta2^{t}", _one_minus_power(h.beta2, t, tiny))
    if len(found) >= limit:
        return found
    if element is not None:
        last = case.run.steps if step is None else step
        visit(f"p0[element {element}]", _exact_input(case.run.initial_params[element]))
        for k in range(last):
            visit(f"g[step {k + 1}, element {element}]", _exact_input(case.run.gradients[k][element]))
    traj = run_trajectory(case.run, PointBackend(113))
    st = case.run.initial_state
    previous: list[tuple[Fraction | None, Fraction | None]] = [
        (Fraction(m), Fraction(v)) if st is not None and _exact(m) and _exact(v) else (None, None)
        for m, v in zip(st.m, st.v)] if st is not None else []
    b1, b2 = Fraction(h.beta1), Fraction(h.beta2)
    for k, row in enumerate(traj.steps):
        if element is not None and step is not None and k >= step:
            break
        for i, e in enumerate(row):
            if element is not None and i != element:
                continue
            for name in _FIELDS:
                value = getattr(e, name, None)
                if value is not None:
                    visit(f"{name}[step {k + 1}, element {i}]", mpf_to_fraction(value))
            # the increment form of the moments (Keras: m += (g - m)(1-b1), v += (g^2 - v)(1-b2); torch's
            # lerp): its product is an exact intermediate of that legitimate order, subnormal on its own
            g, m_new, v_new = (_fraction(getattr(e, n, None)) for n in ("g_used", "m", "v"))
            m_prev, v_prev = previous[i] if i < len(previous) else (None, None)
            if g is not None and m_prev is not None:
                visit(f"(1-beta1)(g-m)[step {k + 1}, element {i}]", (1 - b1) * (g - m_prev))
            if g is not None and v_prev is not None:
                visit(f"(1-beta2)(g^2-v)[step {k + 1}, element {i}]", (1 - b2) * (g * g - v_prev))
            if i < len(previous):
                previous[i] = (m_new, v_new)
            if len(found) >= limit:
                return found
    return found


def _exact(value: object) -> bool:
    return isinstance(value, (int, Fraction))


def _fraction(value: object) -> Fraction | None:
    """An exact value of the trajectory (None: absent or not finite)."""
    if value is None:
        return None
    try:
        out = mpf_to_fraction(value)
    except (ValueError, OverflowError, TypeError):
        return None
    return out if isinstance(out, Fraction) else None


def _exact_input(value: object) -> object:
    """An initial parameter or gradient as a Fraction (numpy float64 arrays hold floats; non-finite stays)."""
    if isinstance(value, Fraction):
        return value
    try:
        return Fraction(float(value))  # type: ignore[arg-type]
    except (OverflowError, ValueError, TypeError):
        return None
