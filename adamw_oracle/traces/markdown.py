"""The human-readable Markdown table of a trace, like seed 001's table.

Every digit shown is certified: a value is shown to ``table_digits`` significant digits only when both
ends of its enclosure round to the same digits (otherwise :class:`CertificationError`).
"""
from __future__ import annotations

from adamw_oracle.contract.run import Run
from adamw_oracle.errors import CertificationError
from adamw_oracle.reference.certify import TIE_EXTRA_DIGITS, CertifiedValue
from adamw_oracle.reference.digits import fixed, significant
from adamw_oracle.traces.generate import CertifiedRun, GeneratedTrace

_MAX_LISTED_GRADIENT_ROWS = 12


def plain(scientific: str) -> str:
    """``"8.04959900634e-01"`` as ``"0.804959900634"`` (positional when the exponent is in [-7, 6])."""
    if scientific in ("0", "-0"):
        return "0"
    mantissa, exponent_text = scientific.split("e")
    exponent = int(exponent_text)
    if not -7 <= exponent <= 6:
        return scientific
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, rest = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1:]
    return f"{sign}{whole}.{rest}" if rest else sign + whole


def certified_significant(value: CertifiedValue, digits: int) -> str:
    """``value`` to ``digits`` significant digits, certified from both ends of its enclosure.

    A terminating decimal exactly halfway between two ``digits``-digit strings is shown with up to
    ``TIE_EXTRA_DIGITS`` more digits (as in :mod:`adamw_oracle.reference.certify`).
    """
    for length in range(digits, digits + TIE_EXTRA_DIGITS + 1):
        low, high = significant(value.lower, length), significant(value.upper, length)
        if low == high:
            return low
    raise CertificationError(f"cannot certify {digits} digits of {value.decimal} for the table")


def certified_fixed(value: CertifiedValue, decimals: int) -> str:
    """``value`` to ``decimals`` places after the point, certified from both ends of its enclosure."""
    low, high = fixed(value.lower, decimals), fixed(value.upper, decimals)
    if low != high:
        raise CertificationError(f"cannot certify {decimals} decimals of {value.decimal}")
    return low


def _cell(value: CertifiedValue, digits: int) -> str:
    return plain(certified_significant(value, digits)) if value.lower or value.upper else "0"


def _run_header(record: CertifiedRun) -> list[str]:
    run: Run = record.labelled.run
    config = run.config
    hyper = ", ".join(f"{k}={v}" for k, v in config.hyper.as_dict().items())
    state = run.initial_state
    assert state is not None
    lines = [
        f"## {record.labelled.label}",
        "",
        f"- preset: `{config.name or '(explicit conventions)'}`",
        f"- conventions: {config.conventions.describe()}",
        f"- hyperparameters: {hyper}",
        f"- initial parameters: {', '.join(str(x) for x in run.as_dict()['initial_params'])}",
    ]
    if state.step or any(state.m) or any(state.v) or any(state.vmax):
        described = run.as_dict()["initial_state"]
        lines.append(f"- initial state: step={state.step} (the first step is t={state.step + 1}), "
                     f"m={described['m']}, v={described['v']}, vmax={described['vmax']}")
    grads = run.as_dict()["gradients"]
    if len(grads) <= _MAX_LISTED_GRADIENT_ROWS:
        lines.append(f"- gradients per step: {'; '.join(', '.join(row) for row in grads)}")
    else:
        lines.append(f"- gradients: {len(grads)} steps (listed in the JSON file)")
    if record.labelled.dtype is not None:
        note = f"- parameter format: {record.labelled.dtype.value}"
        if record.labelled.precision is not None:
            note += f"; precision model: {record.labelled.precision.describe()}"
        if record.labelled.dtype.value in ("float16", "bfloat16"):
            note += f" (the JSON lists each p_new's {record.labelled.dtype.value} neighbours)"
        lines.append(note)
    lines.append(f"- certified with {record.certified.prec}-bit interval arithmetic")
    return lines


def _run_table(record: CertifiedRun, columns: tuple[tuple[str, str], ...], digits: int) -> list[str]:
    run = record.labelled.run
    many = run.size > 1
    first_t = (run.initial_state.step if run.initial_state else 0) + 1
    header = ["t", *(["i"] if many else []), *(h for h, _ in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in zip(record.certified.step_indices, record.certified.steps):
        for i, values in enumerate(row):
            cells = [str(first_t + index), *([str(i)] if many else [])]
            cells += [_cell(values[q], digits) for _, q in columns if q in values] + ["" for _, q in columns if q not in values]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _side_by_side(generated: GeneratedTrace, digits: int) -> list[str]:
    size = max(r.labelled.run.size for r in generated.runs)
    header = ["run", "last t", *(f"p_new[{i}]" for i in range(size))]
    lines = ["## Final parameters side by side", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in generated.runs:
        run = record.labelled.run
        last = record.certified.steps[-1]
        t = (run.initial_state.step if run.initial_state else 0) + record.certified.step_indices[-1] + 1
        cells = [record.labelled.label, str(t), *(_cell(e["p_new"], digits) for e in last)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def trace_markdown(generated: GeneratedTrace, *, golden: bool = True) -> str:
    """The Markdown page of a trace: description, a side-by-side summary, then one table per run.

    ``golden`` adds the note that the page is a generated file of ``traces/``.
    """
    spec = generated.spec
    digits = spec.table_digits
    note = f"Every digit below is certified by interval arithmetic ({digits} significant digits shown"
    if golden:
        note += (f"; `{spec.name}.json` holds {generated.runs[0].certified.digits} digits and the float64 and "
                 "float32 roundings of every quantity). Generated by `adamw-oracle traces --write`; do not edit.")
    else:
        note += "; `--json` adds the float64 and float32 roundings)."
    lines = [f"# {spec.title}", "", spec.description, "", note, ""]
    if len(generated.runs) > 1:
        lines += _side_by_side(generated, digits)
    for record in generated.runs:
        lines += _run_header(record) + [""] + _run_table(record, spec.columns, digits) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


