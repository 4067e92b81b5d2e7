"""Campaigns across processes and machines: a deterministic shard plan run on Dask distributed.

A campaign of ``E`` examples with seed ``S`` is cut into shards (:func:`plan_shards`) whose sizes
depend only on ``E`` and whose hypothesis seeds depend only on ``S`` and the shard index
(:func:`shard_seed`), never on how many workers run them. :class:`Engine` runs a function over the
shards and returns the results in shard order:

* serially in this process (``workers`` 1 or None, no scheduler): the default, as before;
* on a ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes (one machine);
* on a running Dask scheduler given by its address (``tcp://host:port``; many machines).

Because every shard is a pure function of its seed, merging the shard results in index order gives
the same report whichever engine ran them. A campaign that stops at its first failure (``check``)
passes ``stop``: the merged results then run through the lowest-indexed stopping shard exactly as a
serial run, which never starts the shards after it, would have them.

Every shard draws its cases independently of what its process has imported: Hypothesis (since 6.131)
mixes literal constants found in the source of every imported *local* module (outside site-packages,
so every module of an editable install of adamw-oracle, and the caller's own) into its draws, which
makes one seed draw different cases in a worker, in a test session and in the command line. While a
shard runs that set is empty, as it is for an install in site-packages
(:func:`draws_independent_of_imports`).

Dask is imported when an engine with workers starts, not before: a serial campaign never pays for it.
Ctrl-C and SIGTERM while an engine with workers is open close the cluster (its worker processes end with it); an
exception in a worker is raised here as :class:`ShardError` naming the shard and its seed.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import re
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

from adamw_oracle.errors import AdamwOracleError, InvalidArgumentError

T = TypeVar("T")
R = TypeVar("R")

MIN_SHARD_SIZE = 10
MAX_SHARDS = 1024
MAX_WORKERS = 1024
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_ADDRESS = re.compile(r"^(?P<scheme>[a-z]+)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})/?$")


class ShardError(AdamwOracleError):
    """A shard raised (in a worker or in this process): the campaign's own defect, not a finding."""


@dataclass(frozen=True)
class Shard:
    """One piece of a campaign: ``examples`` hypothesis examples drawn with ``seed``."""

    index: int
    count: int
    seed: int
    examples: int

    def __str__(self) -> str:
        return f"shard {self.index + 1}/{self.count} (seed {self.seed}, {self.examples} examples)"


def shard_seed(seed: int, index: int) -> int:
    """The hypothesis seed of shard ``index`` of a campaign with seed ``seed``: the first 8 bytes of
    SHA-256 of ``"adamw-oracle/shard/{seed}/{index}"`` (independent of the engine, the platform and
    ``PYTHONHASHSEED``)."""
    digest = hashlib.sha256(f"adamw-oracle/shard/{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def default_shard_size(examples: int) -> int:
    """At least :data:`MIN_SHARD_SIZE` examples per shard and at most :data:`MAX_SHARDS` shards.

    Every hypothesis run starts with the strategy's simplest case, so each shard repeats it once; ten
    or more examples per shard keep that repetition at or below a tenth of the campaign."""
    return max(MIN_SHARD_SIZE, math.ceil(examples / MAX_SHARDS))


def plan_shards(examples: int, seed: int, shard_size: int | None = None) -> list[Shard]:
    """Cut ``examples`` into shards of ``shard_size`` (default :func:`default_shard_size`); the last
    shard takes the remainder. The plan depends only on its arguments."""
    for name, value, low in (("examples", examples, 1), ("shard_size", shard_size, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise InvalidArgumentError(name, value, f"an int >= {low}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InvalidArgumentError("seed", seed, "an int")
    size = shard_size if shard_size is not None else default_shard_size(examples)
    count = math.ceil(examples / size)
    return [Shard(i, count, shard_seed(seed, i), min(size, examples - i * size)) for i in range(count)]


def check_workers(value: Any, argument: str = "workers") -> int | None:
    """``value`` as a worker count (None stays None: serial)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WORKERS:
        raise InvalidArgumentError(argument, value, f"an int in [1, {MAX_WORKERS}] (1: serial, in this process)")
    return value


def check_scheduler(value: Any, argument: str = "scheduler") -> str | None:
    """``value`` as the address of a Dask scheduler, ``scheme://host:port`` (None stays None)."""
    if value is None:
        return None
    allowed = f"a Dask scheduler address {'|'.join(SCHEDULER_SCHEMES)}://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    match = _ADDRESS.match(value) if isinstance(value, str) else None
    if match is None or match["scheme"] not in SCHEDULER_SCHEMES or not 1 <= int(match["port"]) <= 65535:
        raise InvalidArgumentError(argument, value, allowed)
    return value


class Engine:
    """Where a campaign's shards run; use as a context manager (it owns the cluster or connection,
    started on the first :meth:`run` and kept for later runs until the block ends).

    Args:
        workers: worker processes of a local cluster on this machine; 1 or None: serial, in process.
        scheduler: address of a running Dask scheduler (its workers run the shards); excludes ``workers``.
        connect_timeout: seconds to wait for the scheduler (or the local cluster) to answer.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *,
                 connect_timeout: float = 10.0, argument_names: tuple[str, str] = ("workers", "scheduler")) -> None:
        self.workers = check_workers(workers, argument_names[0])
        self.scheduler = check_scheduler(scheduler, argument_names[1])
        if self.workers is not None and self.scheduler is not None:
            raise InvalidArgumentError(argument_names[0], workers, f"nothing together with {argument_names[1]} "
                                       "(the scheduler's cluster has its own workers)")
        self.connect_timeout = connect_timeout
        self._argument_names = argument_names
        self._stack: contextlib.ExitStack | None = None
        self._client: Any = None
        self._interrupts: _Interrupts | None = None

    @property
    def serial(self) -> bool:
        return self.scheduler is None and (self.workers is None or self.workers == 1)

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"Dask scheduler {self.scheduler}"
        return "serial, in process" if self.serial else f"local Dask cluster of {self.workers} worker processes"

    def __enter__(self) -> Engine:
        stack = contextlib.ExitStack()
        if not self.serial:
            self._interrupts = stack.enter_context(_Interrupts())
        self._stack = stack
        return self

    def __exit__(self, *exc_info: Any) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is None:
            return
        interrupts, self._interrupts = self._interrupts, None
        if interrupts is None:
            stack.close()
            return
        with interrupts.deferred():  # a second Ctrl-C must not leave the cluster half closed
            stack.close()

    def _connect(self, stack: contextlib.ExitStack) -> Any:
        # dask is imported here, not at module level: serial campaigns never need it
        from distributed import Client, LocalCluster  # optional dependency (distributed), imported only when used

        if self.scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                # CRITICAL: a worker whose scheduler closes first (Ctrl-C) logs heartbeat tracebacks at
                # ERROR; a shard's own exception still comes back through its future (ShardError)
                silence_logs=logging.CRITICAL, scheduler_port=0,
                # the scheduler's HTTP server (health and metrics routes) starts even without a dashboard,
                # on port 8787 by default: a free port instead, so two clusters never contend for it
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}))
            return stack.enter_context(Client(cluster, timeout=self.connect_timeout))
        try:
            return stack.enter_context(Client(self.scheduler, timeout=self.connect_timeout))
        except (OSError, TimeoutError) as exc:
            raise InvalidArgumentError(self._argument_names[1], self.scheduler, "the address of a running Dask scheduler",
                                       f"no answer within {self.connect_timeout:g} s: {type(exc).__name__}: {exc}") from exc

    def run(self, function: Callable[[T], R], items: Sequence[T], *, stop: Callable[[R], bool] | None = None,
            on_result: Callable[[T, R], None] | None = None) -> list[R]:
        """``[function(item) for item in items]``, in item order, on this engine.

        With ``stop``: the results run through the first item (in order) whose result satisfies it;
        later items are not started (serial) or cancelled and dropped (workers). ``on_result`` is
        called here, in this process, as each kept result arrives (in completion order with workers).
        An exception of ``function`` for a kept item becomes :class:`ShardError`.
        """
        function = functools.partial(_in_shard, function)
        if self.serial:
            out: list[R] = []
            for item in items:
                result = _call(function, item)
                out.append(result)
                if on_result is not None:
                    on_result(item, result)
                if stop is not None and stop(result):
                    break
            return out
        if self._stack is None:
            raise RuntimeError("Engine.run outside its 'with' block")
        if self._client is None:  # the cluster starts (or the scheduler is reached) on first use
            with self._interrupts.deferred() if self._interrupts is not None else contextlib.nullcontext():
                self._client = self._connect(self._stack)
        return self._run_distributed(function, items, stop, on_result)

    def on_every_worker(self, function: Callable[[], Any]) -> int:
        """Call ``function()`` once in every worker process (e.g. to import a framework or fill caches
        before a campaign); returns how many workers ran it (0 when serial: nothing is called)."""
        if self.serial:
            return 0
        if self._stack is None:
            raise RuntimeError("Engine.on_every_worker outside its 'with' block")
        if self._client is None:
            with self._interrupts.deferred() if self._interrupts is not None else contextlib.nullcontext():
                self._client = self._connect(self._stack)
        return len(self._client.run(function))

    def _run_distributed(self, function: Callable[[T], R], items: Sequence[T], stop: Callable[[R], bool] | None,
                         on_result: Callable[[T, R], None] | None) -> list[R]:
        from distributed import as_completed  # optional dependency (distributed), imported only when used

        client = self._client
        futures = [client.submit(function, item, pure=False) for item in items]
        index_of = {future.key: i for i, future in enumerate(futures)}
        results: dict[int, R] = {}
        errors: dict[int, BaseException] = {}
        limit = len(items)  # only items below this index count; it drops to just past a stop or an error
        try:
            for future in as_completed(futures):
                i = index_of[future.key]
                if i >= limit:
                    continue
                if future.status == "error":
                    errors[i] = future.exception()
                    limit = i + 1
                elif future.status == "finished":
                    results[i] = future.result()
                    if on_result is not None:
                        on_result(items[i], results[i])
                    if stop is not None and stop(results[i]):
                        limit = i + 1
                else:
                    continue
                if limit < len(items):
                    client.cancel([f for j, f in enumerate(futures) if j >= limit and f.status == "pending"])
                if all(j in results or j in errors for j in range(limit)):
                    break
        finally:
            client.cancel([f for f in futures if f.status == "pending"])
        for i in range(limit):
            if i in errors:
                exc = errors[i]
                raise ShardError(f"{items[i]} raised on a worker: {type(exc).__name__}: {exc}") from exc
            if i not in results:  # e.g. cancelled by someone else on a shared scheduler
                raise ShardError(f"{items[i]} came back without a result (status {futures[i].status})")
        return [results[i] for i in range(limit)]


def _in_shard(function: Callable[[T], R], item: T) -> R:
    with draws_independent_of_imports(), warnings.catch_warnings():
        # Dask's own threads (heartbeats, retries with jitter) draw from the global `random` while a
        # shard generates cases; Hypothesis notices the state change and would warn on every shard
        warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies")
        return function(item)


@contextlib.contextmanager
def draws_independent_of_imports() -> Iterator[None]:
    """While open, Hypothesis draws without the constants it collects from imported local modules
    (see the module docstring), so a seed draws the same cases in every process.

    Hypothesis offers no setting for this; the context replaces its (private) collector
    ``hypothesis.internal.conjecture.providers._get_local_constants`` and clears the cache derived
    from it, and restores both on exit. Should a Hypothesis release move them, nothing is replaced and
    the engine-identity tests (tests/test_distributed.py) say so.
    """
    try:
        from hypothesis.internal.conjecture import providers  # hypothesis loads only when cases are drawn
        from hypothesis.internal.constants_ast import Constants  # hypothesis loads only when cases are drawn
    except ImportError:
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    cache: Any = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if original is None or not hasattr(cache, "clear"):
        yield
        return
    empty = Constants()

    def no_local_constants() -> Any:
        return empty

    cache.clear()
    providers._get_local_constants = no_local_constants
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def _call(function: Callable[[T], R], item: T) -> R:
    try:
        return function(item)
    except Exception as exc:
        raise ShardError(f"{item} raised: {type(exc).__name__}: {exc}") from exc


class _Interrupts:
    """While installed (main thread only), SIGINT and SIGTERM raise KeyboardInterrupt, so the engine's
    ``with`` block closes the cluster as on Ctrl-C; inside :meth:`deferred` (starting or closing the
    cluster, which must not be cut in half) a signal is held and raised when the section ends."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._deferring = 0
        self._pending: int | None = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring and self._pending is None:
            self._pending = signum
            return  # a second signal while deferred is not held: the user insists
        raise KeyboardInterrupt(f"signal {signum}")

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending is not None:
            signum, self._pending = self._pending, None
            raise KeyboardInterrupt(f"signal {signum}")
