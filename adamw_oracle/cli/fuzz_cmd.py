"""``adamw-oracle fuzz``: the three-way fuzz (reference vs symbolic; GPU host build and numpy vs the
error-model bound), optionally followed by the mutation meta-check.

Examples::

    adamw-oracle fuzz                         # ci profile: 60 cases, seed 0
    adamw-oracle fuzz --examples 500 --seed 7
    adamw-oracle fuzz --profile thorough      # 10,000 cases (long)
    adamw-oracle fuzz --mutations             # also show that every deliberately broken step is caught
    adamw-oracle fuzz --profile thorough --workers 2              # a local Dask cluster of 2 processes
    adamw-oracle fuzz --profile thorough --scheduler tcp://10.0.0.5:8786   # a running Dask cluster

The report is the same for every ``--workers``/``--scheduler`` (the campaign is cut into seeded shards,
see docs/scale-out.md); only the seconds differ.
"""
from __future__ import annotations

import argparse

from adamw_oracle.cli.engine_options import add_engine_arguments, engine_from_arguments
from adamw_oracle.cli.options import int_option

PROFILES = {"ci": 60, "thorough": 10_000}
MAX_EXAMPLES = 10_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fuzz`` subcommand."""
    parser = subparsers.add_parser(
        "fuzz", help="three-way fuzz: reference vs symbolic vs GPU host build (and numpy) within the error model",
        description="Draw cases over every convention and dtype and check (1) that the reference and the symbolic "
        "layer enclose the same values and (2) that the GPU layer's host build and the numpy implementations stay "
        "within the error-model bound. Exit 0 when everything agrees, 1 on any failure.",
        epilog="examples:\n  adamw-oracle fuzz --examples 50 --seed 1\n  adamw-oracle fuzz --mutations",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--examples", type=int, default=None, metavar="N",
                        help="number of cases (default: the profile's: ci 60, thorough 10000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed, an int >= 0 (default 0)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci", help="example budget (default ci)")
    parser.add_argument("--no-symbolic", action="store_true", help="skip the reference/symbolic comparison")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--mutations", action="store_true",
                        help="also run the deliberately broken steps and report which are caught")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    examples = args.examples if args.examples is not None else PROFILES[args.profile]
    int_option("--examples", examples, 1, MAX_EXAMPLES)
    int_option("--seed", args.seed, 0)
    from adamw_oracle.cli.progress import ProgressReporter, choose_mode  # rich: only for commands that run
    from adamw_oracle.verify.fuzz import FuzzSummary, fuzz_campaign  # loaded only when used

    with engine_from_arguments(args) as engine:
        with ProgressReporter("fuzz", examples, mode=choose_mode(quiet=args.quiet)) as bar:
            done = {"cases": 0, "failures": 0}

            def shard_done(_shard: object, part: FuzzSummary) -> None:  # progress advances shard by shard
                done["cases"] += part.cases
                done["failures"] += part.failures
                bar.update(done["cases"], f"{done['failures']} failures" if done["failures"] else "")

            summary = fuzz_campaign(examples, args.seed, engine=engine, symbolic=not args.no_symbolic,
                                    on_shard=shard_done)
        print(summary.describe(), flush=True)
        ok = summary.passed
        if args.mutations:
            from adamw_oracle.verify.meta import hunt_all  # loaded only when used (keeps import and --help fast)

            for hunt in hunt_all(max_examples=max(examples, 300), seed=args.seed, engine=engine):
                print(hunt.describe())
                ok = ok and hunt.caught
    return 0 if ok else 1
