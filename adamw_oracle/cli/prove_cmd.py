"""``adamw-oracle prove``: check every theorem of the symbolic layer; write or check the document.

* no option: one line per theorem (name, statement, held / FAILED with the residual); exit 1 if any fails;
* ``--format markdown|latex``: also write the derivations document (default ``docs/proofs.md`` / ``.tex``,
  or ``--output PATH``; ``--output -`` prints it);
* ``--check-docs``: exit 1 if the committed ``docs/proofs.md`` / ``docs/proofs.tex`` differ from a fresh
  generation (what CI runs).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prove", help="prove the AdamW identities (sympy) and write/check docs/proofs.md",
        description="Prove every theorem of the symbolic layer; print one line each. Exit 1 if any fails.",
        epilog="examples:\n  adamw-oracle prove\n  adamw-oracle prove --format markdown --output -\n"
        "  adamw-oracle prove --check-docs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=("text", "markdown", "latex"), default="text",
                        help="markdown/latex: also write the derivations document (default: text lines only)")
    parser.add_argument("--output", default=None,
                        help="where to write the document (default docs/proofs.md or docs/proofs.tex; '-' = stdout)")
    parser.add_argument("--check-docs", action="store_true",
                        help="exit 1 if the committed docs/proofs.md and docs/proofs.tex are not current")
    parser.add_argument("--docs-dir", default=None, help="directory of the committed documents (default: docs/)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adamw_oracle.atomic import write_atomically  # loaded only when used (keeps import and --help fast)
    from adamw_oracle.errors import InvalidArgumentError  # loaded only when used (keeps import and --help fast)
    from adamw_oracle.symbolic import prove_all  # loaded only when used (keeps import and --help fast)
    from adamw_oracle.symbolic.render import (  # loaded only when used
        FILE_NAMES,
        docs_dir_or_refuse,
        render,
        stale_documents,
    )

    if args.output is not None and args.format == "text":
        raise InvalidArgumentError("--output", args.output, "used only with --format markdown or --format latex")
    if args.docs_dir is not None and not Path(args.docs_dir).is_dir():
        raise InvalidArgumentError("--docs-dir", args.docs_dir, "an existing directory (no such directory)")
    needs_docs = args.check_docs or (args.format != "text" and args.output is None)
    docs_dir = docs_dir_or_refuse(args.docs_dir) if needs_docs else None
    target = None
    if args.format != "text" and args.output != "-":
        if args.output:
            target = Path(args.output)
        else:
            assert docs_dir is not None  # needs_docs held
            target = docs_dir / FILE_NAMES[args.format]
        _require_writable(target)
    results = prove_all()
    to_stdout = args.output == "-"
    report = sys.stderr if to_stdout else sys.stdout
    for result in results:
        print(result.line(), file=report)
    failed = [r for r in results if not r.held]
    print(f"{len(results) - len(failed)}/{len(results)} theorems held", file=report)
    status = 1 if failed else 0
    if args.format != "text":
        text = render(results, args.format)
        if to_stdout:
            sys.stdout.write(text)
        else:
            assert target is not None
            try:
                write_atomically(target, text)
            except OSError as exc:
                raise InvalidArgumentError("--output", str(target), f"a writable file path ({exc.strerror or exc})") from exc
            print(f"wrote {target}", file=report)
    if args.check_docs:
        stale = stale_documents(results, docs_dir)
        for path in stale:
            print(f"stale: {path} differs from a fresh generation "
                  f"(run: adamw-oracle prove --format {'markdown' if path.suffix == '.md' else 'latex'})", file=report)
        if stale:
            status = 1
        else:
            print("documents are current", file=report)
    return status


def _require_writable(path: Path) -> None:
    """Refuse, before the proofs run, a path whose folder cannot take the atomic writer's temporary file."""

    from adamw_oracle.errors import InvalidArgumentError  # loaded only when used (keeps import and --help fast)

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the writer creates missing folders below the first existing one
    if path.is_dir():
        raise InvalidArgumentError("--output", str(path), "a file path (it is a directory)")
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidArgumentError("--output", str(path), f"a writable file path ({folder} is not a writable directory)")
