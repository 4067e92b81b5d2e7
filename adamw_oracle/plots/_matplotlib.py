"""Lazy access to matplotlib, an optional extra (``pip install adamw-oracle[plot]``).

matplotlib is imported only when a figure is drawn, with the non-interactive Agg backend so that
plotting works on machines without a display.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from adamw_oracle.errors import InvalidArgumentError, MissingExtraError

FORMATS = ("png", "svg")


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend, or :class:`MissingExtraError`."""
    try:
        import matplotlib  # optional dependency (matplotlib), imported only when used
    except ImportError as exc:
        raise MissingExtraError(
            "plotting needs matplotlib, which is not installed: pip install 'adamw-oracle[plot]'"
        ) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # optional dependency (matplotlib), imported only when used

    return plt


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if it names a .png or .svg file in an existing directory, else an error."""
    target = Path(path)
    if target.suffix.lower().lstrip(".") not in FORMATS:
        raise InvalidArgumentError("output", str(path), "a file name ending in .png or .svg")
    if not target.parent.is_dir():
        raise InvalidArgumentError("output", str(path), "a path in an existing directory")
    return target


def save_figure(figure: Any, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Write ``figure`` to ``path`` (PNG or SVG, from the suffix) atomically and close it.

    The file is written next to its destination under a temporary name and then moved into place
    with :func:`os.replace`, so an interrupted run never leaves a half-written image.
    """
    target = check_output_path(path)
    fmt = target.suffix.lower().lstrip(".")
    plt = pyplot()
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".{fmt}", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format=fmt, dpi=dpi, bbox_inches="tight",
                           metadata={"Software": None} if fmt == "png" else {"Date": None})
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; a figure is a document meant to be read
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        plt.close(figure)
    return target
