"""Typed command-line options: argparse ``type=`` converters that validate ranges.

A bad value is an argparse error, so the message names the option as typed (``--examples``), the value
and the allowed range, and the exit status is 2 with no traceback.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from adamw_oracle.contract.case import MAX_SECONDS


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """A converter accepting a decimal int in ``[low, high]`` (no upper end when ``high`` is None)."""
    allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"

    def convert(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    convert.__name__ = "int"
    return convert


def seconds(maximum: float = MAX_SECONDS) -> Callable[[str], float]:
    """A converter accepting a finite number of seconds in ``(0, maximum]``."""
    allowed = f"a finite number of seconds in (0, {maximum:g}]"

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if not (math.isfinite(value) and 0 < value <= maximum):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    convert.__name__ = "seconds"
    return convert
