"""Range checks of command-line options, raising errors that name the option as typed.

argparse converts the text (``type=int``/``float``); these checks then refuse values outside the
allowed range with an :class:`~adamw_oracle.errors.InvalidArgumentError` naming the option
(``--examples=0 is not allowed: expected an int >= 1``), printed as one line with exit status 2.
"""
from __future__ import annotations

import math

from adamw_oracle.contract.case import MAX_SECONDS
from adamw_oracle.errors import InvalidArgumentError


def int_option(option: str, value: int, low: int, high: int | None = None) -> int:
    """``value`` when ``low <= value <= high`` (no upper end when ``high`` is None)."""
    if value < low or (high is not None and value > high):
        allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
        raise InvalidArgumentError(option, value, allowed)
    return value


def seconds_option(option: str, value: float | None, maximum: float = MAX_SECONDS) -> float | None:
    """``value`` when it is None (no limit) or a finite number of seconds in ``(0, maximum]``."""
    if value is not None and not (math.isfinite(value) and 0 < value <= maximum):
        raise InvalidArgumentError(option, value, f"a finite number of seconds in (0, {maximum:g}]")
    return value
