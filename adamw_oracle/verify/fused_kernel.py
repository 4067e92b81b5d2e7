"""The fused kernel: a traced step program run over blocks of elements, compiled once by numba.

A *program* is the list of operations :class:`~adamw_oracle.verify.fused.Tracer` recorded for one
step: row ``(opcode, out, a, b, negate_b)`` of ``prog`` and row ``(ue, eta, largest)`` of ``params``
(the rounding constants of the operation's format). Operand ``a``/``b`` >= 0 is a node (an element
value of the step, nodes 0-4 being the inputs p, g, m, v, vmax), < 0 is slot ``-a - 1`` of the step's
scalar table ``SC[k]`` (hi, [lo,] r, e per slot).

For each block of :data:`BLOCK` elements the kernel keeps every node of the step in a flat register
file ``R`` (node n, component c = hi, lo, r, e, element j at ``n * NODE + c * BLOCK + j``) that stays in
the CPU caches, and for each step and each operation runs one loop over the block calling the element
function of :mod:`adamw_oracle.verify.fused_ops` (value, reference error, running bound and flags in one
pass). The dispatch (operation, reference mode) happens once per operation and block; each loop is
straight-line code over a constant :data:`BLOCK` elements (selects, no branches; a slot operand is
broadcast into a scratch node first, so loops read nodes only), which LLVM's loop vectorizer turns into
SIMD code (4 float64 lanes, ``vdivpd``/``vsqrtpd ymm``). So an operation costs one vectorized pass over
cached data instead of the array path's 10-60 passes over memory, and one compiled kernel serves every
convention, format and mode (no compilation per convention). Bit for bit the array path's numbers: see
docs/error-model.md, section 9.

``mode`` 0 (*bounded*) writes every step's parameter (hi, lo, r, e) and flags to ``OUT``/``OF``; mode 1
(*judge*) compares each with the observation ``OBS`` in the same pass, exactly as
:func:`~adamw_oracle.verify.vectorized.judge_vectorized`, and keeps per block the counts (within,
outside, flagged non-finite / ill-conditioned / overflow, and unflagged bounds ``slack * e`` that are
inf, NaN or above ``limit``, the parameter format's largest finite value, and observations within a bound
whose ``unit * slack * e`` is above ``max(|p before| + |p after|, floor)``: the format's unit roundoff and smallest
normal), the largest fraction of the bound over
judged elements (NaN fractions ignored) and the first failure (lowest step, then element).

This file is never compiled where it is installed: :mod:`adamw_oracle.verify.fused` copies it into the
per-user cache directory and imports the copy, so numba's ``cache=True`` writes the machine code there,
never into site-packages (``_CACHE`` is true only in the copy).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from adamw_oracle.verify.fused_ops import (
    ILL,
    INF,
    NONFINITE,
    UP2,
    add64,
    adddd,
    distance,
    div64,
    divdd,
    max64,
    maxdd,
    mul64,
    muldd,
    sqrt64,
    sqrtdd,
    store,
)

_CACHE = __name__.startswith("adamw_oracle_fused_")
BLOCK = 256
NODE = 4 * BLOCK  # one node of the register file: hi, lo, r, e, BLOCK elements each
LO, RE, BD = BLOCK, 2 * BLOCK, 3 * BLOCK  # offsets of a node's lo, r (reference error), e (bound)

ADD, MUL, DIV, SQRT, MAX, STORE, NEG, MAX_ROUNDED = range(8)

_jit = njit(cache=_CACHE, error_model="numpy", nogil=True)


@_jit
def _add64_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, neg: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        bh = B[j]
        h, r, e, f = add64(A[j], A[RE + j], A[BD + j], -bh if neg else bh, B[RE + j], B[BD + j], ue, eta, largest)
        Y[j], Y[RE + j], Y[BD + j] = h, r, e
        F[j] |= f


@_jit
def _mul64_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, neg: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        h, r, e, f = mul64(A[j], A[RE + j], A[BD + j], B[j], B[RE + j], B[BD + j], ue, eta, largest)
        Y[j], Y[RE + j], Y[BD + j] = h, r, e
        F[j] |= f


@_jit
def _div64_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, neg: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        h, r, e, f = div64(A[j], A[RE + j], A[BD + j], B[j], B[RE + j], B[BD + j], ue, eta, largest)
        Y[j], Y[RE + j], Y[BD + j] = h, r, e
        F[j] |= f


@_jit
def _max64_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, rounding: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        h, r, e, f = max64(A[j], A[RE + j], A[BD + j], B[j], B[RE + j], B[BD + j], rounding, ue, eta, largest)
        Y[j], Y[RE + j], Y[BD + j] = h, r, e
        F[j] |= f


@_jit
def _adddd_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, neg: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        bh, bl = B[j], B[LO + j]
        h, lo, r, e, f = adddd(A[j], A[LO + j], A[RE + j], A[BD + j], -bh if neg else bh, -bl if neg else bl,
                               B[RE + j], B[BD + j], ue, eta, largest)
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = h, lo, r, e
        F[j] |= f


@_jit
def _muldd_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, neg: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        h, lo, r, e, f = muldd(A[j], A[LO + j], A[RE + j], A[BD + j], B[j], B[LO + j], B[RE + j], B[BD + j],
                               ue, eta, largest)
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = h, lo, r, e
        F[j] |= f


@_jit
def _divdd_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, neg: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        h, lo, r, e, f = divdd(A[j], A[LO + j], A[RE + j], A[BD + j], B[j], B[LO + j], B[RE + j], B[BD + j],
                               ue, eta, largest)
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = h, lo, r, e
        F[j] |= f


@_jit
def _maxdd_loop(A: np.ndarray, B: np.ndarray, Y: np.ndarray, F: np.ndarray, rounding: bool, ue: float, eta: float,
                largest: float) -> None:
    for j in range(BLOCK):
        h, lo, r, e, f = maxdd(A[j], A[LO + j], A[RE + j], A[BD + j], B[j], B[LO + j], B[RE + j], B[BD + j],
                               rounding, ue, eta, largest)
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = h, lo, r, e
        F[j] |= f


@_jit
def _sqrt64_loop(A: np.ndarray, Y: np.ndarray, F: np.ndarray, ue: float, eta: float, largest: float) -> None:
    for j in range(BLOCK):
        h, r, e, f = sqrt64(A[j], A[RE + j], A[BD + j], ue, eta, largest)
        Y[j], Y[RE + j], Y[BD + j] = h, r, e
        F[j] |= f


@_jit
def _sqrtdd_loop(A: np.ndarray, Y: np.ndarray, F: np.ndarray, ue: float, eta: float, largest: float) -> None:
    for j in range(BLOCK):
        h, lo, r, e, f = sqrtdd(A[j], A[LO + j], A[RE + j], A[BD + j], ue, eta, largest)
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = h, lo, r, e
        F[j] |= f


@_jit
def _store_loop(A: np.ndarray, Y: np.ndarray, F: np.ndarray, ue: float, eta: float, largest: float) -> None:
    for j in range(BLOCK):
        e, f = store(A[j], A[RE + j], A[BD + j], ue, eta, largest)
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = A[j], A[LO + j], A[RE + j], e
        F[j] |= f


@_jit
def _neg_loop(A: np.ndarray, Y: np.ndarray) -> None:
    for j in range(BLOCK):
        Y[j], Y[LO + j], Y[RE + j], Y[BD + j] = -A[j], -A[LO + j], A[RE + j], A[BD + j]


@_jit
def _operand(R: np.ndarray, SC: np.ndarray, k: int, ref: int, dd: bool, scratch: int) -> np.ndarray:
    """Operand ``ref`` as a node of the register file: node ``ref`` itself, or slot ``-ref - 1`` of step
    ``k``'s scalar table broadcast into the scratch node ``scratch`` (so that every loop reads nodes only)."""
    if ref >= 0:
        return R[ref * NODE:(ref + 1) * NODE]
    width = 4 if dd else 3
    base = (-ref - 1) * width
    X = R[scratch * NODE:(scratch + 1) * NODE]
    h, r, e = SC[k, base], SC[k, base + width - 2], SC[k, base + width - 1]
    lo = SC[k, base + 1] if dd else 0.0
    for j in range(BLOCK):
        X[j], X[LO + j], X[RE + j], X[BD + j] = h, lo, r, e
    return X


@_jit
def _run_op(R: np.ndarray, F: np.ndarray, nodes: int, op: np.ndarray, par: np.ndarray, SC: np.ndarray, k: int,
            dd: bool) -> None:
    """One operation over the block: the dispatch happens here, once per operation and block."""
    code, out, negate = op[0], op[1], op[4] != 0
    ue, eta, largest = par[0], par[1], par[2]
    Y = R[out * NODE:(out + 1) * NODE]
    A = _operand(R, SC, k, op[2], dd, nodes)
    if code == SQRT:
        if dd:
            _sqrtdd_loop(A, Y, F, ue, eta, largest)
        else:
            _sqrt64_loop(A, Y, F, ue, eta, largest)
        return
    if code == STORE:
        _store_loop(A, Y, F, ue, eta, largest)
        return
    if code == NEG:
        _neg_loop(A, Y)
        return
    B = _operand(R, SC, k, op[3], dd, nodes + 1)
    if dd:
        if code == ADD:
            _adddd_loop(A, B, Y, F, negate, ue, eta, largest)
        elif code == MUL:
            _muldd_loop(A, B, Y, F, negate, ue, eta, largest)
        elif code == DIV:
            _divdd_loop(A, B, Y, F, negate, ue, eta, largest)
        else:
            _maxdd_loop(A, B, Y, F, negate, ue, eta, largest)
    elif code == ADD:
        _add64_loop(A, B, Y, F, negate, ue, eta, largest)
    elif code == MUL:
        _mul64_loop(A, B, Y, F, negate, ue, eta, largest)
    elif code == DIV:
        _div64_loop(A, B, Y, F, negate, ue, eta, largest)
    else:
        _max64_loop(A, B, Y, F, negate, ue, eta, largest)


@_jit
def _block(b: int, prog: np.ndarray, params: np.ndarray, outs: np.ndarray, nodes: int, dd: bool, exact_g: bool,
           S: np.ndarray, ST: np.ndarray, G: np.ndarray, GL: np.ndarray, GR: np.ndarray, SC: np.ndarray,
           SF: np.ndarray, mode: int, OUT: np.ndarray, OF: np.ndarray, SO: np.ndarray, STO: np.ndarray,
           OBS: np.ndarray, slack: float, limit: float, unit: float, floor: float, CNT: np.ndarray, WORST: np.ndarray, FIRST: np.ndarray,
           FDET: np.ndarray) -> None:
    n = G.shape[1]
    start = b * BLOCK
    stop = min(start + BLOCK, n)
    m = stop - start
    R = np.zeros((nodes + 2) * NODE)  # two scratch nodes for broadcast slots
    T = np.empty((4, NODE))
    F = np.zeros(BLOCK, dtype=np.int64)
    for j in range(m):
        F[j] = ST[start + j]
    inputs = (0, 2, 3, 4)
    direct = True
    for var in range(4):
        for w in range(4):
            if w != var and outs[w] == inputs[var]:
                direct = False
    for var in range(4):
        base = inputs[var] * NODE
        for c in range(4):
            for j in range(m):
                R[base + c * BLOCK + j] = S[var, c, start + j]
    c_in = c_out = c_nf = c_ill = c_ov = c_ub = c_vac = 0
    worst = 0.0
    fk = fi = -1
    fh = fl = fa = ff = 0.0
    for k in range(G.shape[0]):
        for j in range(m):
            x = G[k, start + j]
            ok = abs(x) < INF
            lo = 0.0 if exact_g or not dd else GL[k, start + j]
            r = 0.0 if exact_g else GR[k, start + j]
            F[j] |= 0 if ok else NONFINITE
            R[NODE + j] = x if ok else 0.0
            R[NODE + BLOCK + j] = lo
            R[NODE + 2 * BLOCK + j] = r
            R[NODE + 3 * BLOCK + j] = 0.0 if ok else INF
        for q in range(prog.shape[0]):
            _run_op(R, F, nodes, prog[q], params[q], SC, k, dd)
        p = outs[0] * NODE
        sf = SF[k]
        for j in range(m):
            F[j] |= sf
        if mode == 0:
            for c in range(4):
                for j in range(m):
                    OUT[k, c, start + j] = R[p + c * BLOCK + j]
            for j in range(m):
                OF[k, start + j] = F[j]
        else:
            for j in range(m):
                st = F[j]
                i = start + j
                if st != 0:
                    if st & NONFINITE:
                        c_nf += 1
                    elif st & ILL:
                        c_ill += 1
                    else:
                        c_ov += 1
                    continue
                ob = OBS[k, i]
                h, lo_p, r, e = R[p + j], R[p + BLOCK + j], R[p + 2 * BLOCK + j], R[p + 3 * BLOCK + j]
                allowed = slack * e
                if not allowed <= limit:  # an unflagged bound that is inf, NaN or beyond the format's range proves nothing
                    c_ub += 1
                    continue
                finite = math.isfinite(ob)
                d = distance(ob, h, lo_p) if dd else abs(ob - h)
                inside = finite and d * UP2 + r <= allowed
                # within a bound wider than the step's own values by over 1/u (node 0 still holds p
                # before the step): set aside (tracked.bound_vacuous)
                if inside and allowed * unit > max(abs(R[j]) + abs(h), floor):
                    c_vac += 1
                    continue
                if inside:
                    c_in += 1
                else:
                    c_out += 1
                if allowed > 0:
                    fraction = d / allowed
                else:
                    fraction = 0.0 if d == 0 else INF
                if not finite:
                    fraction = INF
                if fraction > worst:
                    worst = fraction
                if not inside and (fk < 0 or k < fk or (k == fk and i < fi)):
                    fk, fi, fh, fl, fa, ff = k, i, h, lo_p, allowed, fraction
        if direct:  # the new state into the input nodes: no output is another variable's input node
            for var in range(4):
                src, dst = outs[var] * NODE, inputs[var] * NODE
                if src != dst:  # a variable the step leaves as it is needs no copy
                    for c in range(4):
                        if dd or c != 1:  # float64 reference: every lo is 0
                            for j in range(BLOCK):
                                R[dst + c * BLOCK + j] = R[src + c * BLOCK + j]
        else:
            for var in range(4):
                src = outs[var] * NODE
                for c in range(NODE):
                    T[var, c] = R[src + c]
            for var in range(4):
                dst = inputs[var] * NODE
                for c in range(NODE):
                    R[dst + c] = T[var, c]
    for var in range(4):
        base = inputs[var] * NODE
        for c in range(4):
            for j in range(m):
                SO[var, c, start + j] = R[base + c * BLOCK + j]
    for j in range(m):
        STO[start + j] = F[j]
    if mode == 1:
        CNT[b, 0], CNT[b, 1], CNT[b, 2], CNT[b, 3], CNT[b, 4] = c_in, c_out, c_nf, c_ill, c_ov
        CNT[b, 5], CNT[b, 6] = c_ub, c_vac
        WORST[b] = worst
        FIRST[b, 0], FIRST[b, 1] = fk, fi
        FDET[b, 0], FDET[b, 1], FDET[b, 2], FDET[b, 3] = fh, fl, fa, ff


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def run_serial(prog: np.ndarray, params: np.ndarray, outs: np.ndarray, nodes: int, dd: bool, exact_g: bool,
               S: np.ndarray, ST: np.ndarray, G: np.ndarray, GL: np.ndarray, GR: np.ndarray, SC: np.ndarray,
               SF: np.ndarray, mode: int, OUT: np.ndarray, OF: np.ndarray, SO: np.ndarray, STO: np.ndarray,
               OBS: np.ndarray, slack: float, limit: float, unit: float, floor: float, CNT: np.ndarray, WORST: np.ndarray, FIRST: np.ndarray,
               FDET: np.ndarray) -> None:
    """Every block in this thread."""
    for b in range((G.shape[1] + BLOCK - 1) // BLOCK):
        _block(b, prog, params, outs, nodes, dd, exact_g, S, ST, G, GL, GR, SC, SF, mode, OUT, OF, SO, STO, OBS,
               slack, limit, unit, floor, CNT, WORST, FIRST, FDET)


@njit(cache=_CACHE, error_model="numpy", nogil=True, parallel=True)
def run_parallel(prog: np.ndarray, params: np.ndarray, outs: np.ndarray, nodes: int, dd: bool, exact_g: bool,
                 S: np.ndarray, ST: np.ndarray, G: np.ndarray, GL: np.ndarray, GR: np.ndarray, SC: np.ndarray,
                 SF: np.ndarray, mode: int, OUT: np.ndarray, OF: np.ndarray, SO: np.ndarray, STO: np.ndarray,
                 OBS: np.ndarray, slack: float, limit: float, unit: float, floor: float, CNT: np.ndarray, WORST: np.ndarray, FIRST: np.ndarray,
                 FDET: np.ndarray) -> None:
    """The blocks spread over numba's threads (``prange``): blocks share nothing but read-only inputs."""
    for b in prange((G.shape[1] + BLOCK - 1) // BLOCK):
        _block(b, prog, params, outs, nodes, dd, exact_g, S, ST, G, GL, GR, SC, SF, mode, OUT, OF, SO, STO, OBS,
               slack, limit, unit, floor, CNT, WORST, FIRST, FDET)
