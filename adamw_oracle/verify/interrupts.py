"""A Ctrl-C is never lost inside a search: signals are latched and raised again between examples.

Python runs a signal handler in the main thread at the next bytecode, wherever that is. When it is
inside a garbage-collector callback (Hypothesis registers one, ``junkdrawer.gc_callback``, to time the
collections) or a ``__del__`` finalizer, the KeyboardInterrupt the handler raises is "unraisable":
CPython prints ``Exception ignored in ...`` and goes on, so ``check`` or ``fuzz`` kept running after the
user's Ctrl-C. No setting of Hypothesis or of :mod:`gc` prevents it, and the moment of a collection
cannot be chosen, so :func:`latched_interrupts` wraps the SIGINT and SIGTERM handlers: each signal is
recorded before the handler it replaced runs (raising as before), and :meth:`Latch.check`, called
between examples, raises it again, by calling that handler once more (KeyboardInterrupt, or the CLI's
``Terminated``), when the search is still running after it: the interruption was swallowed.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)


class Latch:
    """The signals received while :func:`latched_interrupts` is open (see the module docstring)."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._pending: int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._pending = signum
        self._deliver(signum, frame)

    def _deliver(self, signum: int, frame: FrameType | None) -> None:
        self._previous[signum](signum, frame)

    def check(self) -> None:
        """Raise a signal that arrived and was swallowed (the search is still running after it)."""
        if self._pending is not None:
            signum, self._pending = self._pending, None
            self._deliver(signum, None)


@contextlib.contextmanager
def latched_interrupts() -> Iterator[Latch]:
    """While open (main thread only: elsewhere the latch never fires), SIGINT and SIGTERM are latched
    as the module docstring says where their handler is a Python function (SIGINT's default
    KeyboardInterrupt, the CLI's SIGTERM handler); an ignored or default (process-ending) signal is left
    as it is. The handlers are restored on exit."""
    latch = Latch()
    if threading.current_thread() is threading.main_thread():
        for signum in _SIGNALS:
            current = signal.getsignal(signum)
            if not callable(current):  # SIG_IGN, SIG_DFL, or installed outside Python
                continue
            latch._previous[signum] = current
            signal.signal(signum, latch._handle)
    try:
        yield latch
    finally:
        for signum, previous in latch._previous.items():
            signal.signal(signum, previous)
