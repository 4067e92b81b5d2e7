"""The lambdified symbolic step against the reference layer, for every convention of the contract.

Agreement is judged without a chosen tolerance: both layers evaluate in interval arithmetic at the same
precision, and two enclosures of the same exact value must intersect; each layer's 256-bit point value
must also lie in its own enclosure, so the two point values differ by at most the enclosures' width.
"""
from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from adamw_oracle import OptimizerConfig, Run, exact_state, preset
from adamw_oracle.contract.conventions import Conventions, EpsPlacement, Family, WeightDecay, all_conventions
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference import ADAM_FIELDS, SGD_FIELDS, IntervalBackend, PointBackend, run_trajectory
from adamw_oracle.symbolic import adam_step, interval_step, lambdified_step, sgd_step
from adamw_oracle.symbolic.enclosure import contains, intersects, width

CONVENTIONS = all_conventions()
PREC = 256


def _ratio(max_num: int, max_den: int, *, signed: bool = True, min_num: int | None = None) -> st.SearchStrategy[Fraction]:
    low = -max_num if signed else (0 if min_num is None else min_num)
    return st.builds(Fraction, st.integers(low, max_num), st.integers(1, max_den))


def _unit_interval(den: int) -> st.SearchStrategy[Fraction]:
    """[0, 1) with denominators up to ``den``, plus float32 values (exact binary fractions)."""
    decimal = st.integers(0, den - 1).map(lambda k: Fraction(k, den))
    binary = st.floats(0, 0.99951171875, width=32).map(Fraction)
    return st.one_of(decimal, binary)


@st.composite
def configs(draw: st.DrawFn, conv: Conventions) -> OptimizerConfig:
    """Admissible hyperparameters for ``conv`` (ranges of contract/hyperparameters.py)."""
    h: dict[str, object] = {
        "lr": draw(st.integers(1, 10**6)) * Fraction(1, 10**6) * draw(st.sampled_from([1, 1000])),
        "schedule_multiplier": draw(st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(3, 7), Fraction(0)])),
    }
    if conv.family is Family.ADAM:
        h["beta1"] = draw(_unit_interval(1000))
        h["beta2"] = draw(_unit_interval(10**4))
        h["eps"] = draw(st.sampled_from([Fraction(1, 10**8), Fraction(1, 10**3), Fraction(1, 2**20), Fraction(1)]))
        if conv.eps_placement is EpsPlacement.INSIDE_ROOT:
            h["eps_root"] = draw(st.sampled_from([Fraction(0), Fraction(1, 10**8), Fraction(1, 10)]))
    else:
        h["momentum"] = draw(st.sampled_from([Fraction(0), Fraction(9, 10), Fraction(1, 3), Fraction(1)]))
        h["dampening"] = draw(st.sampled_from([Fraction(0), Fraction(1, 10), Fraction(1)]))
        h["nesterov"] = bool(h["momentum"] and not h["dampening"] and draw(st.booleans()))
    if conv.weight_decay is not WeightDecay.NONE:
        h["weight_decay"] = draw(st.integers(0, 1000)) * Fraction(1, 1000)
    return OptimizerConfig(conv, Hyperparameters(**h))


@st.composite
def states(draw: st.DrawFn) -> tuple[Fraction, Fraction, Fraction, Fraction, Fraction, int]:
    """One element's (p, g, m, v, vmax, t): signed p, g, m; v, vmax >= 0; early, seed-like and late t."""
    p = draw(_ratio(10**6, 10**4))
    g = draw(st.one_of(_ratio(10**6, 10**6), st.just(Fraction(0))))
    m = draw(_ratio(10**3, 10**3))
    v = draw(st.one_of(_ratio(10**3, 10**5, signed=False), st.just(Fraction(0))))
    vmax = draw(st.one_of(_ratio(10**3, 10**5, signed=False), st.just(v)))
    t = draw(st.one_of(st.integers(1, 20), st.sampled_from([1000, 1001, 10**5])))
    return p, g, m, v, vmax, t


def assert_layers_agree(config: OptimizerConfig, p, g, m, v, vmax, t: int) -> None:
    run = Run(config, (p,), ((g,),), exact_state(t - 1, [m], [v], [vmax]))
    ref_iv = run_trajectory(run, IntervalBackend(PREC)).steps[0][0]
    ref_pt = run_trajectory(run, PointBackend(PREC)).steps[0][0]
    sym_iv = interval_step(config)(p, g, m, v, vmax, t, prec=PREC)
    sym_pt = lambdified_step(config)(p, g, m, v, vmax, t, prec=PREC)
    fields = ADAM_FIELDS if config.conventions.family is Family.ADAM else SGD_FIELDS
    assert tuple(sym_pt) == fields
    for name in fields:
        r_iv, s_iv = getattr(ref_iv, name), sym_iv[name]
        where = f"{name} [{config.conventions.describe()}; p={p}, g={g}, m={m}, v={v}, vmax={vmax}, t={t}]"
        assert intersects(r_iv, s_iv), f"disjoint enclosures: reference {r_iv} vs symbolic {s_iv}: {where}"
        assert contains(s_iv, sym_pt[name]), f"symbolic point outside its enclosure: {where}"
        assert contains(r_iv, getattr(ref_pt, name)), f"reference point outside its enclosure: {where}"
        # Power of the test: the enclosures must be narrow enough to expose a formula difference far
        # below any float format's resolution (2^-128 relative to the operands' scale).
        scale = 1 + abs(Fraction(p)) + abs(Fraction(g)) + abs(Fraction(m)) + v + vmax
        assert width(s_iv) <= scale * Fraction(1, 2**128) * max(1, abs(_mid(s_iv))) * 10**6, where


def _mid(x) -> Fraction:
    from adamw_oracle.symbolic.enclosure import ends

    low, high = ends(x)
    return (low + high) / 2


@pytest.mark.parametrize("conv", CONVENTIONS, ids=[c.describe() for c in CONVENTIONS])
@settings(max_examples=2)
@given(data=st.data())
def test_every_convention_agrees_with_reference(conv: Conventions, data: st.DataObject) -> None:
    config = data.draw(configs(conv))
    assert_layers_agree(config, *data.draw(states()))


@given(data=st.data())
def test_presets_agree_with_reference_over_many_states(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["torch.Adam", "torch.AdamW", "optax.adamw"]))
    kwargs = {"lr": "0.001"} if name.startswith("optax") else {}
    assert_layers_agree(preset(name, **kwargs), *data.draw(states()))


def test_seed001_first_step_matches_seed_table() -> None:
    # seed 001 (t = 1, w = 0.8, g = -0.3, lr = 0.001, lambda = 0.01): w_1 = 0.800992 to 6 decimals
    out = lambdified_step(preset("torch.AdamW", lr="0.001", weight_decay="0.01"))(
        Fraction(4, 5), Fraction(-3, 10), 0, 0, 0, 1)
    assert mpmath.nstr(out["p_new"], 6) == "0.800992"
    enclosed = interval_step(preset("torch.AdamW", lr="0.001", weight_decay="0.01"))(
        Fraction(4, 5), Fraction(-3, 10), 0, 0, 0, 1)
    assert contains(enclosed["m_hat"], Fraction(-3, 10))  # seed 001: m_hat_1 = -0.3 exactly
    assert contains(enclosed["v_hat"], Fraction(9, 100))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_gradient_propagates_like_the_reference(bad: float) -> None:
    config = preset("torch.AdamW", lr="0.001", weight_decay="0.01")
    sym = lambdified_step(config)(Fraction(1, 2), bad, Fraction(1, 10), Fraction(1, 100), 0, 3)
    run = Run(config, (Fraction(1, 2),), ((bad,),), exact_state(2, [Fraction(1, 10)], [Fraction(1, 100)]))
    ref = run_trajectory(run, PointBackend(PREC)).steps[0][0]
    for name in ADAM_FIELDS:
        s, r = sym[name], getattr(ref, name)
        assert mpmath.isnan(s) == mpmath.isnan(r), name
        if not mpmath.isnan(s):
            assert s == r, name


def test_sgd_buffer_starts_from_the_gradient_at_t1() -> None:
    config = OptimizerConfig(Conventions(Family.SGD), Hyperparameters(lr="0.1", momentum="0.9", dampening="0.5"))
    fn = lambdified_step(config)
    first = fn(1, Fraction(2), Fraction(7), 0, 0, 1)
    assert first["m"] == 2  # torch: buffer = g' on the first step, stored buffer ignored
    later = interval_step(config)(1, Fraction(2), Fraction(7), 0, 0, 2)
    assert contains(later["m"], Fraction(73, 10))  # 0.9*7 + (1 - 0.5)*2 by hand


def test_evaluation_leaves_global_mpmath_precision_alone() -> None:
    before = mpmath.mp.prec
    lambdified_step(preset("torch.Adam"))(1, 1, 0, 0, 0, 1, prec=1000)
    assert mpmath.mp.prec == before


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda fn: fn(1, 1, 0, 0, 0, 0), "t"),
        (lambda fn: fn(1, 1, 0, 0, 0, 1.0), "t"),
        (lambda fn: fn(1, 1, 0, 0, 0, 1, prec=8), "prec"),
        (lambda fn: fn("abc", 1, 0, 0, 0, 1), "p"),
        (lambda fn: fn(1, 1, 0, Fraction(-1), 0, 1), "v"),
    ],
)
def test_bad_step_inputs_name_the_argument(call, argument: str) -> None:
    fn = lambdified_step(preset("torch.AdamW"))
    with pytest.raises(InvalidArgumentError) as info:
        call(fn)
    assert info.value.argument == argument


def test_bad_config_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="config"):
        lambdified_step("torch.AdamW")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["0.1", "x + 1", 0.1, True])
def test_symbolic_builders_never_parse_strings_or_floats(value) -> None:
    with pytest.raises(InvalidArgumentError):
        adam_step(Conventions(Family.ADAM), p=value)
    with pytest.raises(InvalidArgumentError):
        sgd_step(Conventions(Family.SGD), g=value, has_momentum=False, first_step=True)


def test_builder_refuses_the_wrong_family() -> None:
    with pytest.raises(InvalidArgumentError, match="family"):
        adam_step(Conventions(Family.SGD))


def test_symbolic_step_has_the_contract_fields() -> None:
    assert tuple(adam_step(Conventions(Family.ADAM))) == ADAM_FIELDS
    assert tuple(sgd_step(Conventions(Family.SGD), has_momentum=True, first_step=False)) == SGD_FIELDS
    assert sp.Symbol("theta", real=True) in adam_step(Conventions(Family.ADAM))["p_new"].free_symbols


def test_docstring_example() -> None:
    import doctest

    import adamw_oracle.symbolic.lambdified as module

    assert doctest.testmod(module).failed == 0


@given(data=st.data())
def test_agrees_with_reference_on_the_shared_fuzz_domain(data: st.DataObject) -> None:
    # the public strategies encode the project's domain policy (edge learning rates, eps = 10,
    # near-eps and huge gradients, seeded states); every such case must agree too
    from adamw_oracle import strategies
    from adamw_oracle.contract.dtypes import Dtype

    config = data.draw(strategies.configs())
    dtype = data.draw(strategies.dtypes([Dtype.FLOAT64, Dtype.FLOAT32]))
    state = data.draw(strategies.seeded_states(dtype, 1, config.conventions))
    [p] = data.draw(strategies.parameter_vectors(dtype, 1))
    [[g]] = data.draw(strategies.gradient_sequences(dtype, 1, 1))
    assert_layers_agree(config, p, g, state.m[0], state.v[0], state.vmax[0], state.step + 1)


def test_agreement_check_detects_a_tiny_formula_error(monkeypatch) -> None:
    # meta-test: a 1e-30 relative change of the symbolic p_new must make the comparison fail
    import adamw_oracle.symbolic.step as step_module
    from adamw_oracle.symbolic.lambdified import compiled_step

    correct = step_module.apply_decay

    def slightly_wrong(conv, p, update, hyper):
        decay, p_new = correct(conv, p, update, hyper)
        return decay, p_new + sp.Rational(1, 10**30) * update

    monkeypatch.setattr(step_module, "apply_decay", slightly_wrong)
    compiled_step.cache_clear()
    try:
        with pytest.raises(AssertionError, match="disjoint enclosures"):
            assert_layers_agree(preset("torch.AdamW"), Fraction(1, 3), Fraction(1, 7), Fraction(1, 5), Fraction(1, 9), 0, 4)
    finally:
        monkeypatch.undo()
        compiled_step.cache_clear()


def test_compiler_refuses_nodes_a_step_cannot_contain() -> None:
    from adamw_oracle.symbolic.compile import CompiledExpressions

    x = sp.Symbol("x", real=True)
    with pytest.raises(TypeError, match="sin"):
        CompiledExpressions({"y": sp.sin(x)}, [x])
    with pytest.raises(TypeError, match="free symbol"):
        CompiledExpressions({"y": x + sp.Symbol("z")}, [x])


def test_compiled_max_abs_and_powers_by_hand() -> None:
    from adamw_oracle.symbolic.compile import CompiledExpressions
    from adamw_oracle.symbolic.numbers import IntervalNumbers, PointNumbers

    x, y = sp.symbols("x y", real=True)
    n = sp.Symbol("n", integer=True, positive=True)
    exprs = {"max": sp.Max(x, y), "abs": sp.Abs(x), "pow": x**n, "root": 1 / sp.sqrt(y), "neg": -x / 3}
    compiled = CompiledExpressions(exprs, [x, y], [n])
    numbers = IntervalNumbers(128)
    out = compiled(numbers, [numbers.convert(Fraction(-3, 2)), numbers.convert(Fraction(4))], [3])
    # by hand: max(-3/2, 4) = 4, |-3/2| = 3/2, (-3/2)^3 = -27/8, 1/sqrt(4) = 1/2, 3/2/3 = 1/2
    expected = {"max": 4, "abs": Fraction(3, 2), "pow": Fraction(-27, 8), "root": Fraction(1, 2), "neg": Fraction(1, 2)}
    for name, value in expected.items():
        assert contains(out[name], value), name
    point = PointNumbers(64)
    assert mpmath.isnan(point.sqrt(point.convert(Fraction(-1))))
    assert mpmath.isnan(point.max(point.convert(Fraction(1)), point.ctx.nan))


def test_enclose_takes_exact_values_only() -> None:
    from adamw_oracle.symbolic.enclosure import enclose

    x = sp.Symbol("x")
    assert contains(enclose(x**2 / 7, {x: Fraction(1, 3)}), Fraction(1, 63))
    with pytest.raises(InvalidArgumentError, match="values"):
        enclose(x, {x: 0.5})  # type: ignore[dict-item]
