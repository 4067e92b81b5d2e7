"""The catalogue of golden traces: each trace is a list of labelled runs of the shared contract.

Every gradient and initial value is an exact rational (a decimal string, or a documented integer
formula divided by a power of ten), so every trace regenerates byte for byte on any machine.

Sources: the two seed documents (000: the AdamW mock interview, its mechanism demo and checks 1-6;
001: the AdamW article with the w=0.8, g=-0.3 anchor, its table and its lambda sweep) and issue 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import EpsPlacement, Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.presets import PRESETS, preset
from adamw_oracle.contract.run import Run, constant_gradients
from adamw_oracle.contract.state import exact_state
from adamw_oracle.reference.records import ADAM_FIELDS, SGD_FIELDS

TRACE_DIGITS = 30

ADAM_STORED = ("p", "g", *ADAM_FIELDS)
SGD_STORED = ("p", "g", *SGD_FIELDS)

# Markdown columns as (header, quantity); the seed 001 table's columns first.
SEED_COLUMNS = (("w", "p"), ("m̂", "m_hat"), ("v̂", "v_hat"), ("adam_upd", "update"), ("decay", "decay"), ("w_new", "p_new"))
L2_COLUMNS = (("w", "p"), ("g̃ = g + λw", "g_used"), *SEED_COLUMNS[1:])
STATE_COLUMNS = (("p", "p"), ("g", "g"), ("m", "m"), ("v", "v"), ("update", "update"), ("decay", "decay"), ("p_new", "p_new"))
SGD_COLUMNS = (("p", "p"), ("g'", "g_used"), ("buffer", "m"), ("direction", "direction"), ("update", "update"),
               ("decay", "decay"), ("p_new", "p_new"))


@dataclass(frozen=True)
class LabelledRun:
    """One run of a trace with the label its table shows.

    ``dtype`` and ``precision`` name the parameter format and the precision model the run illustrates
    (float32 arithmetic for float64 parameters, Kahan summation, stochastic rounding): the trace still
    holds the exact values (the algorithm of every precision model is the exact update), and for a
    half-precision ``dtype`` also each ``p_new``'s neighbours in it (see :mod:`adamw_oracle.traces.generate`).
    """

    label: str
    run: Run
    dtype: Dtype | None = None
    precision: PrecisionModel | None = None


@dataclass(frozen=True)
class TraceSpec:
    """A golden trace: runs, which steps and quantities are stored, and how the Markdown shows them.

    ``stored_steps`` are 0-based step indices (None: every step); ``columns`` are (header, quantity)
    pairs of the Markdown tables; ``table_digits`` significant digits are shown there (the JSON file
    holds ``TRACE_DIGITS``).
    """

    name: str
    title: str
    description: str
    runs: tuple[LabelledRun, ...]
    columns: tuple[tuple[str, str], ...] = SEED_COLUMNS
    stored_steps: tuple[int, ...] | None = None
    table_digits: int = 12

    def quantities(self, run: Run) -> tuple[str, ...]:
        """The quantities stored for ``run`` (every quantity of its family, inputs included)."""
        return ADAM_STORED if run.config.conventions.family is Family.ADAM else SGD_STORED


def _anchor(config: OptimizerConfig, steps: int = 5) -> Run:
    return Run(config, ("0.8",), constant_gradients(["-0.3"], steps))


def seed001_anchor_adamw() -> TraceSpec:
    return TraceSpec(
        "01_seed001_anchor_adamw",
        "Seed 001 anchor: five AdamW steps",
        "w=0.8, g=-0.3 at every step, lr=0.001, betas 0.9/0.999, eps=1e-8, weight_decay=0.01, torch.AdamW "
        "conventions (decay lr*wd*w on w(t-1), eps after sqrt(v-hat)). The seed's columns: w before the "
        "step, m-hat, v-hat, the adaptive update lr*m-hat/(sqrt(v-hat)+eps), the decay lr*wd*w and w_new.",
        (LabelledRun("AdamW", _anchor(preset("torch.AdamW", lr="0.001", weight_decay="0.01"))),),
    )


def seed001_anchor_adam_l2() -> TraceSpec:
    return TraceSpec(
        "02_seed001_anchor_adam_l2",
        "Seed 001 anchor under Adam + L2",
        "The same anchor with coupled L2 (torch.optim.Adam weight_decay=0.01): g~ = g + wd*w enters m and "
        "v, and no decoupled decay is applied (the decay column is 0). Seed 001 gives only the formula.",
        (LabelledRun("Adam+L2", _anchor(preset("torch.Adam", lr="0.001", weight_decay="0.01"))),),
        columns=L2_COLUMNS,
    )


def seed001_lambda_sweep() -> TraceSpec:
    runs = tuple(
        LabelledRun(f"weight_decay={wd}", _anchor(preset("torch.AdamW", lr="0.001", weight_decay=wd)))
        for wd in ("0", "0.01", "0.1", "1")
    )
    return TraceSpec(
        "03_seed001_lambda_sweep",
        "Seed 001 lambda sweep, correctly computed",
        "The anchor (w=0.8, g=-0.3, lr=0.001, five AdamW steps) for weight_decay in {0, 0.01, 0.1, 1}. "
        "The seed prints 0.804960 for both 0 and 0.01 and wrong values for 0.1 and 1 (see errata.md).",
        runs,
    )


def seed000_mechanism() -> TraceSpec:
    def demo(config: OptimizerConfig, steps_taken: int) -> Run:
        # Two parameters at 1 with v seeded to 1 and to 1e-4, m = 0, zero gradient, one step.
        return Run(config, ("1", "1"), constant_gradients(["0", "0"], 1), exact_state(steps_taken, ["0", "0"], ["1", "0.0001"]))

    l2 = preset("torch.Adam", lr="0.1", weight_decay="0.1")
    adamw = preset("torch.AdamW", lr="0.1", weight_decay="0.1")
    return TraceSpec(
        "04_seed000_mechanism",
        "Seed 000 mechanism demo: effective decay factors under L2 and AdamW",
        "lr = wd = 0.1, p = 1 for both parameters, m = 0, v seeded to 1 (element 0) and 1e-4 (element 1), "
        "zero gradient, one step. The seed sets opt.t = 1000 before step(), which increments t first, so "
        "the step taken is t = 1001 (state.step = 1000); with p = 1 the new p is the effective decay "
        "factor. The last run uses t = 1000 (state.step = 999) to show that the seed's printed factors "
        "belong to t = 1001, not to t = 1000.",
        (
            LabelledRun("L2 (torch.Adam), t=1001", demo(l2, 1000)),
            LabelledRun("AdamW (torch.AdamW), t=1001", demo(adamw, 1000)),
            LabelledRun("L2 (torch.Adam), t=1000 (not the seed's step)", demo(l2, 999)),
        ),
        columns=(("p", "p"), ("m", "m"), ("v", "v"), ("v̂", "v_hat"), ("update", "update"), ("decay", "decay"),
                 ("factor = p_new", "p_new")),
    )


def check6_inputs() -> tuple[tuple[Fraction, ...], tuple[tuple[Fraction, ...], ...]]:
    """Deterministic stand-ins for check 6's ``torch.randn`` draws (8 parameters, 10 steps).

    p0[i] = ((37*i + 11) mod 41 - 20) / 10 and g[k][i] = ((53*k + 29*i + 7) mod 61 - 30) / 20: exact
    rationals spread over [-2, 2] and [-1.5, 1.5], with both signs.
    """
    p0 = tuple(Fraction((37 * i + 11) % 41 - 20, 10) for i in range(8))
    grads = tuple(tuple(Fraction((53 * k + 29 * i + 7) % 61 - 30, 20) for i in range(8)) for k in range(10))
    return p0, grads


def seed000_checks() -> TraceSpec:
    p0, grads = check6_inputs()
    return TraceSpec(
        "05_seed000_checks",
        "Seed 000 checks 3-6 as traces",
        "Check 3: Adam, lr=0.01, p=5, g=0.37, first step moves p by about lr. Check 4: AdamW lr=0.1 "
        "wd=0.05, p=3, v seeded to 123 (t=1), zero gradient: p becomes exactly 3*(1-lr*wd) = 2.985 "
        "whatever v is. Check 5: Adam+L2 lr=0.1 wd=0.05, p=3, state.step=1000 (the step is t=1001), v=1, "
        "m=0, zero gradient: the factor differs from 1-lr*wd. Check 6: with wd=0, the L2 and the AdamW "
        "modes coincide; the seed draws p0 and ten gradients with torch.randn(8) (seed 7), which are not "
        "exact and depend on torch, so this trace uses the deterministic exact rationals of "
        "adamw_oracle.traces.catalogue.check6_inputs instead.",
        (
            LabelledRun("check 3: Adam lr=0.01", Run(preset("torch.Adam", lr="0.01"), ("5",), constant_gradients(["0.37"], 1))),
            LabelledRun("check 4: AdamW lr=0.1 wd=0.05, v=123",
                        Run(preset("torch.AdamW", lr="0.1", weight_decay="0.05"), ("3",), constant_gradients(["0"], 1),
                            exact_state(0, ["0"], ["123"]))),
            LabelledRun("check 5: Adam+L2 lr=0.1 wd=0.05, t=1001, v=1",
                        Run(preset("torch.Adam", lr="0.1", weight_decay="0.05"), ("3",), constant_gradients(["0"], 1),
                            exact_state(1000, ["0"], ["1"]))),
            LabelledRun("check 6: L2 mode, wd=0", Run(preset("torch.Adam", lr="0.01", weight_decay="0"), p0, grads)),
            LabelledRun("check 6: AdamW mode, wd=0", Run(preset("torch.AdamW", lr="0.01", weight_decay="0"), p0, grads)),
        ),
        columns=STATE_COLUMNS,
    )


LLM_STEPS = 1000
LLM_PARAMS = ("0.5", "-1.25", "2", "0.001")


def llm_gradients(steps: int = LLM_STEPS, size: int = len(LLM_PARAMS)) -> tuple[tuple[Fraction, ...], ...]:
    """A deterministic noisy gradient sequence of exact rationals.

    x_0 = 12345, x_{n+1} = (1103515245 x_n + 12345) mod 2^31 (the C standard's example generator),
    one draw per element per step in row order; g = (x mod 20001 - 10000) / 10000 * 10 / (10 + k)
    for step index k, i.e. noise in [-1, 1] whose scale decays like a loss that is being reduced.
    """
    x = 12345
    rows = []
    for k in range(steps):
        row = []
        for _ in range(size):
            x = (1103515245 * x + 12345) % (1 << 31)
            row.append(Fraction(x % 20001 - 10000, 10000) * Fraction(10, 10 + k))
        rows.append(tuple(row))
    return tuple(rows)


def llm_style() -> TraceSpec:
    checkpoints = tuple(sorted({*range(10), *range(49, LLM_STEPS, 50)}))
    config = preset("torch.AdamW", lr="0.0003", beta1="0.9", beta2="0.95", eps="1e-8", weight_decay="0.1")
    return TraceSpec(
        "06_llm_style_adamw",
        "LLM-style AdamW run: 1000 steps, betas 0.9/0.95, lr 3e-4, wd 0.1",
        "torch.AdamW conventions, four parameters (0.5, -1.25, 2, 0.001), 1000 steps of the deterministic "
        "exact-rational gradient sequence of adamw_oracle.traces.catalogue.llm_gradients. Every step is "
        "computed; steps 1-10 and every 50th step are stored.",
        (LabelledRun("AdamW (LLM-style)", Run(config, LLM_PARAMS, llm_gradients())),),
        columns=STATE_COLUMNS,
        stored_steps=checkpoints,
    )


SHARED_PARAMS = ("0.8", "-1.5")
SHARED_GRADIENTS = (("-0.3", "0.2"), ("0.1", "0.25"), ("-0.2", "-0.05"), ("0.4", "0.1"), ("0", "-0.3"))
SHARED_HYPER = {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-8", "weight_decay": "0.01"}
SHARED_SGD_HYPER = {"lr": "0.001", "momentum": "0.9", "weight_decay": "0.01"}


def shared_case_config(name: str) -> OptimizerConfig:
    """Preset ``name`` with the shared case's hyperparameters (those the preset has)."""
    p = PRESETS[name]
    if p.conventions.family is Family.SGD:
        return preset(name, **SHARED_SGD_HYPER)
    hyper = dict(SHARED_HYPER)
    if p.conventions.weight_decay.value == "none":
        hyper["weight_decay"] = "0"
    return preset(name, **hyper)


def every_preset() -> TraceSpec:
    runs = tuple(LabelledRun(name, Run(shared_case_config(name), SHARED_PARAMS, SHARED_GRADIENTS)) for name in PRESETS)
    return TraceSpec(
        "07_every_preset",
        "One shared case under every preset, side by side",
        "Two parameters (0.8, -1.5), five steps of fixed gradients, the same hyperparameters everywhere "
        "(Adam family: lr=0.001, betas 0.9/0.999, eps=1e-8, weight_decay=0.01, or 0 where the preset has "
        "no decay; SGD family: lr=0.001, momentum=0.9, weight_decay=0.01), so that only the conventions "
        "differ: L2 vs decoupled decay, decay scaled by lr, by the schedule or not at all, decay on p(t-1) "
        "or on the updated p, eps placement, bias correction. Equal rows are expected: torch.AdamW = "
        "optax.adamw (eps_root = 0), keras.Adam = keras.AdamW (Keras decays decoupled for any optimizer) "
        "and tfa.AdamW = paper.AdamW (with schedule multiplier 1 the paper's decay s*wd equals wd).",
        runs,
        columns=(("p", "p"), ("g", "g"), ("update", "update"), ("decay", "decay"), ("p_new", "p_new")),
    )


def sgd_family() -> TraceSpec:
    params, grads = ("1", "-0.5"), (("0.5", "-0.25"), ("0.25", "0.5"), ("-0.5", "0.125"), ("1", "-1"), ("0.125", "0.25"))
    runs = []
    for momentum in ("0", "0.9"):
        for label, name, wd in (("SGD", "torch.SGD", "0"), ("SGD+L2", "torch.SGD", "0.1"), ("SGDW", "sgdw", "0.1")):
            config = preset(name, lr="0.1", momentum=momentum, weight_decay=wd)
            runs.append(LabelledRun(f"{label}, momentum={momentum}", Run(config, params, grads)))
    return TraceSpec(
        "08_sgd_family",
        "SGD, SGD+L2 and SGDW, with and without momentum",
        "One case (p = (1, -0.5), five fixed gradients, lr=0.1, weight_decay=0.1 where decay is on) under "
        "torch.optim.SGD semantics: the momentum buffer is g' at the first step, then mu*b + (1-dampening)*g'; "
        "SGD+L2 adds wd*p to g, SGDW subtracts lr*wd*p(t-1) outside the buffer.",
        tuple(runs),
        columns=SGD_COLUMNS,
    )


def eps_floor() -> TraceSpec:
    # eps = 0.01 between the two elements' sqrt(v-hat): about 0.3 (after the root and the floor agree to
    # within eps) and 0.001 (the floor takes eps, after-root adds it)
    floor = preset("torch.AdamW", lr="0.001", eps="0.01", weight_decay="0.01")
    conventions = floor.conventions.replace(eps_placement=EpsPlacement.FLOOR)
    grads = (("0.3", "0.001"), ("0.25", "-0.001"), ("-0.3", "0.002"), ("0.35", "0"), ("0.3", "-0.0015"))
    run = Run(floor.replace(conventions=conventions, name=None), ("0.8", "-1.5"), grads)
    after = Run(floor, ("0.8", "-1.5"), grads)
    return TraceSpec(
        "09_eps_floor",
        "Eps as a floor under the root: max(sqrt(v-hat), eps)",
        "torch.AdamW's decay and bias correction with eps_placement = floor: update = lr*m-hat / "
        "max(sqrt(v-hat), eps) (EpsPlacement.FLOOR, theorem T12), lr=0.001, eps=0.01, weight_decay=0.01, "
        "two parameters (0.8, -1.5), five steps. Element 0's gradients (about 0.3) keep sqrt(v-hat) above "
        "eps, element 1's (about 0.001, and one 0) keep it below, so its denominator is eps itself. The "
        "second run is torch.AdamW (eps after the root) on the same inputs, for contrast: element 1 "
        "differs by about a factor 1.1 in its update, element 0 by about eps/sqrt(v-hat).",
        (LabelledRun("eps floor", run), LabelledRun("torch.AdamW (eps after the root)", after)),
        columns=(("p", "p"), ("g", "g"), ("v̂", "v_hat"), ("denominator", "denom"), ("update", "update"),
                 ("decay", "decay"), ("p_new", "p_new")),
    )


STAGNATION_STEPS = 8


def precision_models() -> TraceSpec:
    """Exact runs chosen so that each new precision model shows (see the description)."""
    bf16, f64 = Dtype.BFLOAT16, Dtype.FLOAT64
    # lr = a quarter of bfloat16's spacing just below 1 (2**-8): rounding to nearest keeps p = 1 forever
    quarter = Fraction(1, 2**10)
    stagnation = preset("torch.AdamW", lr=quarter, eps=Fraction(1, 2**60), weight_decay="0")
    ones = constant_gradients(["1", "1"], STAGNATION_STEPS)
    decayed = preset("torch.AdamW", lr=quarter, eps=Fraction(1, 2**60), weight_decay="0.5")
    # float64 values that are no float32 values (1/3 and -0.7 rounded to float64), float64 gradients
    third, seven = Fraction(1 / 3), Fraction(-0.7)
    f64_grads = tuple((Fraction(0.1 * (k + 1)), Fraction(-0.05 / (k + 1))) for k in range(5))
    runs = (
        LabelledRun("float32 arithmetic for float64 parameters", Run(preset("torch.AdamW", lr="0.001", weight_decay="0.01"),
                    (third, seven), f64_grads), f64, PrecisionModel.float32_arithmetic(f64)),
        LabelledRun("Kahan summation, bfloat16: a quarter-spacing step", Run(stagnation, ("1", "1"), ones), bf16,
                    PrecisionModel.kahan(bf16)),
        LabelledRun("Kahan summation, bfloat16: with decoupled decay", Run(decayed, ("1", "-1"), ones), bf16,
                    PrecisionModel.kahan(bf16)),
        LabelledRun("stochastic rounding, bfloat16: a quarter-spacing step", Run(stagnation, ("1", "0.5"), ones), bf16,
                    PrecisionModel.stochastic(bf16)),
    )
    return TraceSpec(
        "10_precision_models",
        "Runs for the precision models: float32 arithmetic for float64, Kahan summation, stochastic rounding",
        "Every precision model computes the exact update (compensation and unbiased rounding are ways to "
        "stay near it), so these are exact runs, chosen to show each model. Float32 arithmetic for float64 "
        "parameters: parameters 1/3 and -0.7 and gradients 0.1*(k+1), -0.05/(k+1) as float64 values (no "
        "float32 values), lr=0.001, wd=0.01; the float32 roundings listed next to each value are what such "
        "an implementation approximates, the float64 ones what a float64 one does. Kahan summation and "
        "stochastic rounding, bfloat16 parameters: g = 1 at every step and lr = 2**-10, a quarter of the "
        "spacing 2**-8 of bfloat16 just below 1 (eps = 2**-60, so each update is lr within 2**-50): "
        "rounding to nearest keeps p = 1 for ever, while the exact p falls by lr a step; a Kahan "
        "implementation's p + c follows the exact value, and a stochastic one's stored p is one of the two "
        "bfloat16 neighbours listed with each p_new (the JSON's bfloat16 down/up), the lower one with "
        "probability (up - p_new)/(up - down) in a single step from the exact state. The decayed Kahan "
        "run adds weight_decay = 0.5 (lr*wd = 2**-11).",
        runs,
        columns=STATE_COLUMNS,
    )


def catalogue() -> tuple[TraceSpec, ...]:
    """Every golden trace, in file-name order."""
    return (
        seed001_anchor_adamw(), seed001_anchor_adam_l2(), seed001_lambda_sweep(), seed000_mechanism(),
        seed000_checks(), llm_style(), every_preset(), sgd_family(), eps_floor(), precision_models(),
    )
