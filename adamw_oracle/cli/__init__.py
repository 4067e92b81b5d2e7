"""The ``adamw-oracle`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)`` (adds its parser and sets
``func``) and is listed in :data:`SUBCOMMAND_MODULES`. With no subcommand the main job runs.

Exit status: 0 success, 1 a check failed, 2 bad input (printed as one line, no traceback), 130 on
Ctrl-C, 143 on SIGTERM, 129 on SIGHUP. These signals unwind the command as an exception, so every process a checked
program started is ended on the way out (``adapters.process_tree``), as it is at normal exit.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from adamw_oracle import __version__
from adamw_oracle.errors import AdamwOracleError, InvalidArgumentError, UsageError

SUBCOMMAND_MODULES = (
    "adamw_oracle.cli.traces_cmd",
    "adamw_oracle.cli.prove_cmd",
    "adamw_oracle.cli.check_cmd",
    "adamw_oracle.cli.fuzz_cmd",
    "adamw_oracle.cli.plot_cmd",
    "adamw_oracle.cli.vectors_cmd",
)
MAIN_JOB_MODULE = "adamw_oracle.cli.main_job"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C so that cleanup code runs on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


_HANDLED = (signal.SIGTERM, signal.SIGHUP)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep its one-line form
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def option_name(self, argument: str) -> str | None:
        """The option string (``--examples``) whose value lands in ``argument``, if there is one."""
        for action in self._actions:  # argparse offers no public listing of its actions
            if action.option_strings and argument in (action.dest, action.dest.replace("_", "-")):
                return action.option_strings[-1]
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="adamw-oracle",
        description="Certified reference, proofs and conformance checks for Adam, AdamW, SGD and SGDW. "
        "With no subcommand: check the golden traces, prove the identities, run a short fuzz and "
        "check the installed frameworks, then print a summary table.",
        epilog="example: adamw-oracle            (the main job)\n"
        "         adamw-oracle traces     (compare traces/ with a fresh certified regeneration)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"adamw-oracle {__version__}")
    importlib.import_module(MAIN_JOB_MODULE).add_arguments(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    parser.set_defaults(subcommand_parsers=subparsers.choices)
    return parser


def _as_cli_error(exc: InvalidArgumentError, parser: argparse.ArgumentParser, args: argparse.Namespace) -> InvalidArgumentError:
    """The error with a Python argument name (``examples``) replaced by the option that set it."""
    if exc.argument.startswith("-"):
        return exc
    chosen = getattr(args, "subcommand_parsers", {}).get(getattr(args, "command", None), parser)
    for candidate in (chosen, parser):
        option = candidate.option_name(exc.argument) if isinstance(candidate, _Parser) else None
        if option is not None:
            return InvalidArgumentError(option, exc.value, exc.allowed, exc.hint)
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = {signum: signal.signal(signum, _terminate) for signum in _HANDLED} if _main_thread() else {}
    try:
        func = getattr(args, "func", None) or importlib.import_module(MAIN_JOB_MODULE).run
        return int(func(args) or 0)
    except InvalidArgumentError as exc:
        print(f"adamw-oracle: error: {_as_cli_error(exc, parser, args)}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"adamw-oracle: error: {exc}", file=sys.stderr)
        return 2
    except AdamwOracleError as exc:
        print(f"adamw-oracle: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except Terminated as exc:
        print(f"adamw-oracle: terminated ({signal.Signals(exc.signum).name})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("adamw-oracle: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, as Unix tools do
        _silence_stdout()
        return 141
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _silence_stdout() -> None:

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
