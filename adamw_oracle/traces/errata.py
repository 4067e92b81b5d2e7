"""Errata of the seed documents, computed: every printed number against its certified value.

A printed number is compared at its printed precision: the certified value is rounded (ties to even,
certified from both ends of its enclosure, or exactly for exact expressions) to as many decimals as
the seed prints, and the two strings are compared. A differing number is explained when the
explanation is itself computed: it equals the float32 (or float64) rounding of the certified value at
that precision (the seed's code ran in that dtype), or the certified value of another run of the same
trace (a copy-paste of the wrong row).

Prose claims that can be computed are listed separately (:func:`claims`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from adamw_oracle.errors import CertificationError
from adamw_oracle.reference.backends import IntervalBackend, interval_ends
from adamw_oracle.reference.certify import CertifiedValue
from adamw_oracle.reference.digits import fixed, significant
from adamw_oracle.traces.generate import GeneratedTrace
from adamw_oracle.traces.markdown import certified_fixed
from adamw_oracle.traces.seed_numbers import ExactExpression, PrintedNumber, TraceQuantity, printed_numbers

SEED_NAMES = {
    "000": "seed 000 (AdamW paper-to-code mock interview)",
    "001": "seed 001 (AdamW article with the w=0.8, g=-0.3 anchor)",
}


@dataclass(frozen=True)
class Erratum:
    """One printed number judged: ``certified`` is at the printed precision, ``certified_digits`` at 30."""

    seed: str
    where: str
    printed: str
    certified: str
    certified_digits: str
    source: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Claim:
    """A prose claim of a seed, the computed fact that judges it, and the verdict."""

    seed: str
    where: str
    claim: str
    computed: str
    holds: bool


def decimals_of(printed: str) -> int:
    """Places after the point in a printed number ("0.800992" -> 6, "-0.03" -> 2, "5" -> 0)."""
    return len(printed.split(".", 1)[1]) if "." in printed else 0


def _lookup(traces: dict[str, GeneratedTrace], ref: TraceQuantity, run: int | None = None) -> CertifiedValue:
    return traces[ref.trace].runs[ref.run if run is None else run].value(ref.t, ref.element, ref.quantity)


def judge_number(number: PrintedNumber, traces: dict[str, GeneratedTrace]) -> Erratum:
    """Compare one printed number with its certified value at the printed precision."""
    places = decimals_of(number.printed)
    source = number.source
    if isinstance(source, ExactExpression):
        certified = fixed(source.value, places)
        digits = significant(source.value, 30) if source.value else "0"
        correct = certified == number.printed
        explanation = "" if correct else "exact arithmetic on the seed's own inputs gives another value"
        return Erratum(number.seed, number.where, number.printed, certified, digits, source.describe(), correct, explanation)
    value = _lookup(traces, source)
    certified = certified_fixed(value, places)
    correct = certified == number.printed
    explanation = "" if correct else _explain(number, value, places, traces)
    return Erratum(number.seed, number.where, number.printed, certified, value.decimal, source.describe(), correct, explanation)


def _explain(number: PrintedNumber, value: CertifiedValue, places: int, traces: dict[str, GeneratedTrace]) -> str:
    for name, rounded in (("float32", value.float32), ("float64", value.float64)):
        if fixed(Fraction(rounded), places) == number.printed:
            return (f"the {name} rounding of the certified value, {rounded!r}, prints as {number.printed}: "
                    f"the seed's code computed in {name}")
    source = number.source
    assert isinstance(source, TraceQuantity)
    trace = traces[source.trace]
    for index, record in enumerate(trace.runs):
        if index == source.run:
            continue
        other = record.value(source.t, source.element, source.quantity)
        try:
            if certified_fixed(other, places) == number.printed:
                return f"wrong: {number.printed} is the certified value of the run '{record.labelled.label}'"
        except CertificationError:
            continue
    return "wrong"


def _interval_fixed(interval: Any, places: int) -> str:
    low, high = interval_ends(interval)
    if not isinstance(low, Fraction) or not isinstance(high, Fraction):
        raise CertificationError(f"cannot certify {places} decimals of a non-finite value")
    text = fixed(low, places)
    if fixed(high, places) != text:
        raise CertificationError(f"cannot certify {places} decimals")
    return text


def claims(traces: dict[str, GeneratedTrace]) -> list[Claim]:
    """The seeds' computable prose claims, each judged by a certified computation."""
    out = []
    # Seed 001, exercise 1: per-step decay at v-hat = 0.09 under L2 is lr*wd*w/(sqrt(v-hat)+eps),
    # under AdamW lr*wd*w; their ratio is 1/(sqrt(0.09)+1e-8), independent of lr, wd and w.
    iv = IntervalBackend(160)
    ratio = iv.const(Fraction(1)) / (iv.sqrt(iv.const(Fraction("0.09"))) + iv.const(Fraction("1e-8")))
    out.append(Claim(
        "001", "Test Your Understanding, exercise 1",
        "for v-hat = 0.09, lambda = 0.01, lr = 0.001, 'how much smaller is the Adam+L2 decay?' (the L2 decay is smaller)",
        f"L2 decay / AdamW decay = 1/(sqrt(0.09)+1e-8) = {_interval_fixed(ratio, 6)}: the Adam+L2 decay is about "
        f"{_interval_fixed(ratio, 2)} times LARGER",
        interval_ends(ratio)[1] < 1,
    ))
    sweep = traces["03_seed001_lambda_sweep"].runs
    decay, update = sweep[3].value(1, 0, "decay"), sweep[3].value(1, 0, "update")
    share_low, share_high = decay.lower / -update.lower, decay.upper / -update.upper
    share = fixed(share_low, 3)
    if fixed(share_high, 3) != share:
        raise CertificationError("cannot certify the decay/update ratio")
    out.append(Claim(
        "001", "lambda sensitivity commentary",
        "at lambda = 1.0 the decay term 0.0008 per step is 'still small relative to the adam_update of 0.001'",
        f"decay / abs(adam_upd) at t=1 = {share}: the decay is 80% of the adaptive step, not small",
        share_high < Fraction(1, 10),
    ))
    finals = [record.value(5, 0, "p_new") for record in sweep]
    spread_low = max(v.lower for v in finals) - min(v.upper for v in finals)
    spread_high = max(v.upper for v in finals) - min(v.lower for v in finals)
    spread = fixed(spread_low, 6)
    if fixed(spread_high, 6) != spread:
        raise CertificationError("cannot certify the spread of the sweep")
    out.append(Claim(
        "001", "Test Your Understanding, exercise 4",
        "'all four lambda values produce nearly identical final weights after 5 steps' (printed spread 0.000039)",
        f"certified final weights span {spread} (0.805000 at lambda=0 down to 0.800998 at lambda=1): the decay "
        "accounts for 80% of the movement at lambda=1",
        spread_high < Fraction(1, 10000),
    ))
    mechanism = traces["04_seed000_mechanism"].runs
    at_1001 = certified_fixed(mechanism[0].value(1001, 1, "p_new"), 6)
    value_1000 = mechanism[2].value(1000, 1, "p_new")
    at_1000 = certified_fixed(value_1000, 6)
    printed = "0.924127"  # seed 000's observed output for v=1e-4 under L2
    out.append(Claim(
        "000", "mechanism demo code",
        "opt.t = 1000 'pretend we're deep into training': the demo's step is t = 1000",
        f"step() increments t first, so the step is t = 1001: factor {at_1001} (t=1001) vs {at_1000} (t=1000); "
        "the printed 0.924127 is the t=1001 value (in float32)",
        printed in (at_1000, fixed(Fraction(value_1000.float32), 6)),
    ))
    checks = traces["05_seed000_checks"].runs
    move = 5 - checks[0].value(1, 0, "p_new").upper, 5 - checks[0].value(1, 0, "p_new").lower
    out.append(Claim(
        "000", "check 3",
        "bias correction makes the first step move about lr = 0.01 (abs(move - lr) < 1e-3)",
        f"first-step move = {fixed(move[0], 12)} (= lr*0.37/(0.37+1e-8))",
        abs(move[1] - Fraction("0.01")) < Fraction("0.001"),
    ))
    big, small = sweep[2].value(1, 0, "decay"), sweep[1].value(1, 0, "decay")
    ratio_low, ratio_high = big.lower / small.upper, big.upper / small.lower
    ratio_text = fixed(ratio_low, 6)
    out.append(Claim(
        "001", "table commentary",
        "at lambda = 0.1 the decay becomes 10x larger (than at lambda = 0.01)",
        f"decay ratio at t=1 = {ratio_text} ({big.decimal} / {small.decimal})",
        ratio_text == fixed(ratio_high, 6) == "10.000000",
    ))
    m_hat_1 = (1 - Fraction("0.9")) * Fraction("-0.3") / (1 - Fraction("0.9"))
    out.append(Claim(
        "001", "Test Your Understanding, exercise 2",
        "at t = 1, m-hat = -0.3 exactly (not approximately)",
        f"m-hat_1 = (0.1 * -0.3) / (1 - 0.9) = {m_hat_1} in exact rational arithmetic",
        m_hat_1 == Fraction("-0.3"),
    ))
    adamw_check4 = checks[1].value(1, 0, "p_new")
    out.append(Claim(
        "000", "check 4",
        "AdamW zero-gradient decay is 3*(1 - lr*wd) whatever v is (v = 123 seeded)",
        f"p_new = {adamw_check4.decimal}; 3*(1 - 0.1*0.05) = 2.985",
        adamw_check4.lower <= Fraction("2.985") <= adamw_check4.upper,
    ))
    l2_check5 = checks[2].value(1001, 0, "p_new")
    adamw_factor = 1 - Fraction("0.1") * Fraction("0.05")
    out.append(Claim(
        "000", "check 5",
        "Adam+L2 zero-gradient factor differs from 1 - lr*wd = 0.995 by more than 1e-3 (t = 1001, v = 1)",
        f"L2 factor = p_new/3 = {plain_fixed(l2_check5, 6, scale=Fraction(1, 3))}, AdamW factor 0.995000",
        l2_check5.lower / 3 - adamw_factor > Fraction(1, 1000) or adamw_factor - l2_check5.upper / 3 > Fraction(1, 1000),
    ))
    same = [[e["p_new"].decimal for e in row] for row in checks[3].certified.steps] == \
        [[e["p_new"].decimal for e in row] for row in checks[4].certified.steps]
    out.append(Claim(
        "000", "check 6",
        "with wd = 0 the L2 and AdamW modes coincide (here on exact-rational stand-ins for torch.randn)",
        "every certified p_new of the 10 steps x 8 parameters is identical in both modes" if same else "the modes differ",
        same,
    ))
    return out


def plain_fixed(value: CertifiedValue, places: int, *, scale: Fraction = Fraction(1)) -> str:
    """``scale * value`` to ``places`` decimals, certified from both ends (``scale`` > 0)."""
    low, high = fixed(value.lower * scale, places), fixed(value.upper * scale, places)
    if low != high:
        raise CertificationError(f"cannot certify {places} decimals of {value.decimal}")
    return low


def errata_entries(traces: dict[str, GeneratedTrace]) -> list[Erratum]:
    """Every transcribed printed number, judged."""
    return [judge_number(number, traces) for number in printed_numbers()]


def errata_document(traces: dict[str, GeneratedTrace]) -> dict[str, Any]:
    """The machine-readable errata: every judged number (correct or not) and the claims."""
    entries = errata_entries(traces)
    return {
        "format": "adamw-oracle-errata/1",
        "seeds": SEED_NAMES,
        "compared": len(entries),
        "differing": sum(1 for e in entries if not e.correct),
        "errata": [asdict(e) for e in entries if not e.correct],
        "correct": [asdict(e) for e in entries if e.correct],
        "claims": [asdict(c) for c in claims(traces)],
    }


def errata_markdown(document: dict[str, Any]) -> str:
    """The errata as Markdown, from :func:`errata_document`."""
    lines = [
        "# Errata of the seed documents",
        "",
        "Produced by `adamw-oracle traces --write` (adamw_oracle/traces/errata.py) from the printed numbers "
        "transcribed in adamw_oracle/traces/seed_numbers.py; do not edit. Each printed number is compared "
        "with its certified value rounded to the printed number of decimals.",
        "",
        *(f"- {key}: {name}" for key, name in document["seeds"].items()),
        "",
        f"{document['compared']} printed numbers compared, {document['differing']} differ.",
        "",
        "## Numbers that differ from the certified value",
        "",
        "| seed | where | printed | certified (printed precision) | certified (30 digits) | explanation |",
        "|---|---|---|---|---|---|",
    ]
    for e in document["errata"]:
        lines.append(f"| {e['seed']} | {e['where']} | {e['printed']} | {e['certified']} | {e['certified_digits']} | {e['explanation']} |")
    lines += ["", "## Claims", "", "| seed | where | claim | computed | holds |", "|---|---|---|---|---|"]
    for c in document["claims"]:
        lines.append(f"| {c['seed']} | {c['where']} | {c['claim']} | {c['computed']} | {'yes' if c['holds'] else 'no'} |")
    lines += ["", "## Numbers that agree with the certified value", "", "| seed | where | printed | certified (30 digits) |",
              "|---|---|---|---|"]
    for e in document["correct"]:
        lines.append(f"| {e['seed']} | {e['where']} | {e['printed']} | {e['certified_digits']} |")
    return "\n".join(lines) + "\n"
