"""Benchmark 11 (issue 12): how much of a long half-precision run ``check`` can judge, per step vs whole run.

Measured in the same run, for torch.AdamW (the built-in target: ``torch.optim.AdamW`` foreach, on the
CPU) in float16 and bfloat16 over drawn runs of up to 256 steps (``check_target(..., max_steps=256)``,
at most 129 elements, and check's 20% tensor-sized cases of 65,535-65,537 elements over 1-3 steps; seeds
0, 1, 2): the share of the parameters' element-steps set aside as ill-conditioned and whether the check
passed, with

* ``judge_mode="trajectory"`` (the baseline: every step against the exact run from the initial
  state, so the bound accumulates over the run), and
* ``judge_mode="per-step"`` (every step re-synced from torch's own ``optimizer.state`` before it:
  one-step bounds, the stored state judged too; :mod:`adamw_oracle.verify.resync`). torch's foreach path
  declares that its update reads the stored moments back (``PrecisionModel.reads_back_state``), so its
  parameter is judged from the stored m, v of the same step (docs/error-model.md, section 10).

Each row also splits the share set aside by the kind of case (exact, seeded, tensor-sized) and counts the
degenerate element-steps (exactly determined: torch's own 0/0 where eps rounds to 0 in float16, and the
NaN parameters after it; checked exactly and counted within). A last row repeats float16 per step over the
space restricted to lr and eps that are normal float16 numbers (``space={"dtype_range": True}``), the
restriction the issue allows ("a dtype's range of hyperparameters"); the report header of such a check
states it.

Target: per-step sets aside at most 5% in each dtype, with no false alarm (no check has a finding).
The check's wall time per mode is recorded too (same cases; best of one on a shared machine).
"""
from __future__ import annotations

import time
from typing import Any

from benchmarks.common import BenchResult

EXAMPLES = {"full": 50, "tiny": 2}
SEEDS = {"full": (0, 1, 2), "tiny": (0,)}
MAX_STEPS = {"full": 256, "tiny": 20}
TARGET_SHARE = 0.05
DTYPES = ("float16", "bfloat16")
MODES = ("trajectory", "per-step")


def case_kind(case: Any) -> str:
    """``tensor-sized`` (65,535-65,537 elements over 1-3 steps), ``seeded`` (from a state after many steps)
    or ``exact`` (at most 129 elements, up to ``max_steps`` steps from a zero state)."""
    if case.run.name.startswith("array"):
        return "tensor-sized"
    state = case.run.initial_state
    return "seeded" if state is not None and state.step else "exact"


def campaign(dtype: str, mode: str, size: str, space: Any = None) -> dict[str, Any]:
    """Checks of torch.AdamW in ``dtype`` over the seeds, judged in ``mode`` (over ``space``): summed
    counts and verdicts, the share set aside per kind of case, the degenerate element-steps."""
    from adamw_oracle.check import check_target

    counts = {"within": 0, "outside": 0, "ill_conditioned": 0}
    reasons: dict[str, int] = {}
    degenerate: dict[str, int] = {}
    clean, seconds, cases = True, 0.0, 0
    findings: list[str] = []
    in_range = {"within": 0, "outside": 0, "ill_conditioned": 0}
    kinds: dict[str, list[int]] = {}  # kind: [set aside, element-steps]

    def on_case(phase: str, _done: int, _total: int, result: Any) -> None:
        if phase != "search" or result.judgement is None:
            return
        if eps_in_range(result.case):
            for key in in_range:
                in_range[key] += result.judgement.counts[key]
        tally = kinds.setdefault(case_kind(result.case), [0, 0])
        tally[0] += result.judgement.counts["ill_conditioned"]
        tally[1] += sum(result.judgement.counts.values())

    for seed in SEEDS[size]:
        start = time.perf_counter()
        report = check_target("torch.AdamW", dtype=dtype, examples=EXAMPLES[size], seed=seed,
                              max_steps=MAX_STEPS[size], judge_mode=mode, on_case=on_case, space=space)
        seconds += time.perf_counter() - start
        clean = clean and not report.findings  # a finding on a correct torch is a false alarm (or a torch bug)
        findings += [f"seed {seed}: {f.describe()}" for f in report.findings[:1]]
        cases += report.cases_run
        for key in counts:
            counts[key] += report.counts[key]
        for reason, count in report.ill_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        for reason, count in report.degenerate.items():
            degenerate[reason] = degenerate.get(reason, 0) + count
    total, total_in_range = sum(counts.values()), sum(in_range.values())
    return {"degenerate": degenerate, "degenerate_share": sum(degenerate.values()) / total if total else 0.0,
            "kinds": {k: f"{a / n:.1%} of {n}" for k, (a, n) in sorted(kinds.items()) if n},
            "set_aside_share_eps_in_range": in_range["ill_conditioned"] / total_in_range if total_in_range else 0.0,
            "element_steps_eps_in_range": total_in_range, "no_findings": clean, "findings": findings, "cases": cases, "element_steps": total,
            "set_aside_share": counts["ill_conditioned"] / total if total else 0.0,
            "set_aside_reasons": reasons, "seconds": seconds}


def eps_in_range(case: Any) -> bool:
    """Whether the case's eps is a non-zero number of its dtype (rounded to it, as torch's CPU kernels
    round ``denom + eps`` to the parameter's dtype). Below float16's smallest subnormal (drawn eps down
    to 1e-12) a zero gradient gives 0/0 = NaN in any float16 implementation: the step is ill-conditioned
    and the element's later steps start from a non-finite parameter."""
    from fractions import Fraction

    return case.dtype.format.round(Fraction(float(case.run.config.hyper.eps))) != 0


def run(size: str = "full") -> BenchResult:
    result = BenchResult(11, "per-step judging: share set aside, torch.AdamW float16/bfloat16, runs up to 256 steps",
                         baseline="the same checks judged as whole trajectories (judge_mode='trajectory')",
                         target="per-step: <= 5% of element-steps set aside in float16 and bfloat16, no false alarm")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        result.gap = f"cannot run here: {exc}"
        return result
    shares: dict[tuple[str, str], float] = {}
    in_range: dict[str, float] = {}
    all_clean, findings = True, []
    for dtype in DTYPES:
        for mode in MODES:
            outcome = campaign(dtype, mode, size)
            shares[dtype, mode] = outcome["set_aside_share"]
            if mode == "per-step":
                in_range[dtype] = outcome["set_aside_share_eps_in_range"]
            all_clean = all_clean and outcome["no_findings"]
            findings += [f"{dtype} {mode} {text}" for text in outcome["findings"]]
            result.measurements[f"{dtype} {mode}"] = {
                "no finding": outcome["no_findings"], "cases": outcome["cases"], "element-steps": outcome["element_steps"],
                "set aside": f"{outcome['set_aside_share']:.1%}",
                "set aside (cases with eps in the dtype's range)": f"{outcome['set_aside_share_eps_in_range']:.1%} of "
                                                                   f"{outcome['element_steps_eps_in_range']}",
                "reasons": ", ".join(f"{k} {v}" for k, v in sorted(outcome["set_aside_reasons"].items())) or "none",
                "set aside per kind of case": ", ".join(f"{k} {v}" for k, v in outcome["kinds"].items()),
                "degenerate (checked exactly, counted within)": f"{outcome['degenerate_share']:.1%}: " + (
                    ", ".join(f"{k} {v}" for k, v in sorted(outcome["degenerate"].items())) or "none"),
                "check seconds": round(outcome["seconds"], 2)}
    # the same float16 checks over the space restricted to lr and eps that are normal float16 numbers
    # (--dtype-range): the restriction a user states to leave out hyperparameters the format flushes
    ranged = campaign("float16", "per-step", size, space={"dtype_range": True})
    all_clean = all_clean and ranged["no_findings"]
    result.measurements["float16 per-step, restricted: lr and eps normal float16 numbers (--dtype-range)"] = {
        "no finding": ranged["no_findings"], "element-steps": ranged["element_steps"],
        "set aside": f"{ranged['set_aside_share']:.1%}",
        "set aside per kind of case": ", ".join(f"{k} {v}" for k, v in ranged["kinds"].items()),
        "reasons": ", ".join(f"{k} {v}" for k, v in sorted(ranged["set_aside_reasons"].items())) or "none"}
    result.ratios["float16 per-step share (--dtype-range) / 5% target"] = ranged["set_aside_share"] / TARGET_SHARE
    for dtype in DTYPES:
        result.ratios[f"{dtype} per-step share / 5% target"] = shares[dtype, "per-step"] / TARGET_SHARE
        result.ratios[f"{dtype} per-step share (eps in range) / 5% target"] = in_range[dtype] / TARGET_SHARE
        baseline = shares[dtype, "trajectory"]
        result.ratios[f"{dtype} per-step share / trajectory share"] = (
            shares[dtype, "per-step"] / baseline if baseline else 0.0)
    worst = max(shares[d, "per-step"] for d in DTYPES)
    result.target_met = all_clean and worst <= TARGET_SHARE
    if not result.target_met:
        result.gap = (f"per-step share set aside up to {worst:.1%} (target 5%); on the cases whose eps is a non-zero "
                      "number of the dtype: " + ", ".join(f"{d} {in_range[d]:.1%}" for d in DTYPES) + "; with lr and "
                      f"eps restricted to normal float16 numbers: {ranged['set_aside_share']:.1%}. Most of the rest is "
                      "in the tensor-sized cases, whose gradients (down to 1e-4 times N(0, 1)) put (1 - beta2) g^2 "
                      "below float16's smallest subnormal: torch keeps v in float16, where it holds a few bits or "
                      "none, so the divisor sqrt(v-hat) + eps is ill-conditioned in every float16-state "
                      "implementation (see the 'set aside per kind of case' rows); torch's own 0/0 and the NaN "
                      "parameters after it are degenerate and checked exactly (docs/error-model.md, section 10)"
                      if worst > TARGET_SHARE
                      else "a finding on torch.AdamW (a false alarm, or a real torch bug): " + "; ".join(findings))
    result.notes = ("seeds " + ", ".join(map(str, SEEDS[size])) + f", {EXAMPLES[size]} examples each, at most 129 elements "
                    f"x {MAX_STEPS[size]} steps (and the tensor-sized cases); shares are of the parameters' element-steps")
    return result
