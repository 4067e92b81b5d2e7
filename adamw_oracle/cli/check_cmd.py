"""``adamw-oracle check`` and ``adamw-oracle identify``: check or fingerprint a third-party optimizer.

Exit status: 0 the target passed (check) / a convention was identified (identify); 1 it failed, was
inconclusive or nothing matched; 2 bad arguments; 3 (check) outside the contract: it passed apart from
cases showing a declared behaviour that no convention or precision model expresses (8-bit state,
compensated summation, ...; see adamw_oracle/adapters/targets.py), so it is neither verified nor failed.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from adamw_oracle.cli.engine_options import add_engine_arguments, engine_from_arguments
from adamw_oracle.cli.jsonout import dumps
from adamw_oracle.cli.options import int_option, seconds_option
from adamw_oracle.contract.case import MAX_SECONDS
from adamw_oracle.contract.conventions import AmsGrad, BiasCorrection, DecayTarget, EpsPlacement, WeightDecay
from adamw_oracle.contract.run import MAX_STEPS
from adamw_oracle.errors import InvalidArgumentError

_CHOICE_OPTIONS = (
    ("--weight-decay", "weight_decay", WeightDecay),
    ("--decay-target", "decay_target", DecayTarget),
    ("--eps-placement", "eps_placement", EpsPlacement),
    ("--bias-correction", "bias_correction", BiasCorrection),
    ("--amsgrad-form", "amsgrad", AmsGrad),
)


def _add_target(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", help="built-in name (torch.AdamW, torch.Adam[fused], optax.adamw, keras.Adam, ...), "
                   "an optimizer class or factory by import path (torch.optim:AdamW, optax:adamw, keras.optimizers:AdamW, "
                   "mypkg.optim:MyAdam) or module:attribute; omit with --cmd")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="fixed constructor argument of an import-path optimizer (repeatable; values true/false/none, "
                   "numbers or strings), e.g. --option foreach=false")
    p.add_argument("--cmd", metavar="COMMAND", help="check a program: it reads a JSON case on stdin and writes the "
                   "trajectory as JSON on stdout (see docs/checking.md)")
    p.add_argument("--case-timeout", type=float, default=60.0, metavar="SECONDS",
                   help=f"time limit of one case (default 60, at most {MAX_SECONDS:g})")
    p.add_argument("--dtype", default=None, help="float64, float32, float16 or bfloat16")
    p.add_argument("--json", action="store_true", help="print the result as strict JSON (NaN and infinities as strings)")


def register(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check", help="check an optimizer against the reference (minimal counterexample on failure)",
        description="Run generated cases through TARGET, judge every step against the certified reference "
        "under the error model, and shrink the first failure to a minimal counterexample.",
        epilog="examples:\n  adamw-oracle check torch.AdamW --dtype float32 --examples 50\n"
        "  adamw-oracle check optax.adamw --expect torch.AdamW\n"
        "  adamw-oracle check torch.optim:AdamW --expect torch.AdamW --option foreach=false\n"
        "  adamw-oracle check --cmd 'python examples/subprocess_adamw.py' --expect torch.AdamW",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_target(check)
    check.add_argument("--expect", metavar="PRESET", help="expected convention: a preset name (default: the target's own "
                       "preset for built-in targets, else what identify finds)")
    for flag, name, enum_type in _CHOICE_OPTIONS:
        check.add_argument(flag, dest=name, choices=[m.value for m in enum_type],
                           help=f"explicit expected {name.replace('_', ' ')} (overrides --expect)")
    check.add_argument("--examples", type=int, default=50, help="number of generated cases (default 50)")
    check.add_argument("--seed", type=int, default=0, help="hypothesis seed, an int >= 0 (default 0)")
    check.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                       help="start no new case after this (default: no limit)")
    check.add_argument("--max-steps", type=int, default=6, help="longest ordinary generated run (default 6; seeded "
                       "states and long runs come on top)")
    check.add_argument("--max-size", type=int, default=129, help="largest exact element count drawn (default 129; "
                       "tensors of 65,535-65,537 elements come on top)")
    check.add_argument("--large-sizes", action="store_true", help="also draw tensors of 2**20 +- 1 elements")
    space = check.add_argument_group("restricting the case space (every restriction is stated in the report header)")
    space.add_argument("--range", action="append", default=[], metavar="NAME=LOW:HIGH", dest="ranges",
                       help="draw NAME (lr, weight_decay, beta1, beta2, eps, momentum) only in [LOW, HIGH] (repeatable)")
    space.add_argument("--positive-lr", action="store_true", help="only lr > 0 (real libraries reject lr = 0)")
    space.add_argument("--no-maximize", action="store_true", help="never switch maximize on")
    space.add_argument("--no-amsgrad", action="store_true", help="never switch AMSGrad on")
    space.add_argument("--dtype-range", action="store_true",
                       help="lr and eps only as normal numbers of the checked dtype (no underflow when stored in it)")
    check.add_argument("--judge-mode", choices=("auto", "per-step", "trajectory"), default="auto",
                       help="per-step: judge each step from the target's own state after the previous one (one-step "
                       "bounds; its stored state is judged too); trajectory: judge the parameters against the exact "
                       "run from the start (black boxes); auto (default): per-step when the target exposes its state "
                       "after every step (the torch, optax and Keras targets do), else trajectory")
    check.add_argument("--quiet", action="store_true", help="no progress on stderr")
    check.add_argument("--strict", action="store_true", help="hold the target's declared known findings against it "
                       "too (default: report them as known; see adamw_oracle/adapters/targets.py)")
    add_engine_arguments(check)
    check.add_argument("--vectors", nargs="?", const="", default=None, metavar="PRESET",
                       help="replay the committed test vectors of PRESET (default: the target's own preset) instead "
                       "of generated cases; every dtype unless --dtype is given")
    check.add_argument("--loops", action="store_true", help="check training loops instead of single runs: several "
                       "tensors, parameter groups, a learning-rate schedule, missing gradients and state_dict resumes "
                       "(built-in torch, optax and keras targets; see docs/checking.md)")
    check.add_argument("--max-tensors", type=int, default=3, help="with --loops: most tensors per loop (default 3)")
    check.add_argument("--max-groups", type=int, default=2, help="with --loops: most parameter groups (default 2)")
    check.set_defaults(func=run_check)

    ident = subparsers.add_parser(
        "identify", help="fingerprint which Adam convention an optimizer implements",
        description="Run designed probes through TARGET and decide its convention (eps placement, AMSGrad form, "
        "decay scaling and order, bias correction, coupled vs decoupled) and its precision in --dtype (the formats "
        "of its arithmetic, state and scalars, how it rounds the parameters); names the preset, reports options "
        "that have no effect, and prints the probe evidence.",
        epilog="examples:\n  adamw-oracle identify keras.Adam\n  adamw-oracle identify mypkg.optim:MyAdam --dtype float32", formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_target(ident)
    ident.set_defaults(func=run_identify)


def _implementation(args: argparse.Namespace) -> Any:
    seconds_option("--case-timeout", args.case_timeout)
    if args.cmd and args.target:
        raise InvalidArgumentError("target", args.target, "no TARGET together with --cmd (give one of them)")
    if args.cmd and args.option:
        raise InvalidArgumentError("option", args.option[0], "only with an import-path optimizer TARGET, not with --cmd")
    if args.cmd:
        from adamw_oracle.adapters.subprocess_adapter import SubprocessImplementation  # loaded only when used

        try:
            argv = shlex.split(args.cmd)
        except ValueError as exc:  # e.g. an unbalanced quote: a usage error, not a traceback
            raise InvalidArgumentError("--cmd", args.cmd, "a shell-style command line", str(exc)) from None
        if not argv:
            raise InvalidArgumentError("--cmd", args.cmd, "a non-empty command line")
        return SubprocessImplementation(argv, timeout=args.case_timeout)
    if not args.target:
        raise InvalidArgumentError("target", None, "a built-in name, module:attribute, or --cmd COMMAND")
    if args.option:
        from adamw_oracle.adapters.registry import resolve_target  # loaded only when used
        from adamw_oracle.adapters.signature import parse_options  # loaded only when used

        return resolve_target(args.target, options=parse_options(args.option))
    return args.target


def _expected(args: argparse.Namespace) -> Any:
    explicit = {name: getattr(args, name) for _, name, _ in _CHOICE_OPTIONS if getattr(args, name)}
    if not explicit:
        return args.expect
    base: dict[str, Any] = {}
    if args.expect:
        from adamw_oracle.check.expected import expected_convention  # loaded only when used

        exp = expected_convention(args.expect)
        base = exp.conventions.as_dict()
        if exp.amsgrad_form is not None:
            base["amsgrad"] = exp.amsgrad_form.value
    base.update(explicit)
    base.pop("maximize", None)
    return base


def run_check(args: argparse.Namespace) -> int:
    from adamw_oracle.check.runner import check_target  # loaded only when used (keeps import and --help fast)

    engine = engine_from_arguments(args)  # usage errors in --workers/--scheduler before any work
    int_option("--examples", args.examples, 1)
    int_option("--seed", args.seed, 0)
    int_option("--max-steps", args.max_steps, 1, MAX_STEPS)
    seconds_option("--time-budget", args.time_budget)
    if args.vectors is not None:
        return _run_vectors(args)
    if args.loops:
        return _run_loops(args, engine)
    from adamw_oracle.cli.progress import ProgressReporter, choose_mode  # rich: only for commands that run

    int_option("--max-size", args.max_size, 1)
    space = case_space(args)
    target = _implementation(args)
    with engine, ProgressReporter("check", args.examples, mode=choose_mode(quiet=args.quiet, json=args.json)) as bar:
        report = check_target(target, expect=_expected(args), dtype=args.dtype or "float32", examples=args.examples,
                              seed=args.seed, time_budget=args.time_budget, case_timeout=args.case_timeout,
                              max_steps=args.max_steps, max_size=args.max_size, large_sizes=args.large_sizes,
                              space=space, progress=bar.note, on_case=_case_progress(bar), engine=engine,
                              known=() if args.strict else None, judge_mode=args.judge_mode)
    if args.json:
        print(dumps(report.as_dict()))
    else:
        print(report.describe())
    return exit_status(report)


def exit_status(report: Any) -> int:
    """0 PASS/KNOWN, 3 OUTSIDE_CONTRACT, 1 otherwise (see the module docstring)."""
    if report.verdict == "OUTSIDE_CONTRACT":
        return 3
    return 0 if report.passed else 1


def case_space(args: argparse.Namespace) -> Any:
    """The :class:`~adamw_oracle.check.space.CaseSpace` of the restriction options.

    Raises:
        InvalidArgumentError: a ``--range`` that is not NAME=LOW:HIGH, names no hyperparameter, or lies
            outside the hyperparameter's domain (exit 2).
    """
    from adamw_oracle.check.space import DOMAINS, CaseSpace  # loaded only when used

    ranges: dict[str, tuple[float, float]] = {}
    for text in args.ranges:
        name, sep, bounds = text.partition("=")
        low, colon, high = bounds.partition(":")
        if not sep or not colon:
            raise InvalidArgumentError("--range", text, "NAME=LOW:HIGH with NAME one of " + ", ".join(DOMAINS))
        try:
            values = (float(low), float(high))
        except ValueError:
            raise InvalidArgumentError("--range", text, "NAME=LOW:HIGH with LOW and HIGH numbers") from None
        if name in ranges:
            raise InvalidArgumentError("--range", text, f"one range per name ({name} is given twice)")
        try:
            CaseSpace(ranges={name: values})
        except InvalidArgumentError as exc:
            raise InvalidArgumentError("--range", text, exc.allowed) from None
        ranges[name] = values
    return CaseSpace(ranges=ranges, positive_lr=args.positive_lr, maximize=False if args.no_maximize else None,
                     amsgrad=False if args.no_amsgrad else None, dtype_range=args.dtype_range)


def _case_progress(bar: Any) -> Any:
    """The ``on_case`` callback of check_target, drawn on ``bar`` (a ProgressReporter)."""
    failing = [0]

    def on_case(phase: str, done: int, total: int, result: Any) -> None:
        if phase == "search":
            if result.failed:
                failing[0] += 1
                if failing[0] == 1:
                    bar.note(f"check: case {done} fails ({result.findings[0].kind}); shrinking it after the search")
            bar.update(done, f"{failing[0]} failing" if failing[0] else "")
        else:
            bar.update(bar.done, f"shrinking: run {done} of at most {total}")

    return on_case


def _run_loops(args: argparse.Namespace, engine: Any) -> int:
    from adamw_oracle.check.loops import check_loops  # loaded only when used (keeps import and --help fast)

    int_option("--max-tensors", args.max_tensors, 1)
    int_option("--max-groups", args.max_groups, 1)
    if args.cmd or args.option:
        raise InvalidArgumentError("--loops", "--cmd" if args.cmd else "--option", "a built-in torch, optax or keras target name "
                                   "(loop adapters drive the framework's own optimizer)")
    if not args.target:
        raise InvalidArgumentError("target", None, "a built-in torch, optax or keras target name with --loops")
    if args.judge_mode == "per-step":
        raise InvalidArgumentError("--judge-mode", args.judge_mode, "auto or trajectory with --loops (training loops "
                                   "are judged by each tensor's trajectory)")
    from adamw_oracle.cli.progress import ProgressReporter, choose_mode  # rich: only for commands that run

    with engine, ProgressReporter("check --loops", args.examples, unit="loops",
                                  mode=choose_mode(quiet=args.quiet, json=args.json)) as bar:
        try:
            report = check_loops(args.target, expect=args.expect, dtype=args.dtype or "float32", examples=args.examples,
                                 seed=args.seed, max_steps=args.max_steps, max_tensors=args.max_tensors,
                                 max_groups=args.max_groups, strict=args.strict, on_loop=_loop_progress(bar),
                                 engine=engine)
        except KeyboardInterrupt as exc:
            partial = getattr(exc, "partial_report", None)
            if partial is not None:  # what was judged before the interruption, then the usual exit status
                bar.finish(interrupted=True)
                print(dumps(partial.as_dict()) if args.json else partial.describe(), flush=True)
            raise
    print(dumps(report.as_dict()) if args.json else report.describe())
    return 0 if report.passed else 1


def _loop_progress(bar: Any) -> Any:
    """The ``on_loop`` callback of check_loops, drawn on ``bar`` (a ProgressReporter)."""

    known = [0]

    def on_loop(phase: str, done: int, total: int, outcome: str) -> None:
        if phase == "search":
            known[0] += outcome == "known"
            if outcome == "fail":
                bar.note(f"check --loops: loop {done} fails; shrinking it")
            bar.update(done, f"{known[0]} known" if known[0] else "")
        else:
            bar.update(bar.done, f"shrinking: loop {done} of at most {total}")

    return on_loop


def _run_vectors(args: argparse.Namespace) -> int:
    from adamw_oracle.check.vectors import replay_vectors  # loaded only when used (keeps import and --help fast)

    preset = args.vectors or args.expect or None
    progress = None if (args.quiet or args.json) else (lambda line: print(line, file=sys.stderr, flush=True))  # one line per vector group
    report = replay_vectors(_implementation(args), preset, dtypes=[args.dtype] if args.dtype else None,
                            case_timeout=args.case_timeout, progress=progress, strict=args.strict)
    print(dumps(report.as_dict()) if args.json else report.describe())
    return 0 if report.passed else 1


def run_identify(args: argparse.Namespace) -> int:
    from adamw_oracle.check.identify import identify  # loaded only when used (keeps import and --help fast)

    result = identify(_implementation(args), dtype=args.dtype)
    print(dumps(result.as_dict()) if args.json else result.describe())
    return 0 if result.identified else 1
