"""The fused kernel: a traced step program run over blocks of elements, compiled once by numba.

A *program* is the list of operations :class:`~adamw_oracle.verify.fused.Tracer` recorded for one
step: row ``(opcode, out, a, b, negate_b)`` of ``prog`` and row ``(ue, eta, largest)`` of ``params``
(the rounding constants of the operation's format). Operand ``a``/``b`` >= 0 is a node (an element
value of the step, nodes 0-4 being the inputs p, g, m, v, vmax), < 0 is slot ``-a - 1`` of the step's
scalar table ``SC[k]`` (hi, [lo,] r, e per slot).

For each block of :data:`BLOCK` elements the kernel keeps every node of the step in a register file
``R[node, comp, j]`` (comp: hi, lo, r, e) that stays in the CPU caches, and for each step and each
operation runs one loop over the block calling the element function of
:mod:`adamw_oracle.verify.fused_ops` (value, reference error, running bound and flags in one pass).
So an operation costs one pass over cached data instead of the array path's 10-60 passes over memory,
the loop over a block has independent iterations (the CPU overlaps them), and one compiled kernel
serves every convention, format and mode (no compilation per convention).

``mode`` 0 (*bounded*) writes every step's parameter (hi, lo, r, e) and flags to ``OUT``/``OF``; mode 1
(*judge*) compares each with the observation ``OBS`` in the same pass, exactly as
:func:`~adamw_oracle.verify.vectorized.judge_vectorized`, and keeps per block the counts (within,
outside, flagged non-finite / ill-conditioned / overflow), the largest fraction of the bound over
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

ADD, MUL, DIV, SQRT, MAX, STORE, NEG = range(7)


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _operand(R: np.ndarray, SC: np.ndarray, k: int, ref: int, dd: bool) -> tuple[bool, float, float, float, float]:
    """(is a node, slot hi, lo, r, e): a slot's components, read once per operation."""
    if ref >= 0:
        return True, 0.0, 0.0, 0.0, 0.0
    base = (-ref - 1) * (4 if dd else 3)
    if dd:
        return False, SC[k, base], SC[k, base + 1], SC[k, base + 2], SC[k, base + 3]
    return False, SC[k, base], 0.0, SC[k, base + 1], SC[k, base + 2]


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _run_op(R: np.ndarray, F: np.ndarray, m: int, op: np.ndarray, par: np.ndarray, SC: np.ndarray, k: int,
            dd: bool) -> None:
    code, out, a, b, negate = op[0], op[1], op[2], op[3], op[4]
    ue, eta, largest = par[0], par[1], par[2]
    na, sah, sal, sar, sae = _operand(R, SC, k, a, dd)
    nb, sbh, sbl, sbr, sbe = _operand(R, SC, k, b, dd)
    for j in range(m):
        if na:
            ah, al, ar, ae = R[a, 0, j], R[a, 1, j], R[a, 2, j], R[a, 3, j]
        else:
            ah, al, ar, ae = sah, sal, sar, sae
        if code <= DIV or code == MAX:
            if nb:
                bh, bl, br, be = R[b, 0, j], R[b, 1, j], R[b, 2, j], R[b, 3, j]
            else:
                bh, bl, br, be = sbh, sbl, sbr, sbe
            if negate:
                bh, bl = -bh, -bl
        else:
            bh, bl, br, be = 0.0, 0.0, 0.0, 0.0
        f = 0
        h, lo, r, e = ah, al, ar, ae
        if dd:
            if code == ADD:
                h, lo, r, e, f = adddd(ah, al, ar, ae, bh, bl, br, be, ue, eta, largest)
            elif code == MUL:
                h, lo, r, e, f = muldd(ah, al, ar, ae, bh, bl, br, be, ue, eta, largest)
            elif code == DIV:
                h, lo, r, e, f = divdd(ah, al, ar, ae, bh, bl, br, be, ue, eta, largest)
            elif code == SQRT:
                h, lo, r, e, f = sqrtdd(ah, al, ar, ae, ue, eta, largest)
            elif code == MAX:
                h, lo, r, e = maxdd(ah, al, ar, ae, bh, bl, br, be)
        else:
            if code == ADD:
                h, r, e, f = add64(ah, ar, ae, bh, br, be, ue, eta, largest)
            elif code == MUL:
                h, r, e, f = mul64(ah, ar, ae, bh, br, be, ue, eta, largest)
            elif code == DIV:
                h, r, e, f = div64(ah, ar, ae, bh, br, be, ue, eta, largest)
            elif code == SQRT:
                h, r, e, f = sqrt64(ah, ar, ae, ue, eta, largest)
            elif code == MAX:
                h, r, e = max64(ah, ar, ae, bh, br, be)
            lo = 0.0
        if code == STORE:
            e, f = store(ah, ar, ae, ue, eta, largest)
        elif code == NEG:
            h, lo = -ah, -al
        R[out, 0, j], R[out, 1, j], R[out, 2, j], R[out, 3, j] = h, lo, r, e
        F[j] |= f


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _block(b: int, prog: np.ndarray, params: np.ndarray, outs: np.ndarray, nodes: int, dd: bool, exact_g: bool,
           S: np.ndarray, ST: np.ndarray, G: np.ndarray, GL: np.ndarray, GR: np.ndarray, SC: np.ndarray,
           SF: np.ndarray, mode: int, OUT: np.ndarray, OF: np.ndarray, SO: np.ndarray, STO: np.ndarray,
           OBS: np.ndarray, slack: float, CNT: np.ndarray, WORST: np.ndarray, FIRST: np.ndarray,
           FDET: np.ndarray) -> None:
    n = G.shape[1]
    start = b * BLOCK
    stop = min(start + BLOCK, n)
    m = stop - start
    R = np.zeros((nodes, 4, m))
    T = np.empty((4, 4, m))
    F = ST[start:stop].copy()
    inputs = (0, 2, 3, 4)
    for var in range(4):
        for c in range(4):
            for j in range(m):
                R[inputs[var], c, j] = S[var, c, start + j]
    c_in = c_out = c_nf = c_ill = c_ov = 0
    worst = 0.0
    fk = fi = -1
    fh = fl = fa = ff = 0.0
    for k in range(G.shape[0]):
        for j in range(m):
            x = G[k, start + j]
            lo = 0.0 if exact_g or not dd else GL[k, start + j]
            r = 0.0 if exact_g else GR[k, start + j]
            e = 0.0
            if not math.isfinite(x):
                F[j] |= NONFINITE
                x = 0.0
                e = INF
            R[1, 0, j], R[1, 1, j], R[1, 2, j], R[1, 3, j] = x, lo, r, e
        for q in range(prog.shape[0]):
            _run_op(R, F, m, prog[q], params[q], SC, k, dd)
        p = outs[0]
        for j in range(m):
            F[j] |= SF[k]
        if mode == 0:
            for j in range(m):
                for c in range(4):
                    OUT[k, c, start + j] = R[p, c, j]
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
                h, lo_p, r, e = R[p, 0, j], R[p, 1, j], R[p, 2, j], R[p, 3, j]
                allowed = slack * e
                finite = math.isfinite(ob)
                d = distance(ob, h, lo_p) if dd else abs(ob - h)
                inside = finite and d * UP2 + r <= allowed
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
        for var in range(4):
            for c in range(4):
                for j in range(m):
                    T[var, c, j] = R[outs[var], c, j]
        for var in range(4):
            for c in range(4):
                for j in range(m):
                    R[inputs[var], c, j] = T[var, c, j]
    for var in range(4):
        for c in range(4):
            for j in range(m):
                SO[var, c, start + j] = R[inputs[var], c, j]
    for j in range(m):
        STO[start + j] = F[j]
    if mode == 1:
        CNT[b, 0], CNT[b, 1], CNT[b, 2], CNT[b, 3], CNT[b, 4] = c_in, c_out, c_nf, c_ill, c_ov
        WORST[b] = worst
        FIRST[b, 0], FIRST[b, 1] = fk, fi
        FDET[b, 0], FDET[b, 1], FDET[b, 2], FDET[b, 3] = fh, fl, fa, ff


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def run_serial(prog: np.ndarray, params: np.ndarray, outs: np.ndarray, nodes: int, dd: bool, exact_g: bool,
               S: np.ndarray, ST: np.ndarray, G: np.ndarray, GL: np.ndarray, GR: np.ndarray, SC: np.ndarray,
               SF: np.ndarray, mode: int, OUT: np.ndarray, OF: np.ndarray, SO: np.ndarray, STO: np.ndarray,
               OBS: np.ndarray, slack: float, CNT: np.ndarray, WORST: np.ndarray, FIRST: np.ndarray,
               FDET: np.ndarray) -> None:
    """Every block in this thread."""
    for b in range((G.shape[1] + BLOCK - 1) // BLOCK):
        _block(b, prog, params, outs, nodes, dd, exact_g, S, ST, G, GL, GR, SC, SF, mode, OUT, OF, SO, STO, OBS,
               slack, CNT, WORST, FIRST, FDET)


@njit(cache=_CACHE, error_model="numpy", nogil=True, parallel=True)
def run_parallel(prog: np.ndarray, params: np.ndarray, outs: np.ndarray, nodes: int, dd: bool, exact_g: bool,
                 S: np.ndarray, ST: np.ndarray, G: np.ndarray, GL: np.ndarray, GR: np.ndarray, SC: np.ndarray,
                 SF: np.ndarray, mode: int, OUT: np.ndarray, OF: np.ndarray, SO: np.ndarray, STO: np.ndarray,
                 OBS: np.ndarray, slack: float, CNT: np.ndarray, WORST: np.ndarray, FIRST: np.ndarray,
                 FDET: np.ndarray) -> None:
    """The blocks spread over numba's threads (``prange``): blocks share nothing but read-only inputs."""
    for b in prange((G.shape[1] + BLOCK - 1) // BLOCK):
        _block(b, prog, params, outs, nodes, dd, exact_g, S, ST, G, GL, GR, SC, SF, mode, OUT, OF, SO, STO, OBS,
               slack, CNT, WORST, FIRST, FDET)
