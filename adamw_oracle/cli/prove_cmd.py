"""PLACEHOLDER: to be written (see the issue that owns this subcommand)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    pass
