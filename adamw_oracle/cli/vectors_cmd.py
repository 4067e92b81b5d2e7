"""``adamw-oracle vectors``: compare the committed test vectors with a fresh regeneration, or ``--write`` them.

Examples::

    adamw-oracle vectors --check            # exit 1 with a diff of each differing file; prints "N vectors"
    adamw-oracle vectors --write            # regenerate vectors/ atomically
    adamw-oracle vectors --check --preset torch.AdamW --dtype float32
"""
from __future__ import annotations

import argparse

from adamw_oracle.errors import InvalidArgumentError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``vectors`` subcommand."""
    p = subparsers.add_parser(
        "vectors", help="check (or --write) the test-vector suite in vectors/",
        description="Regenerate the test vectors (one JSON file per preset and dtype, plus their JSON Schema) in "
        "memory and compare them byte for byte with the committed files (--check, the default), or replace the "
        "files that differ atomically (--write). Exit 0 when all match, 1 with a diff of each differing file.",
        epilog="examples:\n  adamw-oracle vectors --check\n  adamw-oracle vectors --write\n"
        "  adamw-oracle vectors --check --preset torch.AdamW --dtype float32",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare with a fresh regeneration (the default)")
    mode.add_argument("--write", action="store_true", help="replace the files that differ (atomically)")
    p.add_argument("--dir", default=None, metavar="DIR", help="the vectors folder (default: the repository's vectors/)")
    p.add_argument("--preset", action="append", default=None, metavar="NAME", help="only this preset (repeatable)")
    p.add_argument("--dtype", action="append", default=None, metavar="DTYPE", help="only this dtype (repeatable)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="generator processes (default: CPU count, at most 4)")
    p.set_defaults(func=run_vectors)


def run_vectors(args: argparse.Namespace) -> int:
    from adamw_oracle.vectors import (  # loaded only when used
        compare_suite,
        default_vectors_dir,
        suite_files,
        write_suite,
    )

    if args.jobs is not None and args.jobs < 1:
        raise InvalidArgumentError("--jobs", args.jobs, "an int >= 1")
    directory = args.dir if args.dir is not None else default_vectors_dir()
    files = suite_files(args.preset, args.dtype, jobs=args.jobs)
    count = sum(f.vectors for f in files)
    if args.write:
        written = write_suite(directory, files)
        for path in written:
            print(f"wrote {path}")
        print(f"{count} vectors in {len(files) - 1} files; "
              + (f"{len(written)} file(s) updated in {directory}" if written else f"every file in {directory} was up to date"))
        return 0
    differences, _ = compare_suite(directory, files)
    for difference in differences:
        print(difference.describe())
    if differences:
        print(f"{count} vectors; {len(differences)} file(s) differ from the regeneration; "
              "run `adamw-oracle vectors --write` if the change is intended")
        return 1
    print(f"{count} vectors")
    return 0
