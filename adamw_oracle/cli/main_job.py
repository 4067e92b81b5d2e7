"""PLACEHOLDER: the main job (issue 7) is to be written."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("the main job is not written yet")
