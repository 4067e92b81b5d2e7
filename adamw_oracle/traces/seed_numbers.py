"""The numbers printed in the two seed documents, transcribed as data (with where each appears).

Each printed number is tied to the certified quantity it claims to be: a quantity of a golden trace
(:class:`TraceQuantity`) or, for the seeds' intermediate arithmetic, an exact rational expression
(:class:`ExactExpression`, evaluated with Fractions). Printed minus signs are transcribed as ASCII '-'.
The comparison itself is in :mod:`adamw_oracle.traces.errata`.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

F = Fraction


@dataclass(frozen=True)
class TraceQuantity:
    """Quantity ``quantity`` of ``element`` at step number ``t`` of run ``run`` (0-based) of trace ``trace``."""

    trace: str
    run: int
    t: int
    element: int
    quantity: str

    def describe(self) -> str:
        return f"{self.trace} run {self.run}, t={self.t}, element {self.element}, {self.quantity}"


@dataclass(frozen=True)
class ExactExpression:
    """An exact rational computed from exact decimal inputs; ``text`` is how the seed writes it."""

    text: str
    value: Fraction

    def describe(self) -> str:
        return f"exact: {self.text}"


@dataclass(frozen=True)
class PrintedNumber:
    """One number as printed in a seed, and the quantity it stands for."""

    seed: str
    where: str
    printed: str
    source: TraceQuantity | ExactExpression


ANCHOR, SWEEP, MECHANISM = "01_seed001_anchor_adamw", "03_seed001_lambda_sweep", "04_seed000_mechanism"


def _anchor(t: int, quantity: str) -> TraceQuantity:
    return TraceQuantity(ANCHOR, 0, t, 0, quantity)


def _seed001_step_by_step() -> list[PrintedNumber]:
    s = "001"
    t1, t2 = "Step-by-Step, t = 1", "Step-by-Step, t = 2"
    return [
        PrintedNumber(s, f"{t1}: m1", "-0.03", _anchor(1, "m")),
        PrintedNumber(s, f"{t1}: g^2 in v1", "0.09", ExactExpression("(-0.3)^2", F("-0.3") ** 2)),
        PrintedNumber(s, f"{t1}: v1", "0.00009", _anchor(1, "v")),
        PrintedNumber(s, f"{t1}: 1 - 0.9^1", "0.1", ExactExpression("1 - 0.9", 1 - F("0.9"))),
        PrintedNumber(s, f"{t1}: m-hat1", "-0.3", _anchor(1, "m_hat")),
        PrintedNumber(s, f"{t1}: 1 - 0.999^1", "0.001", ExactExpression("1 - 0.999", 1 - F("0.999"))),
        PrintedNumber(s, f"{t1}: v-hat1", "0.09", _anchor(1, "v_hat")),
        PrintedNumber(s, f"{t1}: sqrt(0.09) + 1e-8 (written 0.3)", "0.3", _anchor(1, "denom")),
        PrintedNumber(s, f"{t1}: adam_step", "-0.001", _anchor(1, "update")),
        PrintedNumber(s, f"{t1}: decay", "0.000008", _anchor(1, "decay")),
        PrintedNumber(s, f"{t1}: w1", "0.800992", _anchor(1, "p_new")),
        PrintedNumber(s, f"{t2}: 0.9 x (-0.03)", "-0.027", ExactExpression("0.9 * (-0.03)", F("0.9") * F("-0.03"))),
        PrintedNumber(s, f"{t2}: m2", "-0.057", _anchor(2, "m")),
        PrintedNumber(s, f"{t2}: 0.999 x 0.00009", "0.00008991", ExactExpression("0.999 * 0.00009", F("0.999") * F("0.00009"))),
        PrintedNumber(s, f"{t2}: v2", "0.00017991", _anchor(2, "v")),
        PrintedNumber(s, f"{t2}: 0.9^2", "0.81", ExactExpression("0.9^2", F("0.9") ** 2)),
        PrintedNumber(s, f"{t2}: 1 - 0.81", "0.19", ExactExpression("1 - 0.9^2", 1 - F("0.9") ** 2)),
        PrintedNumber(s, f"{t2}: m-hat2", "-0.3", _anchor(2, "m_hat")),
        PrintedNumber(s, f"{t2}: 0.999^2", "0.998001", ExactExpression("0.999^2", F("0.999") ** 2)),
        PrintedNumber(s, f"{t2}: 1 - 0.998001", "0.001999", ExactExpression("1 - 0.999^2", 1 - F("0.999") ** 2)),
        PrintedNumber(s, f"{t2}: v-hat2 (written ~0.09)", "0.09", _anchor(2, "v_hat")),
        PrintedNumber(s, f"{t2}: adam_step (written ~-0.001)", "-0.001", _anchor(2, "update")),
        PrintedNumber(s, f"{t2}: decay (written ~0.000008)", "0.000008", _anchor(2, "decay")),
        PrintedNumber(s, f"{t2}: w2 (written ~0.801984)", "0.801984", _anchor(2, "p_new")),
    ]


# seed 001's Markdown table and its code's printed output: (t, w, m_hat, v_hat, adam_upd, decay, w_new)
_SEED001_TABLE = (
    (1, "0.800000", "-0.300000", "0.09000000", "-0.001000", "0.000008", "0.800992"),
    (2, "0.800992", "-0.300000", "0.09000000", "-0.001000", "0.000008", "0.801984"),
    (3, "0.801984", "-0.300000", "0.09000000", "-0.001000", "0.000008", "0.802976"),
    (4, "0.802976", "-0.300000", "0.09000000", "-0.001000", "0.000008", "0.803968"),
    (5, "0.803968", "-0.300000", "0.09000000", "-0.001000", "0.000008", "0.804960"),
)
_TABLE_QUANTITIES = ("p", "m_hat", "v_hat", "update", "decay", "p_new")
_TABLE_HEADERS = ("w", "m-hat", "v-hat", "adam_upd", "decay", "w_new")


def _seed001_tables() -> list[PrintedNumber]:
    out = []
    for where, has_w_new in (("Markdown table", True), ("printed output of the table code", False)):
        for t, *printed in _SEED001_TABLE:
            for header, quantity, text in zip(_TABLE_HEADERS, _TABLE_QUANTITIES, printed):
                if quantity == "p_new" and not has_w_new:
                    continue
                out.append(PrintedNumber("001", f"{where}, t={t}, {header}", text, _anchor(t, quantity)))
    return out


def _seed001_sweep_and_prose() -> list[PrintedNumber]:
    sweep = [
        PrintedNumber("001", f"Lambda sensitivity output, lambda={label}: final w", printed, TraceQuantity(SWEEP, run, 5, 0, "p_new"))
        for run, (label, printed) in enumerate((("0.00", "0.804960"), ("0.01", "0.804960"), ("0.10", "0.804956"), ("1.00", "0.804921")))
    ]
    prose = [
        PrintedNumber("001", "table commentary: decay term per step", "0.000008", _anchor(1, "decay")),
        PrintedNumber("001", "sweep commentary: at lambda = 1.0 the decay lr*1.0*w", "0.0008", TraceQuantity(SWEEP, 3, 1, 0, "decay")),
    ]
    return sweep + prose


def _seed000_observed() -> list[PrintedNumber]:
    where = "mechanism demo, observed output"
    return [
        PrintedNumber("000", f"{where}, mode L2, v=1e+00: effective decay factor", "0.999204", TraceQuantity(MECHANISM, 0, 1001, 0, "p_new")),
        PrintedNumber("000", f"{where}, mode L2, v=1e-04: effective decay factor", "0.924127", TraceQuantity(MECHANISM, 0, 1001, 1, "p_new")),
        PrintedNumber("000", f"{where}, mode AdamW, v=1e+00: effective decay factor", "0.990000", TraceQuantity(MECHANISM, 1, 1001, 0, "p_new")),
        PrintedNumber("000", f"{where}, mode AdamW, v=1e-04: effective decay factor", "0.990000", TraceQuantity(MECHANISM, 1, 1001, 1, "p_new")),
        PrintedNumber("000", f"{where}: AdamW target (1 - lr*wd)", "0.990000", ExactExpression("1 - 0.1*0.1", 1 - F("0.1") * F("0.1"))),
        PrintedNumber("000", "mechanism demo commentary: 'exactly (1 - lr*wd) = 0.99'", "0.99", ExactExpression("1 - 0.1*0.1", 1 - F("0.1") * F("0.1"))),
    ]


def printed_numbers() -> tuple[PrintedNumber, ...]:
    """Every number printed in the two seeds that a certified computation can judge."""
    return (*_seed001_step_by_step(), *_seed001_tables(), *_seed001_sweep_and_prose(), *_seed000_observed())
