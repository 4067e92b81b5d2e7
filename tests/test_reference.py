"""The reference step against independent hand derivations and against torch.optim.SGD run for real.

The hand derivations are written out in the comments; the GUIDE section-1 probe numbers are printed
there to 6-7 digits, so the exact results derived here are also checked against those printed values.
"""
from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest

from adamw_oracle import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    Hyperparameters,
    OptimizerConfig,
    Run,
    WeightDecay,
    constant_gradients,
    exact_state,
    preset,
)
from adamw_oracle.reference import PointBackend, mpf_to_fraction, reference_step, run_trajectory
from adamw_oracle.reference.digits import fixed, significant

F = Fraction


def adam(**conv: object) -> Conventions:
    return Conventions(Family.ADAM, **conv)


def final_p(config: OptimizerConfig, p: str, grads: list[str], state=None) -> Fraction:
    run = Run(config, (p,), tuple((g,) for g in grads), state)
    return mpf_to_fraction(run_trajectory(run, PointBackend(200)).steps[-1][0].p_new)


def close(x: Fraction, y: Fraction, bits: int = 180) -> bool:
    """|x - y| <= 2^-bits * max(1, |y|): agreement to the precision of a 200-bit point run."""
    return abs(x - y) <= F(1, 2**bits) * max(1, abs(y))


# --- eps placement probe: t=1, p=1, g=0.01, lr=1, eps=1, wd=0, betas 0.9/0.999 -----------------------
# m = 0.1*0.01 = 0.001, v = 0.001*0.0001 = 1e-7, bc1 = 0.1, bc2 = 0.001, m^ = 0.01, v^ = 1e-4.

def test_eps_after_root_probe() -> None:
    # update = m^/(sqrt(v^)+eps) = 0.01/(0.01+1) = 1/101, p = 100/101 = 0.990099...  (GUIDE: 0.990099)
    cfg = OptimizerConfig(adam(), Hyperparameters(lr="1", eps="1"))
    p = final_p(cfg, "1", ["0.01"])
    assert close(p, F(100, 101))
    assert fixed(p, 6) == "0.990099"


def test_epsilon_hat_probe() -> None:
    # update = lr*sqrt(bc2)/bc1 * m/(sqrt(v)+eps) = sqrt(0.001)/0.1 * 0.001/(sqrt(1e-7)+1)
    #        = 0.001*sqrt(0.1) / (1 + sqrt(1e-7)) = 0.000316127...   (sqrt(0.001)/0.1 = sqrt(0.1))  -> p = 0.999683872...  (GUIDE: 0.999684)
    cfg = OptimizerConfig(adam(eps_placement=EpsPlacement.EPSILON_HAT), Hyperparameters(lr="1", eps="1"))
    p = final_p(cfg, "1", ["0.01"])
    with mpmath.workprec(300):
        expected = 1 - mpmath.mpf("0.001") * mpmath.sqrt(mpmath.mpf("0.1")) / (1 + mpmath.sqrt(mpmath.mpf("1e-7")))
        assert close(p, mpf_to_fraction(expected))
    assert fixed(p, 6) == "0.999684"


def test_eps_inside_root_probe() -> None:
    # eps=0, eps_root=1: update = m^/sqrt(v^+1) = 0.01/sqrt(1.0001) -> p = 0.99000049998...  (GUIDE: 0.9900005)
    cfg = OptimizerConfig(adam(eps_placement=EpsPlacement.INSIDE_ROOT), Hyperparameters(lr="1", eps="0", eps_root="1"))
    p = final_p(cfg, "1", ["0.01"])
    with mpmath.workprec(300):
        assert close(p, mpf_to_fraction(1 - mpmath.mpf("0.01") / mpmath.sqrt(mpmath.mpf("1.0001"))))
    assert fixed(p, 7) == "0.9900005"


def test_no_bias_correction_probe() -> None:
    # bc = 1: update = m/(sqrt(v)+eps) = 0.001/(sqrt(1e-7)+1) -> p = 0.99900031612...  (GUIDE: 0.9990003)
    cfg = OptimizerConfig(adam(bias_correction=BiasCorrection.OFF), Hyperparameters(lr="1", eps="1"))
    p = final_p(cfg, "1", ["0.01"])
    with mpmath.workprec(300):
        assert close(p, mpf_to_fraction(1 - mpmath.mpf("0.001") / (mpmath.sqrt(mpmath.mpf("1e-7")) + 1)))
    assert fixed(p, 7) == "0.9990003"


# --- AMSGrad probe: lr=1, eps=0, g=1 then g=0 ----------------------------------------------------------
# step 1: m=0.1, v=0.001 (v^=1).  step 2: m=0.09, v=0.000999, bc1=0.19, bc2=0.001999, m^=0.09/0.19=9/19.
# MAX_RAW_V: vmax = 0.001, v~ = 0.001/0.001999 = 1000/1999, update = (9/19)/sqrt(1000/1999) = 0.669723...
# MAX_V_HAT: vmax = max(1, 0.000999/0.001999) = 1, update = 9/19 = 0.473684...

@pytest.mark.parametrize(("form", "printed"), [(AmsGrad.MAX_RAW_V, "0.669723"), (AmsGrad.MAX_V_HAT, "0.473684")])
def test_amsgrad_probe(form: AmsGrad, printed: str) -> None:
    cfg = OptimizerConfig(adam(amsgrad=form), Hyperparameters(lr="1", eps="0"))
    run = Run(cfg, ("0",), (("1",), ("0",)))
    second = run_trajectory(run, PointBackend(200)).steps[1][0]
    update = mpf_to_fraction(second.update)
    if form is AmsGrad.MAX_RAW_V:
        with mpmath.workprec(300):
            assert close(update, mpf_to_fraction(mpmath.mpf(9) / 19 / mpmath.sqrt(mpmath.mpf(1000) / 1999)))
    else:
        assert close(update, F(9, 19))
    assert fixed(update, 6) == printed


# --- decay scaling probe: g=0, p=2, lr=0.1, wd=0.01, one step ---------------------------------------
# With g=0 and no L2, m=0 and the update is 0: p_new = 2 - c*2 with c = lr*wd = 0.001 -> 1.998,
# c = wd = 0.01 -> 1.98. Under L2, g' = 0.02, m^ = 0.02, v^ = 0.0004, update = 0.1*0.02/(0.02+1e-8),
# p_new = 2 - 0.002/0.02000001 = 1.90000005 (about 1.9).

def test_decay_scaling_probe() -> None:
    hyper = Hyperparameters(lr="0.1", weight_decay="0.01")
    assert close(final_p(OptimizerConfig(adam(weight_decay=WeightDecay.DECOUPLED_LR), hyper), "2", ["0"]), F("1.998"))
    assert close(final_p(OptimizerConfig(adam(weight_decay=WeightDecay.DECOUPLED_UNSCALED), hyper), "2", ["0"]), F("1.98"))
    l2 = final_p(OptimizerConfig(adam(weight_decay=WeightDecay.COUPLED_L2), hyper), "2", ["0"])
    assert close(l2, 2 - F("0.002") / F("0.02000001"))
    # the paper's schedule scaling: s = 0.5 -> c = s*wd = 0.005 (not lr*s*wd): 2*(1-0.005) = 1.99
    sched = Hyperparameters(lr="0.1", weight_decay="0.01", schedule_multiplier="0.5")
    assert close(final_p(OptimizerConfig(adam(weight_decay=WeightDecay.DECOUPLED_SCHEDULE), sched), "2", ["0"]), F("1.99"))


# --- decay order probe: t=1, p=2, g=1, lr=1, wd=0.5, eps=0 -------------------------------------------
# update = m^/sqrt(v^) = 1 exactly. PREVIOUS_PARAM: 2 - 0.5*2 - 1 = 0. UPDATED_PARAM: q = 2-1 = 1,
# p_new = 1 - 0.5*1 = 0.5.

@pytest.mark.parametrize(("target", "expected"), [(DecayTarget.PREVIOUS_PARAM, F(0)), (DecayTarget.UPDATED_PARAM, F(1, 2))])
def test_decay_order_probe(target: DecayTarget, expected: Fraction) -> None:
    cfg = OptimizerConfig(adam(weight_decay=WeightDecay.DECOUPLED_LR, decay_target=target),
                          Hyperparameters(lr="1", eps="0", weight_decay="0.5"))
    assert close(final_p(cfg, "2", ["1"]), expected)


def test_seed000_mechanism_probe_separates_coupled_from_decoupled() -> None:
    # zero gradient, m=0, state.step=1000 (t=1001), lr=wd=0.1: AdamW gives exactly 1 - 0.01 for any v;
    # L2 gives 1 - 0.1*m^/(sqrt(v^)+1e-8) with m = 0.1*0.1 = 0.01, v = 0.999*v0 + 0.001*0.01.
    state = exact_state(1000, ["0", "0"], ["1", "0.0001"])
    run_w = Run(preset("torch.AdamW", lr="0.1", weight_decay="0.1"), ("1", "1"), constant_gradients(["0", "0"], 1), state)
    assert all(close(mpf_to_fraction(e.p_new), F("0.99"), bits=250) for e in run_trajectory(run_w).steps[0])
    run_l = run_w.replace(config=preset("torch.Adam", lr="0.1", weight_decay="0.1"))
    got = [mpf_to_fraction(e.p_new) for e in run_trajectory(run_l, PointBackend(200)).steps[0]]
    with mpmath.workprec(300):
        bc1, bc2 = 1 - mpmath.mpf("0.9") ** 1001, 1 - mpmath.mpf("0.999") ** 1001
        for v0, value in zip(("1", "0.0001"), got):
            v = mpmath.mpf("0.999") * mpmath.mpf(v0) + mpmath.mpf("0.001") * mpmath.mpf("0.01")
            expected = 1 - mpmath.mpf("0.1") * (mpmath.mpf("0.01") / bc1) / (mpmath.sqrt(v / bc2) + mpmath.mpf("1e-8"))
            assert close(value, mpf_to_fraction(expected))
    assert [fixed(x, 6) for x in got] == ["0.999204", "0.924126"]


def test_seed_anchor_is_exactly_the_closed_form() -> None:
    # With constant g = -0.3: m_t = -0.3(1-0.9^t), v_t = 0.09(1-0.999^t), so m^ = -0.3 and v^ = 0.09
    # exactly, sqrt(v^) = 0.3, and update = 0.001*(-0.3)/(0.3+1e-8) = -0.0003/0.30000001 at every step.
    # w_t = w_{t-1}(1 - 0.001*0.01) - update: a rational recursion, computed here with Fractions.
    u = F("-0.0003") / F("0.30000001")
    w = F("0.8")
    for _ in range(5):
        w = w * (1 - F("0.00001")) - u
    run = Run(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), ("0.8",), constant_gradients(["-0.3"], 5))
    p5 = mpf_to_fraction(run_trajectory(run, PointBackend(400)).steps[4][0].p_new)
    assert close(p5, w, bits=390)
    assert significant(w, 12) == "8.04959900634e-01"


def test_maximize_equals_negated_gradient() -> None:
    base = preset("torch.AdamW", lr="0.01", weight_decay="0.1")
    grads = (("0.3", "-0.2"), ("-0.1", "0.5"), ("0.25", "0"))
    negated = tuple(tuple(str(-F(g)) for g in row) for row in grads)
    a = run_trajectory(Run(base.replace(conventions=base.conventions.replace(maximize=True)), ("1", "-2"), grads))
    b = run_trajectory(Run(base, ("1", "-2"), negated))
    assert a.as_fractions() == b.as_fractions()


def test_reference_step_accepts_strings_and_binary_floats_and_keeps_mp_untouched() -> None:
    before = mpmath.mp.prec
    from_string = reference_step(preset("torch.AdamW"), ["0.5"], ["0.25"])
    from_float = reference_step(preset("torch.AdamW"), [0.5], [0.25])  # 0.5 and 0.25 are exact binary values
    assert mpf_to_fraction(from_string[0].p_new) == mpf_to_fraction(from_float[0].p_new)
    assert mpmath.mp.prec == before
    assert from_string[0].direction is None and from_string[0].v is not None
    sgd = reference_step(preset("torch.SGD", momentum="0.9"), ["1"], ["0.5"])
    assert sgd[0].v is None and mpf_to_fraction(sgd[0].direction) == F("0.5")


# --- SGD semantics against torch.optim.SGD, run for real in float64 ---------------------------------
# Every input is a dyadic rational with few bits (lr, momentum, dampening, wd in {1/2, 1/4, 1/8}), so
# every float64 operation of torch is exact for these five steps: torch must equal the reference exactly.

SGD_CASES = [
    {"momentum": "0"},
    {"momentum": "0.5"},
    {"momentum": "0.5", "dampening": "0.25"},
    {"momentum": "0.5", "nesterov": True},
    {"momentum": "0.5", "weight_decay": "0.25"},
    {"momentum": "0.5", "weight_decay": "0.125", "nesterov": True, "maximize": True},
]


@pytest.mark.parametrize("options", SGD_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_matches_torch_optim_sgd_exactly_on_dyadic_inputs(options: dict) -> None:
    torch = pytest.importorskip("torch")
    options = dict(options)
    maximize = options.pop("maximize", False)
    params = ["1", "-0.5", "0.75"]
    grads = [["0.5", "-0.25", "1"], ["0.25", "0.5", "-0.125"], ["-0.5", "0.125", "0.25"], ["1", "-1", "0"], ["0.125", "0.25", "-0.5"]]
    config = preset("torch.SGD", lr="0.5", maximize=maximize, **options)
    reference = run_trajectory(Run(config, tuple(params), tuple(tuple(r) for r in grads))).as_fractions()
    p = torch.tensor([float(x) for x in params], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.5, momentum=float(options.get("momentum", 0)), dampening=float(options.get("dampening", 0)),
                          weight_decay=float(options.get("weight_decay", 0)), nesterov=bool(options.get("nesterov", False)),
                          maximize=maximize)
    for k, row in enumerate(grads):
        p.grad = torch.tensor([float(g) for g in row], dtype=torch.float64)
        opt.step()
        assert [F(x) for x in p.detach().tolist()] == reference[k], f"step {k + 1}"
