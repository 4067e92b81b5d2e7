"""``adamw-oracle plot``: draw the toolkit's figures as PNG or SVG (needs the ``[plot]`` extra)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adamw_oracle.errors import InvalidArgumentError

EXAMPLES = """examples:
  adamw-oracle plot mechanism -o mechanism.svg
  adamw-oracle plot trace --steps 500 -o trace.png
  adamw-oracle plot check-report --target torch.AdamW --examples 20 -o check.png
  adamw-oracle plot all --dir docs/figures          (every figure, as docs/figures/<name>.png)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from adamw_oracle.plots import FIGURES, FORMATS  # loaded only when used (keeps import and --help fast)

    parser = subparsers.add_parser(
        "plot", help="draw a figure (PNG/SVG): mechanism, trace, check-report, or all",
        description="Draw one of the toolkit's figures from its own computations: 'mechanism' (effective "
        "decay factor vs v-hat, Adam + L2 vs AdamW, seed 000's demo), 'trace' (AdamW vs Adam + L2 vs Adam "
        "trajectories of seed 001's anchor) or 'check-report' (a third-party optimizer's errors in ULPs and "
        "as a fraction of the error-model bound, per dtype). Needs matplotlib: pip install 'adamw-oracle[plot]'.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("figure", choices=[*FIGURES, "all"], help="which figure to draw")
    parser.add_argument("-o", "--output", default=None,
                        help="output file ending in .png or .svg (default: <figure>.<format> in --dir)")
    parser.add_argument("--dir", default=".", help="directory for default file names (default: .)")
    parser.add_argument("--format", choices=FORMATS, default="png", help="format for default file names (default: png)")
    parser.add_argument("--steps", type=int, default=1000, help="trace: number of steps (default 1000)")
    parser.add_argument("--target", default="torch.AdamW", help="check-report: the optimizer to check (default torch.AdamW)")
    parser.add_argument("--examples", type=int, default=30, help="check-report: cases per dtype (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="check-report: seed of the cases (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adamw_oracle.plots import DEFAULT_FILE_NAMES, FIGURES, write_figure  # loaded only when used

    names = list(FIGURES) if args.figure == "all" else [args.figure]
    if args.output is not None and len(names) > 1:
        raise InvalidArgumentError("--output", args.output, "no --output with 'all' (use --dir and --format)")
    directory = Path(args.dir)
    if not directory.is_dir():
        raise InvalidArgumentError("--dir", args.dir, "an existing directory")
    for name in names:
        path = Path(args.output) if args.output else directory / f"{DEFAULT_FILE_NAMES[name]}.{args.format}"
        written = write_figure(name, path, steps=args.steps, target=args.target, examples=args.examples, seed=args.seed)
        print(f"wrote {written}", file=sys.stderr)
    return 0
