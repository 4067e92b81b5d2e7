"""The vectorized judge fused: the traced reference step run by one compiled kernel (numba).

The reference layer's own element steps (``reference.adam.adam_element_step``,
``reference.sgd.sgd_element_step``, with the stores of :func:`~adamw_oracle.verify.vectorized.one_step`)
are run once per step on a *tracing* backend (:class:`Tracer`): the per-step scalars are concrete 0-d
:class:`~adamw_oracle.verify.array_backend.ArrayNumber` values (an operation between scalars only is
done right away by the numpy :class:`~adamw_oracle.verify.array_backend.ArrayBackend`, the plain
path's own code), while the element numbers are symbols. Every operation that touches an element is
recorded with its rounding format; the scalars it meets become *slots* of a per-step table. The
recorded sequence is the step's *structure*: it depends on the conventions, the formats and the mode
(float64 or double-double reference), not on the values, so the steps of a run share one (SGD's first
step with momentum has its own). There is no second formulation of the step: the program is what the
reference step did on the tracer.

:mod:`adamw_oracle.verify.fused_kernel` runs a structure as a program over blocks of elements: each
operation is one loop over a cached block calling the element function of
:mod:`adamw_oracle.verify.fused_ops` (the array backend's formulas on one element, bit for bit). Mode
*bounded* gives the numbers :func:`~adamw_oracle.verify.vectorized.bounded_chunks` yields; mode *judge*
compares with the observation in the same pass. The kernel is one compiled function for every
convention: it is copied into a per-user cache directory (``$ADAMW_ORACLE_CACHE_DIR/fused``, else
``$XDG_CACHE_HOME/adamw-oracle/fused`` or ``~/.cache/adamw-oracle/fused``; mode 700, used only when
owned by the user and not writable by others, else one private per-user directory in the temporary
directory, ``adamw-oracle-fused-<uid>``, reused by every process) and imported from
there with ``cache=True``, so it compiles once per machine, and nothing is written into
site-packages. No ``fastmath``: the error-free transformations of double-double need IEEE semantics.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import math
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adamw_oracle.atomic import write_atomically
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.precision import FormatCost, PrecisionModel
from adamw_oracle.gpu.hostbuild import trusted_path
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.verify.array_backend import UP, ArrayBackend, ArrayNumber
from adamw_oracle.verify.fused_kernel import BLOCK
from adamw_oracle.verify.judge import Failure, Judgement, ulps_between
from adamw_oracle.verify.tracked import BOUND_OVERFLOW, BOUND_VACUOUS, NONFINITE, vacuity_constants


class Unfusable(Exception):
    """The step used an operation the tracer cannot record on elements (the numpy path runs instead)."""


# -- tracing ---------------------------------------------------------------------------------------
class _Num:
    """A number of the tracing backend: a concrete scalar (:class:`Const`) or an element symbol (:class:`Node`)."""

    __slots__ = ("fmt", "flags", "tracer")
    fmt: FormatCost
    flags: int
    tracer: Tracer

    def _wrap(self, other: Any) -> _Num:
        if isinstance(other, _Num):
            return other
        c = self.tracer.real.exact(other)
        c.fmt = self.fmt  # as ArrayNumber._wrap: a plain number joins the format of the number it meets
        return Const(c, self.tracer)

    def _coarser(self, other: _Num) -> FormatCost:
        # ArrayNumber._coarser: an element meeting a scalar of another format rounds to the arithmetic
        return self.fmt if self.fmt.name == other.fmt.name else self.tracer.fmt

    def __add__(self, other: Any) -> _Num:
        o = self._wrap(other)
        return self.tracer.binary("add", self, o, self._coarser(o))

    __radd__ = __add__

    def __sub__(self, other: Any) -> _Num:
        o = self._wrap(other)
        return self.tracer.binary("sub", self, o, self._coarser(o))

    def __rsub__(self, other: Any) -> _Num:
        return self._wrap(other).__sub__(self)

    def __mul__(self, other: Any) -> _Num:
        o = self._wrap(other)
        return self.tracer.binary("mul", self, o, self._coarser(o))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> _Num:
        o = self._wrap(other)
        return self.tracer.binary("div", self, o, self._coarser(o))

    def __rtruediv__(self, other: Any) -> _Num:
        o = self._wrap(other)
        return self.tracer.binary("div", o, self, self._coarser(o))

    def __neg__(self) -> _Num:
        return self.tracer.neg(self)


class Const(_Num):
    """A concrete 0-d number (a per-step scalar, or a result computed from scalars only)."""

    __slots__ = ("value",)

    def __init__(self, value: ArrayNumber, tracer: Tracer) -> None:
        self.value, self.fmt, self.flags, self.tracer = value, value.fmt, int(value.flags), tracer


class Node(_Num):
    """An element symbol: the ``id``-th value of the traced step."""

    __slots__ = ("id",)

    def __init__(self, ident: int, fmt: FormatCost, flags: int, tracer: Tracer) -> None:
        self.id, self.fmt, self.flags, self.tracer = ident, fmt, flags, tracer


Ref = tuple[str, int]
"""``("n", id)``: a node; ``("s", j)``: slot j of the step's scalar table."""


def _format_params(fmt: FormatCost, ulps: float = 1.0) -> tuple[float, float, float]:
    """(ue, eta, largest) as ArrayBackend.rounded computes them."""
    return (ulps * fmt.unit_roundoff * UP, fmt.underflow * UP, fmt.largest)


class Tracer:
    """The reference step's backend protocol, recording every operation that touches an element."""

    rigorous = False

    def __init__(self, real: ArrayBackend) -> None:
        self.real = real
        self.fmt = real.fmt
        self.prec = real.prec
        self.double_double = real.double_double
        self.ops: list[tuple[Any, ...]] = []
        self.slots: list[ArrayNumber] = []
        self.count = 0

    def input(self, fmt: FormatCost, flags: int) -> Node:
        node = Node(self.count, fmt, flags, self)
        self.count += 1
        return node

    def ref(self, a: _Num) -> Ref:
        if isinstance(a, Node):
            return ("n", a.id)
        assert isinstance(a, Const)
        self.slots.append(a.value)
        return ("s", len(self.slots) - 1)

    def _emit(self, kind: str, args: tuple[_Num, ...], params: tuple[Any, ...], fmt: FormatCost) -> Node:
        refs = tuple(self.ref(a) for a in args)
        flags = 0
        for a in args:
            flags |= a.flags
        out = Node(self.count, fmt, flags, self)
        self.count += 1
        self.ops.append((kind, out.id, refs, params))
        return out

    # -- the protocol ------------------------------------------------------------------------------
    def exact(self, value: Any) -> Const:
        return Const(self.real.exact(value), self)

    const = exact

    def binary(self, kind: str, a: _Num, b: _Num, fmt: FormatCost) -> _Num:
        if isinstance(a, Const) and isinstance(b, Const):
            real = self.real
            if kind in ("add", "sub"):
                return Const(real.add(a.value, b.value, fmt, subtract=kind == "sub"), self)
            if kind == "mul":
                return Const(real.multiply(a.value, b.value, fmt), self)
            return Const(real.divide(a.value, b.value, fmt), self)
        return self._emit(kind, (a, b), _format_params(fmt), fmt)

    def neg(self, a: _Num) -> _Num:
        if isinstance(a, Const):
            return Const(-a.value, self)
        return self._emit("neg", (a,), (), a.fmt)

    def sqrt(self, a: _Num) -> _Num:
        if isinstance(a, Const):
            return Const(self.real.sqrt(a.value), self)
        return self._emit("sqrt", (a,), _format_params(self.fmt), self.fmt)

    def maximum(self, a: _Num, b: _Num) -> _Num:
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(self.real.maximum(a.value, b.value), self)
        if a.fmt.name != b.fmt.name:  # ArrayBackend.maximum: one rounding into the arithmetic format
            fmt = a._coarser(b)
            return self._emit("max_rounded", (a, b), _format_params(fmt), fmt)
        return self._emit("max", (a, b), (), self.fmt)

    def power(self, base: _Num, exponent: int) -> _Num:
        if isinstance(base, Const):
            return Const(self.real.power(base.value, exponent), self)
        raise Unfusable("power of an element")

    def store(self, a: _Num, fmt: FormatCost) -> _Num:
        if fmt.name == self.fmt.name:
            return a
        if isinstance(a, Const):
            return Const(self.real.store(a.value, fmt), self)
        out = self._emit("store", (a,), _format_params(fmt), self.fmt)
        return out


STATE = ("p", "m", "v", "vmax")


@dataclass(frozen=True)
class StepTrace:
    """One traced step: its structure (the kernel key), its scalar table and the flags it carries."""

    structure: tuple[Any, ...]
    slots: tuple[ArrayNumber, ...]
    p_flags: int
    state_flags: tuple[int, int, int, int]
    fmt: FormatCost
    row: tuple[float, ...]  # the slots' components as the kernel's scalar table holds them


def trace_step(real: ArrayBackend, consts: StepConstants, step: Any, flags: tuple[int, int, int, int],
               formats: tuple[FormatCost, FormatCost]) -> StepTrace:
    """Run ``step(backend, consts, p, g, m, v, vmax)`` (returning the new p, m, v, vmax) on a :class:`Tracer`."""
    tracer = Tracer(real)
    state_fmt, param_fmt = formats
    fmt = real.fmt
    p, g, m, v, vmax = (tracer.input(fmt, f) for f in (flags[0], 0, flags[1], flags[2], flags[3]))
    wrapped = StepConstants(t=consts.t, **{name: Const(getattr(consts, name), tracer)
                                            for name in consts.__dataclass_fields__ if name != "t"})
    outs = step(tracer, wrapped, p, g, m, v, vmax)
    if not all(isinstance(o, Node) for o in outs):
        raise Unfusable("a state value that is no element")
    out_ids = tuple(o.id for o in outs)
    structure = (real.double_double, tuple(tracer.ops), out_ids, tracer.count, len(tracer.slots))
    row: list[float] = []
    for s in tracer.slots:
        row.append(float(s.hi))
        if real.double_double:
            row.append(float(s.lo))
        row.extend((float(s.r), float(s.e)))
    return StepTrace(structure, tuple(tracer.slots), outs[0].flags, tuple(o.flags for o in outs), outs[0].fmt,
                     tuple(row))


# -- the compiled kernel ----------------------------------------------------------------------------
_OPCODES = {"add": 0, "sub": 0, "mul": 1, "div": 2, "sqrt": 3, "max": 4, "store": 5, "neg": 6, "max_rounded": 7}


def program(structure: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A structure as the kernel's arrays: ``prog`` rows (opcode, out, a, b, flag), ``params`` rows
    (ue, eta, largest), the output nodes of p, m, v, vmax, and the number of nodes."""
    _dd, ops, outs, count, _nslots = structure

    def code(ref: Ref) -> int:
        kind, j = ref
        return j if kind == "n" else -j - 1

    prog = np.zeros((len(ops), 5), dtype=np.int64)
    params = np.zeros((len(ops), 3))
    for q, (kind, out, refs, par) in enumerate(ops):
        prog[q, 0], prog[q, 1] = _OPCODES[kind], out
        prog[q, 2] = code(refs[0])
        prog[q, 3] = code(refs[1]) if len(refs) > 1 else 0
        prog[q, 4] = kind in ("sub", "max_rounded")  # the loops' flag: negate b / round the maximum
        if par:
            params[q] = par
    return prog, params, np.array(outs, dtype=np.int64), count


def cache_root() -> Path:
    """Per-user directory of the compiled kernel (numba's cache of its machine code lives beside it)."""
    explicit = os.environ.get("ADAMW_ORACLE_CACHE_DIR")
    if explicit:
        return Path(explicit) / "fused"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "adamw-oracle" / "fused"


_SOURCES = (Path(__file__).with_name("fused_kernel.py"), Path(__file__).with_name("fused_ops.py"))
_lock = threading.Lock()
_loaded: list[Any] = []


def _directory() -> Path:
    root = cache_root()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if trusted_path(root):
            return root
    except OSError:
        pass
    # someone else could place code here, or it cannot be created: a private directory instead
    return _private_directory()


def _private_directory() -> Path:
    """The fallback when the cache cannot be trusted: one directory per user in the temporary directory,
    ``adamw-oracle-fused-<uid>`` (mode 700, reused by every process, so the kernel compiles once there
    too), used only when this user owns it and no one else can write it; else (someone else created
    that name first) a fresh ``mkdtemp`` directory, removed when the process exits."""
    shared = Path(tempfile.gettempdir()) / f"adamw-oracle-fused-{os.getuid()}"
    try:
        shared.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        pass
    if trusted_path(shared):
        return shared
    fresh = Path(tempfile.mkdtemp(prefix="adamw-oracle-fused-"))
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    return fresh


def kernel() -> Any:
    """The kernel module: fused_kernel.py copied into the cache directory (named by a hash of both
    sources, numba's and Python's versions) and imported from there, once per process."""
    if _loaded:
        return _loaded[0]
    with _lock:
        if _loaded:
            return _loaded[0]
        import numba  # heavy: loaded with the first fused judgement

        source = _SOURCES[0].read_text(encoding="utf-8")
        digest = hashlib.sha256("\n".join([source, _SOURCES[1].read_text(encoding="utf-8"), numba.__version__,
                                           sys.version]).encode()).hexdigest()[:24]
        name = f"adamw_oracle_fused_{digest}"
        directory = _directory()
        path = directory / f"{name}.py"
        if path.exists() and not trusted_path(path):
            directory = _private_directory()
            path = directory / f"{name}.py"
            if path.exists() and not trusted_path(path):
                directory = Path(tempfile.mkdtemp(prefix="adamw-oracle-fused-"))
                atexit.register(shutil.rmtree, directory, ignore_errors=True)
                path = directory / f"{name}.py"
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            write_atomically(path, source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # numba's cache finds a kernel's globals by module name
        spec.loader.exec_module(module)
        _loaded.append(module)
        return module


# -- running a case ----------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A case's inputs as the kernels read them, and its traced steps grouped by structure."""

    state: np.ndarray          # S[var, comp, i]
    sticky: np.ndarray         # ST[i]
    grads: np.ndarray          # G[k, i]
    grads_lo: np.ndarray       # GL[k, i] or (1, 1) zeros
    grads_r: np.ndarray
    exact_grads: bool
    exact_state: bool
    groups: list[tuple[int, int, StepTrace, np.ndarray, np.ndarray]]  # (k0, k1, first trace, SC, SF)
    fmt: FormatCost
    double_double: bool


def _table(traces: list[StepTrace], dd: bool) -> tuple[np.ndarray, np.ndarray]:
    width = 4 if dd else 3
    table = np.array([tr.row for tr in traces], dtype=np.float64).reshape(len(traces), len(traces[0].slots) * width)
    return table, np.array([tr.p_flags for tr in traces], dtype=np.uint8)


def step_identity(step: Any) -> Any:
    """What identifies a step function for the trace cache, or None (not cacheable): a
    ``functools.partial`` by its function and bound arguments (vectorized.py makes a new one per case
    with equal arguments), any other callable by itself (identity). Two different step functions never
    share a key, so never a trace."""
    out: tuple[Any, ...]
    if isinstance(step, functools.partial):
        inner = step_identity(step.func)
        if inner is None:
            return None
        out = ("partial", inner, step.args, tuple(sorted(step.keywords.items())))
    else:
        out = ("callable", step)
    try:
        hash(out)
    except TypeError:
        return None
    return out


_TRACES: dict[tuple[Any, ...], StepTrace] = {}
_TRACES_MAX = 50_000


def prepare(backend: ArrayBackend, consts: list[StepConstants], step: Any, formats: tuple[FormatCost, FormatCost],
            inputs: tuple[Any, Any, Any, Any], grads: Any, key: Any = None) -> Prepared:
    """Trace every step and lay the inputs out for the kernels.

    ``inputs``: p, m, v, vmax as the ``_Exact`` host arrays of vectorized.py; ``grads``: a list of
    them (one per step). ``key``: per step, hashable and equal only for equal (config of the step,
    precision model): the traces are then cached per (step function, key, step number, incoming flags,
    mode), since a trace depends on nothing else (:func:`step_identity`; a step without one is traced
    every time)."""
    dd = backend.double_double
    n = int(inputs[0].hi.shape[0])
    state = np.zeros((4, 4, n))
    sticky = np.zeros(n, dtype=np.uint8)
    exact_state = True
    for var, x in enumerate(inputs):
        hi = np.asarray(x.hi, dtype=np.float64)
        finite = np.isfinite(hi)
        all_finite = bool(finite.all())
        state[var, 0] = hi if all_finite else np.where(finite, hi, 0.0)
        if x.lo is not None and dd:
            state[var, 1] = x.lo
            exact_state = False
        if x.r is not None:
            state[var, 2] = x.r
            exact_state = False
        if not all_finite:  # else bound 0 and no flag: state and sticky are zeros already
            state[var, 3] = np.where(finite, 0.0, np.inf)
            sticky |= (~finite).astype(np.uint8) * NONFINITE
    rows = [np.asarray(g.hi, dtype=np.float64) for g in grads]
    base = rows[0].base if rows else None
    if (base is not None and isinstance(base, np.ndarray) and base.dtype == np.float64 and base.ndim == 2
            and base.shape == (len(rows), n) and base.flags.c_contiguous
            and all(r.base is base for r in rows) and rows[0].ctypes.data == base.ctypes.data):
        g_hi = base  # the run's own (steps, n) gradient array: no copy
    else:
        g_hi = np.stack(rows) if rows else np.zeros((0, n))
    exact_grads = all(g.r is None and (g.lo is None or not dd) for g in grads)
    if exact_grads:
        g_lo = g_r = np.zeros((1, 1))
    else:
        g_lo = np.stack([np.zeros(n) if g.lo is None or not dd else np.asarray(g.lo) for g in grads])
        g_r = np.stack([np.zeros(n) if g.r is None else np.asarray(g.r) for g in grads])
    traces = []
    flags = (0, 0, 0, 0)
    identity = None if key is None else step_identity(step)
    for index, c in enumerate(consts):
        cache_key = None if identity is None else (identity, key[index], c.t, flags, backend.double_double)
        tr = _TRACES.get(cache_key) if cache_key is not None else None
        if tr is None:
            tr = trace_step(backend, c, step, flags, formats)
            if cache_key is not None:
                if len(_TRACES) >= _TRACES_MAX:
                    _TRACES.clear()
                _TRACES[cache_key] = tr
        flags = tr.state_flags
        traces.append(tr)
    groups = []
    k0 = 0
    for k in range(1, len(traces) + 1):
        if k == len(traces) or traces[k].structure != traces[k0].structure:
            table, step_flags = _table(traces[k0:k], dd)
            groups.append((k0, k, traces[k0], table, step_flags))
            k0 = k
    fmt = traces[-1].fmt if traces else backend.fmt
    return Prepared(np.ascontiguousarray(state), sticky, np.ascontiguousarray(g_hi), g_lo, g_r, exact_grads,
                    exact_state, groups, fmt, dd)


def _slice(prep: Prepared, start: int, stop: int, k0: int, k1: int) -> tuple[np.ndarray, ...]:
    grads_lo = prep.grads_lo if prep.exact_grads else prep.grads_lo[k0:k1, start:stop]
    grads_r = prep.grads_r if prep.exact_grads else prep.grads_r[k0:k1, start:stop]
    return (np.ascontiguousarray(prep.grads[k0:k1, start:stop]), np.ascontiguousarray(grads_lo),
            np.ascontiguousarray(grads_r))


def parallel_for(n: int) -> bool:
    """Whether to spread a case of n elements over numba's threads: only big cases pay for the start,
    and only from the main thread (numba's default ``workqueue`` threading layer aborts the process
    when two threads launch parallel kernels at once; judges running in worker threads stay serial)."""
    return (n >= 16 * BLOCK and (os.cpu_count() or 1) > 1
            and threading.current_thread() is threading.main_thread())


_EMPTY_F = np.zeros((1, 1))
_EMPTY_OUT = np.zeros((1, 4, 1))
_EMPTY_U8 = np.zeros((1, 1), dtype=np.uint8)


def _launch(prep: Prepared, group: tuple[int, int, StepTrace, np.ndarray, np.ndarray], start: int, stop: int,
            state: np.ndarray, sticky: np.ndarray, mode: int, outputs: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Run steps k0..k1 of ``group`` on elements start..stop; returns the new (state, sticky)."""
    k0, k1, trace, table, step_flags = group
    prog, params, outs, nodes = program(trace.structure)
    g, gl, gr = _slice(prep, start, stop, k0, k1)
    new_state, new_sticky = np.empty_like(state), np.empty_like(sticky)  # the kernel writes every entry
    mod = kernel()
    args = (prog, params, outs, nodes, prep.double_double, prep.exact_grads, state, sticky, g, gl, gr, table,
            step_flags, mode, *outputs[:2], new_state, new_sticky, *outputs[2:])
    if parallel_for(stop - start):
        import numba  # heavy: loaded with the kernel

        # blocks handed out 8 at a time as threads come free (not split evenly up front): on a shared
        # machine a thread that loses its core would otherwise hold up the whole launch
        with numba.parallel_chunksize(8):
            mod.run_parallel(*args)
    else:
        mod.run_serial(*args)
    return new_state, new_sticky


def fused_chunks(prep: Prepared, backend: ArrayBackend, chunk: int) -> Iterator[tuple[int, int, ArrayNumber]]:
    """``(start, k, p)`` as :func:`~adamw_oracle.verify.vectorized.bounded_chunks` yields them."""
    n = int(prep.state.shape[2])
    for start in range(0, n, max(chunk, 1)):
        stop = min(start + chunk, n)
        state = np.ascontiguousarray(prep.state[:, :, start:stop])
        sticky = prep.sticky[start:stop].copy()
        for group in prep.groups:
            k0, k1 = group[0], group[1]
            out = np.empty((k1 - k0, 4, stop - start))
            out_flags = np.empty((k1 - k0, stop - start), dtype=np.uint8)
            state, sticky = _launch(prep, group, start, stop, state, sticky, 0,
                                    (out, out_flags, _EMPTY_F, 1.0, 1.0, 0.0, 0.0, np.zeros((1, 7), dtype=np.int64), np.zeros(1),
                                     np.zeros((1, 2), dtype=np.int64), np.zeros((1, 4))))
            for k in range(k1 - k0):
                p = ArrayNumber(out[k, 0], out[k, 1] if prep.double_double else None, out[k, 2], out[k, 3],
                                out_flags[k], prep.fmt, backend)
                yield start, k0 + k, p


def fused_one_step(prep: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray, StepTrace]:
    """Run a one-step preparation in bounded mode: ``(p, state, sticky, trace)`` with ``p[c, i]`` the
    new parameter (hi, lo, r, e), ``state[var, c, i]`` the new p, m, v, vmax and ``sticky[i]`` the
    element flags the step raised (the step's scalar flags, ``trace.p_flags`` and ``trace.state_flags``,
    are left to the caller, which attributes them per quantity as the array path does)."""
    assert len(prep.groups) == 1 and prep.groups[0][1] - prep.groups[0][0] == 1
    k0, k1, trace, table, step_flags = prep.groups[0]
    n = int(prep.state.shape[2])
    out = np.empty((1, 4, n))
    out_flags = np.empty((1, n), dtype=np.uint8)
    state, sticky = _launch(prep, (k0, k1, trace, table, np.zeros_like(step_flags)), 0, n, prep.state, prep.sticky,
                            0, (out, out_flags, _EMPTY_F, 1.0, 1.0, 0.0, 0.0, np.zeros((1, 7), dtype=np.int64), np.zeros(1),
                                np.zeros((1, 2), dtype=np.int64), np.zeros((1, 4))))
    return out[0], state, sticky, trace


def fused_judge(prep: Prepared, case: Case, observation: Observation, precision: PrecisionModel,
                slack: float) -> Judgement:
    """The verdicts of :func:`~adamw_oracle.verify.vectorized.judge_vectorized`, from the kernel's judge mode."""
    observed_all = np.ascontiguousarray(np.asarray(observation.params, dtype=np.float64))
    n = int(prep.state.shape[2])
    state, sticky = prep.state, prep.sticky
    counts = np.zeros(7, dtype=np.int64)
    worst = 0.0
    first: Failure | None = None
    fmt = precision.param.format
    largest = float(fmt.largest)  # a slackened bound above it proves nothing (judge.bound_proves)
    unit, tiny = vacuity_constants(fmt)  # the constants of tracked.bound_vacuous
    nblocks = (n + BLOCK - 1) // BLOCK
    for group in prep.groups:
        k0, k1 = group[0], group[1]
        cnt = np.zeros((nblocks, 7), dtype=np.int64)
        worst_b = np.zeros(nblocks)
        first_b = np.full((nblocks, 2), -1, dtype=np.int64)
        detail = np.zeros((nblocks, 4))
        obs = np.ascontiguousarray(observed_all[k0:k1])
        state, sticky = _launch(prep, group, 0, n, state, sticky, 1,
                                (_EMPTY_OUT, _EMPTY_U8, obs, float(slack), largest, unit, tiny, cnt, worst_b, first_b, detail))
        counts += cnt.sum(axis=0)
        if nblocks and cnt[:, :2].sum():
            worst = max(worst, float(worst_b.max()))
        if first is None:
            bad = np.nonzero(first_b[:, 0] >= 0)[0]
            if bad.size:
                b = int(min(bad, key=lambda x: (first_b[x, 0], first_b[x, 1])))
                k, i = k0 + int(first_b[b, 0]), int(first_b[b, 1])
                first = _failure(k, i, float(observed_all[k, i]), detail[b], prep.double_double, fmt)
    reasons = {}
    for name, count in (("non-finite input", counts[2]), ("ill-conditioned divisor", counts[3]),
                        ("possible overflow", counts[4]), (BOUND_OVERFLOW, counts[5]), (BOUND_VACUOUS, counts[6])):
        if count:
            reasons[name] = int(count)
    result = {"within": int(counts[0]), "outside": int(counts[1]), "ill_conditioned": int(counts[2:].sum())}
    return Judgement(result["outside"] == 0, result, first, worst, precision, slack, None, reasons)


def _failure(k: int, element: int, obs: float, detail: np.ndarray, dd: bool, fmt: Any) -> Failure:
    exact = Fraction(float(detail[0])) + (Fraction(float(detail[1])) if dd else 0)
    ulps = ulps_between(obs, exact, fmt) if math.isfinite(obs) else math.inf
    return Failure(k + 1, element, float(obs), exact, float(detail[2]), ulps, float(detail[3]))


__all__ = ["BLOCK", "Prepared", "StepTrace", "Tracer", "Unfusable", "cache_root", "fused_chunks", "fused_judge",
           "fused_one_step", "kernel", "prepare", "program", "trace_step"]
