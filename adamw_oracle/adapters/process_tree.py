"""Every process a target program started, found and ended with psutil.

A program under test may start helpers that leave its process group or session (``setsid``,
``start_new_session``), close their stdio, or double-fork so that they are re-parented to init. A
:class:`ProcessTree` recognises a process as part of the target when any of these holds:

* it is a descendant of the target's root process (polled while the case runs, so a process whose
  parent already exited is still remembered);
* its session id is the root's pid (the root is started with ``start_new_session=True``);
* its environment carries the tree's token (``ADAMW_ORACLE_TREE=<token>``, inherited by every
  descendant that does not scrub its environment).

Processes are remembered as :class:`psutil.Process` objects, which check the creation time before
sending a signal, so a recycled pid is never killed by mistake. :func:`end_all_trees` ends every tree
still alive in this process (used on SIGTERM and at interpreter exit).
"""
from __future__ import annotations

import atexit
import os
import secrets
import threading
import time

import psutil

TOKEN_VARIABLE = "ADAMW_ORACLE_TREE"

_live: set[ProcessTree] = set()
_live_lock = threading.Lock()


class ProcessTree:
    """The processes started on behalf of one case; :meth:`end` kills them all (SIGKILL)."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        # nothing created before the tree can belong to it (1 s margin: create_time is in clock ticks)
        self.started = time.time() - 1.0
        self.root: psutil.Process | None = None
        self._known: dict[tuple[int, float], psutil.Process] = {}
        with _live_lock:
            _live.add(self)

    def environment(self) -> dict[str, str]:
        """The environment the root process is started with (the caller's plus the token)."""
        return {**os.environ, TOKEN_VARIABLE: self.token}

    def adopt(self, pid: int) -> None:
        """Record the root process (right after it was started)."""
        try:
            self.root = psutil.Process(pid)
        except psutil.Error:
            return
        self._remember(self.root)

    def poll(self) -> None:
        """Remember the root's current descendants (cheap; call it while the case runs)."""
        if self.root is None:
            return
        try:
            for child in self.root.children(recursive=True):
                self._remember(child)
        except psutil.Error:
            pass

    def members(self) -> list[psutil.Process]:
        """Every process of the tree that is still running (root included)."""
        self.poll()
        found = dict(self._known)
        root_pid = self.root.pid if self.root is not None else None
        me, uid = os.getpid(), os.getuid()
        for proc in psutil.process_iter(["uids", "create_time"]):
            uids, created = proc.info.get("uids"), proc.info.get("create_time") or 0.0
            if proc.pid in (me, 0, 1) or uids is None or uids.real != uid or created < self.started \
                    or (proc.pid, created) in found:
                continue
            try:
                if root_pid is not None and os.getsid(proc.pid) == root_pid:
                    found[(proc.pid, _created(proc))] = proc
                elif proc.environ().get(TOKEN_VARIABLE) == self.token:
                    found[(proc.pid, _created(proc))] = proc
            except (psutil.Error, OSError):
                continue
        return [p for p in found.values() if _running(p)]

    def end(self, timeout: float = 5.0) -> list[psutil.Process]:
        """SIGKILL every member, wait for them (at most ``timeout`` s); returns those that were killed.

        The root is reaped by its Popen object; other members are waited on when they are our children.
        """
        killed = []
        for _ in range(3):  # a process may start another while we kill: look again
            members = self.members()
            if not members:
                break
            for proc in members:
                try:
                    proc.kill()
                    killed.append(proc)
                except psutil.Error:
                    pass
            psutil.wait_procs(members, timeout=timeout)
        with _live_lock:
            _live.discard(self)
        return killed

    def _remember(self, proc: psutil.Process) -> None:
        self._known.setdefault((proc.pid, _created(proc)), proc)


def _created(proc: psutil.Process) -> float:
    try:
        return proc.create_time()
    except psutil.Error:
        return 0.0


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def end_all_trees() -> None:
    """End every tree still alive in this process (interruption, termination, interpreter exit)."""
    with _live_lock:
        trees = list(_live)
    for tree in trees:
        tree.end(timeout=2.0)


atexit.register(end_all_trees)
