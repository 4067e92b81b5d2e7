"""Progress of the long commands (``check``, ``fuzz``) on stderr, in one of three modes.

* ``bar`` (stderr is a terminal): a rich progress bar with the count, the rate, the elapsed time and
  the estimated time left, redrawn in place and removed when the work ends;
* ``lines`` (stderr is a pipe or a file): a few summary lines, at 25%, 50%, 75% and at the end, each
  with the count, the elapsed time, the rate and the estimated time left;
* ``off`` (``--quiet`` or ``--json``): nothing.

The library layers only offer callbacks (``check_target(on_case=...)``, ``three_way_fuzz(on_case=...)``);
this module turns them into output, so no library module imports the command line.
"""
from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

MODES = ("bar", "lines", "off")
MILESTONES = (0.25, 0.5, 0.75)


def choose_mode(*, quiet: bool = False, json: bool = False, stream: TextIO | None = None) -> str:
    """``off`` when quiet or printing JSON, ``bar`` on a terminal, else ``lines``."""
    if quiet or json:
        return "off"
    stream = sys.stderr if stream is None else stream
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


class _RateColumn(ProgressColumn):
    """Units per second, from rich's own speed estimate."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.3g} {self.unit}/s", style="progress.data.speed")


class ProgressReporter:
    """Counts ``unit`` (e.g. "cases") towards ``total`` and reports in ``mode`` (see the module docstring).

    Use as a context manager; :meth:`update` sets the count (and an optional short status, e.g. the
    number of failures), :meth:`note` prints one line above the bar (or as a line).
    """

    def __init__(self, label: str, total: int, *, unit: str = "cases", mode: str = "lines",
                 stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.label, self.total, self.unit, self.mode = label, max(int(total), 1), unit, mode
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.status = ""
        self._start = time.monotonic()
        self._next_milestone = 0
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        self._start = time.monotonic()
        if self.mode == "bar":
            console = Console(file=self.stream)
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(self.unit),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                console=console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, status="")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.finish(interrupted=kind is not None)

    def update(self, done: int, status: str = "") -> None:
        """The work has reached ``done`` of ``total`` units."""
        self.done, self.status = done, status
        if self.mode == "bar" and self._bar is not None:
            self._bar.update(self._task, completed=done, status=status)
        elif self.mode == "lines":
            while self._next_milestone < len(MILESTONES) and done >= MILESTONES[self._next_milestone] * self.total:
                self._next_milestone += 1
                if done < self.total:
                    self._line()

    def note(self, text: str) -> None:
        """One line of information (printed above the bar on a terminal)."""
        if self.mode == "bar" and self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        elif self.mode == "lines":
            print(text, file=self.stream, flush=True)

    def finish(self, interrupted: bool = False) -> None:
        """Remove the bar; in ``lines`` mode print the closing summary line."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.mode == "lines" and self._next_milestone <= len(MILESTONES):
            self._next_milestone = len(MILESTONES) + 1
            if self.done or not interrupted:  # nothing to sum up when it stopped before the first unit
                self._line(" (interrupted)" if interrupted else "")

    def summary(self) -> str:
        """``label: done/total unit (percent) in elapsed, rate, ETA``: the text of one summary line."""
        elapsed = time.monotonic() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 and self.done < self.total else 0.0
        text = (f"{self.label}: {self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%) in "
                f"{_seconds(elapsed)}, {rate:.3g} {self.unit}/s")
        if self.done < self.total:
            text += f", ETA {_seconds(left)}"
        return text + (f", {self.status}" if self.status else "")

    def _line(self, suffix: str = "") -> None:
        print(self.summary() + suffix, file=self.stream, flush=True)


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(round(value)), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
