"""``adamw-oracle traces`` (compare or ``--write`` the golden traces) and ``adamw-oracle trace`` (ad hoc).

Examples::

    adamw-oracle traces                     # exit 1 and the first difference of each differing file
    adamw-oracle traces --write             # regenerate traces/ atomically
    adamw-oracle trace --preset torch.AdamW --lr 0.001 --weight-decay 0.01 --params 0.8 --grads=-0.3 --steps 5
    adamw-oracle trace --conventions family=adam,weight_decay=coupled_l2 --params 1,2 --grads="0.1,-0.2;0.3,0" --json
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions
from adamw_oracle.contract.exact import to_exact
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.presets import get_preset
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import exact_state
from adamw_oracle.errors import InvalidArgumentError

HYPER_OPTIONS = ("lr", "beta1", "beta2", "eps", "eps_root", "weight_decay", "momentum", "dampening", "schedule_multiplier")
MAX_DIGITS = 1000
MAX_STEPS = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``traces`` and ``trace`` subcommands."""
    traces = subparsers.add_parser(
        "traces", help="compare traces/ with a fresh certified regeneration (or --write it)",
        description="Regenerate every golden trace and the errata in memory and compare them byte for byte with "
        "the committed files. Exit 0 when all match, 1 with the first difference of each differing file. "
        "Nothing is written unless --write is given; writes are atomic.",
        epilog="examples:\n  adamw-oracle traces\n  adamw-oracle traces --write",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    traces.add_argument("--write", action="store_true", help="replace the files that differ (atomically)")
    traces.add_argument("--dir", default=None, metavar="DIR", help="the traces folder (default: the repository's traces/)")
    traces.set_defaults(func=run_traces)

    trace = subparsers.add_parser(
        "trace", help="certified ad-hoc trace of one run (table or --json)",
        description="Certify a run given on the command line. Numbers are exact decimal strings ('0.001' is one "
        "thousandth). Give values that start with '-' as --grads=-0.3.",
        epilog="examples:\n  adamw-oracle trace --preset torch.AdamW --lr 0.001 --weight-decay 0.01 --params 0.8 "
        "--grads=-0.3 --steps 5\n  adamw-oracle trace --preset torch.Adam --lr 0.001 --weight-decay 0.01 "
        "--params 0.8 --grads=-0.3 --steps 5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = trace.add_mutually_exclusive_group()
    source.add_argument("--preset", help="a named preset, e.g. torch.AdamW (default torch.AdamW)")
    source.add_argument("--conventions", metavar="K=V,...",
                        help="explicit conventions, e.g. family=adam,weight_decay=decoupled_lr,eps_placement=epsilon_hat")
    trace.add_argument("--amsgrad", action="store_true", help="the preset's AMSGrad form")
    trace.add_argument("--maximize", action="store_true", help="maximize (negate the gradient)")
    for name in HYPER_OPTIONS:
        trace.add_argument("--" + name.replace("_", "-"), dest=name, metavar="X", help=f"{name} (exact decimal string)")
    trace.add_argument("--nesterov", action="store_true", help="SGD Nesterov momentum")
    trace.add_argument("--params", required=True, metavar="P0,P1,...", help="initial parameters")
    trace.add_argument("--grads", required=True, metavar="G;G;...",
                       help="gradient rows separated by ';' (each 'g0,g1,...'); rows repeat cyclically to fill --steps")
    trace.add_argument("--steps", type=int, default=None, help="number of steps (default: the number of gradient rows)")
    trace.add_argument("--state-step", type=int, default=0, metavar="N", help="steps already taken (the first step is t=N+1)")
    trace.add_argument("--m", default=None, metavar="M0,...", help="initial first moment / momentum buffer")
    trace.add_argument("--v", default=None, metavar="V0,...", help="initial second moment")
    trace.add_argument("--digits", type=int, default=30, help="certified significant digits (default 30)")
    trace.add_argument("--json", action="store_true", help="print the trace document as JSON")
    trace.set_defaults(func=run_trace)


def run_traces(args: argparse.Namespace) -> int:
    """Compare (or write) every golden file; 0 when all match or were written, 1 on a difference."""
    from adamw_oracle.traces import compare_all, default_traces_dir, write_all  # loaded only when used

    directory = args.dir if args.dir is not None else default_traces_dir()
    if args.dir is not None and not Path(args.dir).is_dir():
        raise InvalidArgumentError("--dir", args.dir, "an existing directory (no such directory)" if not Path(args.dir).exists()
                                   else "a directory (the golden traces folder)")
    if args.write:
        written = write_all(directory, report=lambda line: print(line, flush=True))
        print(f"{len(written)} file(s) updated in {directory}" if written else f"every file in {directory} was up to date")
        return 0
    differences = compare_all(directory, report=print)
    for difference in differences:
        print(difference.describe())
    if differences:
        print(f"{len(differences)} file(s) differ from the certified regeneration; "
              "run `adamw-oracle traces --write` if the change is intended")
        return 1
    print(f"every golden trace in {directory} matches its certified regeneration")
    return 0


def _split(text: str, argument: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not items or any(not item for item in items):
        raise InvalidArgumentError(argument, text, "a comma-separated list of numbers such as 0.8,-1.5")
    return items


def _config(args: argparse.Namespace) -> OptimizerConfig:
    hyper = {name: getattr(args, name) for name in HYPER_OPTIONS if getattr(args, name) is not None}
    if args.nesterov:
        hyper["nesterov"] = True
    if args.conventions is not None:
        pairs: dict[str, Any] = {}
        for item in args.conventions.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InvalidArgumentError("--conventions", args.conventions, "comma-separated key=value pairs")
            pairs[key.strip()] = value.strip()
        if "maximize" in pairs:
            pairs["maximize"] = pairs["maximize"].lower() in ("1", "true", "yes")
        if args.maximize:
            pairs["maximize"] = True
        if args.amsgrad and "amsgrad" not in pairs:
            raise InvalidArgumentError("--amsgrad", True, "only with --preset; with --conventions give amsgrad=max_raw_v or max_v_hat")
        return OptimizerConfig(Conventions.from_dict(pairs), Hyperparameters(**hyper))
    return get_preset(args.preset or "torch.AdamW").config(amsgrad=args.amsgrad, maximize=args.maximize, **hyper)


def build_run(args: argparse.Namespace) -> Run:
    """The :class:`Run` described by the ``trace`` arguments (validated, exact)."""
    params: list[Any] = [to_exact(x, "--params") for x in _split(args.params, "--params")]
    rows = [[to_exact(g, "--grads", allow_nonfinite=True) for g in _split(row, "--grads")] for row in args.grads.split(";")]
    steps = args.steps if args.steps is not None else len(rows)
    if isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise InvalidArgumentError("--steps", steps, f"an int in [1, {MAX_STEPS}]")
    if args.state_step < 0:
        raise InvalidArgumentError("--state-step", args.state_step, "an int >= 0")
    zeros: list[Any] = ["0"] * len(params)
    m = [to_exact(x, "--m") for x in _split(args.m, "--m")] if args.m is not None else zeros
    v = [to_exact(x, "--v") for x in _split(args.v, "--v")] if args.v is not None else zeros
    state = exact_state(args.state_step, m, v)
    gradients = tuple(tuple(rows[k % len(rows)]) for k in range(steps))
    return Run(_config(args), tuple(params), gradients, state, name="ad hoc")


def run_trace(args: argparse.Namespace) -> int:
    """Certify the run of the arguments and print it as a Markdown table or as JSON."""
    from adamw_oracle.traces.catalogue import (  # loaded only when used
        SGD_COLUMNS,
        STATE_COLUMNS,
        LabelledRun,
        TraceSpec,
    )
    from adamw_oracle.traces.generate import certify_trace, trace_document  # loaded only when used
    from adamw_oracle.traces.jsonlines import dumps  # loaded only when used (keeps import and --help fast)
    from adamw_oracle.traces.markdown import trace_markdown  # loaded only when used (keeps import and --help fast)

    if not 1 <= args.digits <= MAX_DIGITS:
        raise InvalidArgumentError("--digits", args.digits, f"an int in [1, {MAX_DIGITS}]")
    run = build_run(args)
    adam = run.config.conventions.family.value == "adam"
    columns = (*STATE_COLUMNS[:4], ("m̂", "m_hat"), ("v̂", "v_hat"), *STATE_COLUMNS[4:]) if adam else SGD_COLUMNS
    spec = TraceSpec("trace", "Ad-hoc trace", run.config.conventions.describe(), (LabelledRun(run.config.name or "explicit conventions", run),),
                     columns=columns, table_digits=args.digits)
    generated = certify_trace(spec, args.digits)
    if args.json:
        print(dumps(trace_document(generated)), end="")
    else:
        print(trace_markdown(generated, golden=False), end="")
    return 0


