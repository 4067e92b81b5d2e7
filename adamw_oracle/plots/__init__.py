"""Figures drawn from the toolkit's own computations (matplotlib is the optional extra ``[plot]``).

* ``mechanism`` -- effective per-step decay factor versus v-hat, Adam + L2 vs AdamW (seed 000's demo).
* ``trace`` -- parameter trajectories of AdamW, Adam + L2 and Adam for seed 001's anchor, extended.
* ``check-report`` -- a third-party optimizer's errors in ULPs and as a fraction of the error-model
  bound, per dtype.

Importing this package does not import matplotlib; drawing a figure does, and raises
:class:`MissingExtraError` naming ``adamw-oracle[plot]`` when it is not installed.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.plots._matplotlib import FORMATS, MissingExtraError, check_output_path, save_figure


def _mechanism(**options: Any) -> Any:
    from adamw_oracle.plots.mechanism import mechanism_figure  # loaded only when used (keeps import and --help fast)

    return mechanism_figure()


def _trace(steps: int = 1000, **options: Any) -> Any:
    from adamw_oracle.plots.trace import trace_figure  # loaded only when used (keeps import and --help fast)

    return trace_figure(steps)


def _check_report(target: str = "torch.AdamW", examples: int = 30, seed: int = 0, **options: Any) -> Any:
    from adamw_oracle.plots.check_report import check_report_figure  # loaded only when used

    return check_report_figure(target, examples=examples, seed=seed)


FIGURES: dict[str, Callable[..., Any]] = {"mechanism": _mechanism, "trace": _trace, "check-report": _check_report}
DEFAULT_FILE_NAMES = {"mechanism": "mechanism", "trace": "trace", "check-report": "check_report"}


def draw(name: str, **options: Any) -> Any:
    """The matplotlib Figure ``name`` (one of :data:`FIGURES`), drawn with ``options``."""
    if name not in FIGURES:
        raise InvalidArgumentError("figure", name, "one of " + ", ".join(FIGURES))
    return FIGURES[name](**options)


def write_figure(name: str, path: str | Path, **options: Any) -> Path:
    """Draw figure ``name`` and write it to ``path`` (.png or .svg) atomically; returns the path."""
    check_output_path(path)
    figure = draw(name, **options)
    return save_figure(figure, path)


__all__ = ["DEFAULT_FILE_NAMES", "FIGURES", "FORMATS", "MissingExtraError", "draw", "save_figure", "write_figure"]
