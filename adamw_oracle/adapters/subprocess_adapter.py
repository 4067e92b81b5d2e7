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

Numbers are JSON numbers written with Python's ``repr`` (float64 round-trips exactly); non-finite
gradients appear as the tokens ``NaN``, ``Infinity``, ``-Infinity`` (Python's json reads and writes
them). A non-zero exit status, invalid JSON, a wrong shape and a timeout are each reported as the
observation's error. The command runs in its own process group, which is killed (SIGKILL) on timeout or
interruption, so no process is ever left behind.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from collections.abc import Iterable, Sequence

from adamw_oracle.adapters.base import (
    BadOutput,
    CaseOptions,
    as_state,
    as_trajectory,
    empty_params,
    unsupported_reason,
)
from adamw_oracle.contract.capabilities import Capability, parse_capabilities
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.errors import InvalidArgumentError


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
    """Run ``command`` once per case with the case as JSON on stdin (see the module docstring)."""

    def __init__(self, command: str | Sequence[str], *, timeout: float = 20.0, name: str | None = None,
                 capabilities: Iterable[Capability | str] | None = None, cwd: str | None = None) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
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
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, cwd=self.cwd, text=True)
        except OSError as exc:
            return Observation(empty_params(case), error=f"cannot start {self.argv[0]!r}: {exc}")
        try:
            out, err = proc.communicate(case_to_json(case), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return Observation(empty_params(case), error=f"timeout: no answer within {self.timeout:g} s (process killed)")
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        if proc.returncode != 0:
            tail = (err or "").strip().splitlines()[-3:]
            return Observation(empty_params(case), error=f"exit status {proc.returncode}: " + " | ".join(tail))
        try:
            doc = json.loads(out)
            if not isinstance(doc, dict) or "params" not in doc:
                raise BadOutput('stdout is not a JSON object with a "params" key')
            params = as_trajectory(case, doc["params"], "params")
            state = as_state(case, doc.get("state"))
        except (ValueError, BadOutput) as exc:
            return Observation(empty_params(case), error=f"bad output: {exc}; stdout began {out[:80]!r}")
        return Observation(params, state)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=5)
    except Exception:  # noqa: BLE001 - pipes may already be closed
        pass
    proc.wait()
