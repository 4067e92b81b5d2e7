"""A Ctrl-C that lands in a garbage-collector callback still stops check and fuzz (verify/interrupts.py).

The callback raises SIGINT itself, at the start of one collection, the way a Ctrl-C lands there when
the user presses it during one: the handler's KeyboardInterrupt is then raised inside the callback,
where CPython reports it as unraisable and drops it. Before the latch, the search went on to the end.
"""
from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from adamw_oracle.check.runner import check_target
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.verify.fuzz import three_way_fuzz
from adamw_oracle.verify.interrupts import latched_interrupts
from adamw_oracle.verify.numpy_impl import NumpyImplementation


class Collecting(NumpyImplementation):
    """A correct implementation that collects garbage in every run (in the calling thread); the
    collection of its first run is the one the interrupt lands in (``armed``)."""

    armed: list[int] = []

    def __init__(self) -> None:
        super().__init__(name="collecting")
        self.runs = 0

    def run(self, case: Case) -> Observation:
        self.runs += 1
        Collecting.armed.append(self.runs)
        try:
            gc.collect()
        finally:
            Collecting.armed.clear()
        return super().run(case)


@pytest.fixture
def interrupt_in_a_gc_callback() -> Iterator[list[int]]:
    fired: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        # only in the run's own collection: an automatic one before the search (more garbage in a long
        # session) would drop the signal before any latch is installed
        if phase == "start" and not fired and Collecting.armed:
            fired.append(1)
            signal.raise_signal(signal.SIGINT)  # the handler runs here, inside the callback

    gc.callbacks.append(callback)
    try:
        yield fired
    finally:
        gc.callbacks.remove(callback)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_check_stops_on_a_ctrl_c_swallowed_by_a_gc_callback(interrupt_in_a_gc_callback: list[int]) -> None:
    impl = Collecting()
    with pytest.raises(KeyboardInterrupt):
        check_target(impl, expect="torch.Adam", dtype="float64", examples=30, seed=0, case_timeout=None)
    assert interrupt_in_a_gc_callback and impl.runs <= 2  # it stopped at the next example


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_fuzz_stops_on_a_ctrl_c_swallowed_by_a_gc_callback(interrupt_in_a_gc_callback: list[int]) -> None:
    impl = Collecting()
    with pytest.raises(KeyboardInterrupt):
        three_way_fuzz(30, 0, implementations=[impl], symbolic=False)
    assert interrupt_in_a_gc_callback and impl.runs <= 2


def test_the_latch_restores_the_handlers_and_leaves_an_ignored_signal_ignored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with latched_interrupts() as latch:
        assert signal.getsignal(signal.SIGINT) is not before
        latch.check()  # nothing pending: nothing raised
    assert signal.getsignal(signal.SIGINT) is before
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with latched_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
