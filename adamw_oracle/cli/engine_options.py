"""``--workers N`` / ``--scheduler ADDRESS``: where a campaign's shards run (``fuzz``, ``check``).

See :mod:`adamw_oracle.verify.distributed` and docs/scale-out.md. Bad values are usage errors (exit 2,
one line): a worker count outside [1, 1024], an address that is not ``scheme://host:port``, both at once.
"""
from __future__ import annotations

import argparse

from adamw_oracle.verify.distributed import Engine

NAMES = ("--workers", "--scheduler")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the two options (mutually exclusive) to ``parser``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run the campaign's shards on a local Dask cluster of N worker processes (default 1: "
                       "serially, in this process); the report does not depend on N")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the shards on the workers of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                       "(see docs/scale-out.md)")


def engine_from_arguments(args: argparse.Namespace) -> Engine:
    """The engine the options ask for (not yet opened: use it in a ``with`` block)."""
    return Engine(args.workers, args.scheduler, argument_names=NAMES)
