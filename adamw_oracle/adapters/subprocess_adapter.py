"""Any program, in any language, as an :class:`Implementation`: JSON case in, JSON trajectory out.

Protocol (one process per case)::

    stdin  {"dtype": "float32",
            "params": [p_0, ...],                      # initial parameters (values of dtype)
            "gradients": [[g_00, ...], ...],           # one row per step
            "hyper": {"lr": ..., "beta1": ..., "beta2": ..., "eps": ..., "eps_root": ...,
                      "weight_decay": ..., "amsgrad": false, "maximize": false},
            "run": {...}}                              # the exact run (decimal / p/q strings)
    stdout {"params": [[p_00, ...], ...],              # parameters after every step
            "state": {"m": [...], "v": [...]}}         # optional, after the last step
    # or, state after every step (each step is then judged from the program's own state):
    #       "state": {"m": [[...], ...], "v": [[...], ...], "vmax": [[...], ...], "step": [1, 2, ...]}

Numbers are JSON numbers written with Python's ``repr`` (float64 round-trips exactly); non-finite
gradients appear as the tokens ``NaN``, ``Infinity``, ``-Infinity`` (Python's json reads and writes
them). A non-zero exit status, invalid JSON, a wrong shape and a timeout are each reported as the
observation's error.

Process hygiene (the checker never leaves a process behind, see :mod:`.process_tree`):

* the command runs in a new session; every process it starts is tracked (descendants, session,
  an inherited environment token) and killed with SIGKILL when the case ends, whatever the outcome:
  answer, timeout, an exception or interruption of the checker (SIGINT, and SIGTERM through the
  command line's handler);
* output is read as it comes, never buffered whole: more than :func:`stdout_limit` bytes on stdout or
  :attr:`max_stderr` bytes on stderr ends the case as ``bad output: output too large``; only the
  last :data:`STDERR_TAIL` bytes of stderr are kept, for the report;
* a program that exits while a process it started still holds stdout open (so the answer may be
  incomplete) is reported as ``bad output: stdout held open`` after :data:`HELD_OPEN_GRACE` seconds,
  naming that process, instead of waiting for the timeout.
"""
from __future__ import annotations

import json
import os
import selectors
import shlex
import subprocess
import time
from collections.abc import Iterable, Sequence

from adamw_oracle.adapters.base import (
    BadOutput,
    CaseOptions,
    as_states,
    as_trajectory,
    empty_params,
    unsupported_reason,
)
from adamw_oracle.adapters.process_tree import ProcessTree
from adamw_oracle.contract.capabilities import Capability, parse_capabilities
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.errors import InvalidArgumentError

STDERR_TAIL = 8192
"""Bytes of stderr kept for the report (the end of it)."""
HELD_OPEN_GRACE = 1.0
"""Seconds stdout may stay open after the program itself exited."""
_POLL = 0.05


def case_to_json(case: Case) -> str:
    """The JSON document a subprocess receives for ``case``."""
    doc = {
        "dtype": case.dtype.value,
        "params": case.initial_params().tolist(),
        "gradients": case.gradients().tolist(),
        "hyper": CaseOptions.of(case).as_dict(),
        "run": case.run.as_dict(),
    }
    return json.dumps(doc)


class SubprocessImplementation:
    """Run ``command`` once per case with the case as JSON on stdin (see the module docstring).

    ``enforces_timeout`` tells the checker that this adapter applies its own time limit (and kills
    the process tree), so the checker runs it in the calling thread, where an interruption reaches it.
    """

    enforces_timeout = True
    #: cases travel as JSON and a program may hold fixed-size buffers: check draws no tensor-sized cases
    tensor_cases = False
    max_stdout: int | None = None
    """Bytes of stdout accepted (None: :func:`stdout_limit` of the case)."""
    max_stderr = 16 * 2**20
    """Bytes of stderr read before the case ends as ``output too large`` (only a tail is kept)."""

    def __init__(self, command: str | Sequence[str], *, timeout: float = 20.0, name: str | None = None,
                 capabilities: Iterable[Capability | str] | None = None, cwd: str | None = None) -> None:
        if isinstance(command, str):
            try:
                argv = shlex.split(command)
            except ValueError as exc:  # e.g. an unbalanced quote
                raise InvalidArgumentError("command", command, "a shell-style command line", str(exc)) from None
        else:
            argv = list(command)
        if not argv:
            raise InvalidArgumentError("command", command, "a non-empty command line")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidArgumentError("timeout", timeout, "a number of seconds > 0")
        caps = parse_capabilities(capabilities)
        self.argv = argv
        self.timeout = float(timeout)
        self.capabilities = caps
        self.cwd = cwd
        self.name = name or "cmd:" + " ".join(argv)

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        tree = ProcessTree()
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, cwd=self.cwd, env=tree.environment())
        except OSError as exc:
            tree.end()
            return Observation(empty_params(case), error=f"cannot start {self.argv[0]!r}: {exc}")
        tree.adopt(proc.pid)
        try:
            limit = self.max_stdout if self.max_stdout is not None else stdout_limit(case)
            outcome = _Exchange(proc, tree, self, limit).run(case_to_json(case).encode())
        finally:
            tree.end()
            _close(proc)
        if outcome.error is not None:
            return Observation(empty_params(case), error=outcome.error)
        if proc.returncode != 0:
            tail = outcome.stderr_tail().splitlines()[-3:]
            return Observation(empty_params(case), error=f"exit status {proc.returncode}: " + " | ".join(tail))
        out = bytes(outcome.stdout)
        try:
            doc = json.loads(out)
            if not isinstance(doc, dict) or "params" not in doc:
                raise BadOutput('stdout is not a JSON object with a "params" key')
            params = as_trajectory(case, doc["params"], "params")
            state, step_states = as_states(case, doc.get("state"))
        except (ValueError, BadOutput) as exc:
            began = out[:80].decode("utf-8", "replace")
            return Observation(empty_params(case), error=f"bad output: {exc}; stdout began {began!r}")
        return Observation(params, state, step_states=step_states)


class _Exchange:
    """One case's conversation with the process: write stdin, read stdout and stderr as they come
    (capped), watch the clock and the process tree. ``error`` is set when the case ends abnormally."""

    def __init__(self, proc: subprocess.Popen, tree: ProcessTree, impl: SubprocessImplementation, limit: int) -> None:
        self.proc, self.tree, self.impl, self.limit = proc, tree, impl, limit
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stderr_total = 0
        self.error: str | None = None

    def stderr_tail(self) -> str:
        return bytes(self.stderr).decode("utf-8", "replace").strip()

    def run(self, payload: bytes) -> _Exchange:
        proc, impl = self.proc, self.impl
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + impl.timeout
        exited_at: float | None = None
        sel = selectors.DefaultSelector()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
        if payload:
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        view = memoryview(payload)
        try:
            while sel.get_map():
                for key, _ in sel.select(_POLL):
                    if key.fileobj is proc.stdin:
                        view = self._write(sel, view)
                    elif not self._read(sel, key.fileobj):
                        return self
                now = time.monotonic()
                self.tree.poll()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if now > deadline:
                    self.error = f"timeout: no answer within {impl.timeout:g} s (process tree killed)"
                    return self
                if exited_at is not None and now - exited_at > HELD_OPEN_GRACE:
                    if _reading(sel, proc.stdout):
                        self.error = ("bad output: stdout held open: the program exited (status "
                                      f"{proc.returncode}) but {self._holders()} still held its stdout open "
                                      f"{HELD_OPEN_GRACE:g} s later (killed)")
                        return self
                    break  # stdout is complete; a helper holding only stderr is ended with the tree
            remaining = max(deadline - time.monotonic(), 0.0)
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                self.error = f"timeout: no answer within {impl.timeout:g} s (process tree killed)"
        finally:
            sel.close()
        return self

    def _write(self, sel: selectors.BaseSelector, view: memoryview) -> memoryview:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            written = os.write(stdin.fileno(), view[:65536])
        except BlockingIOError:
            return view
        except (BrokenPipeError, OSError):  # the program stopped reading: its answer will tell
            written = len(view)
        view = view[written:]
        if not view:
            sel.unregister(stdin)
            stdin.close()
        return view

    def _read(self, sel: selectors.BaseSelector, stream: object) -> bool:
        """Read what is available; False when the case must end (output too large)."""
        fd = stream.fileno()  # type: ignore[attr-defined]
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            sel.unregister(stream)  # type: ignore[arg-type]
            return True
        if stream is self.proc.stdout:
            self.stdout += chunk
            if len(self.stdout) > self.limit:
                self.error = _too_large("stdout", self.limit)
                return False
        else:
            self.stderr_total += len(chunk)
            self.stderr += chunk
            del self.stderr[:-STDERR_TAIL]
            if self.stderr_total > self.impl.max_stderr:
                self.error = _too_large("stderr", self.impl.max_stderr)
                return False
        return True

    def _holders(self) -> str:
        names = []
        for member in self.tree.members():
            if member.pid == self.proc.pid:
                continue
            try:
                names.append(f"pid {member.pid} ({' '.join(member.cmdline())[:60]!r})")
            except Exception:  # noqa: BLE001 - it may be gone by now
                names.append(f"pid {member.pid}")
        return "a process it started, " + ", ".join(names[:3]) if names else "a process it started"


def _reading(sel: selectors.BaseSelector, stream: object) -> bool:
    try:
        sel.get_key(stream)  # type: ignore[arg-type]
    except KeyError:
        return False
    return True


def stdout_limit(case: Case) -> int:
    """Bytes of stdout a correct answer to ``case`` can need, generously: 1 MiB plus 256 bytes per
    number of the trajectory and state, per-step state included (m, v, vmax after every step and the
    step counter; a float64 ``repr`` takes at most 24 characters)."""
    return 2**20 + 256 * (case.run.size * (4 * case.run.steps + 3) + case.run.steps)


def _too_large(stream: str, limit: int) -> str:
    return f"bad output: output too large: more than {limit} bytes on {stream} (process tree killed)"


def _close(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:  # killed by the tree already; a kernel in D state is not ours to fix
        pass
