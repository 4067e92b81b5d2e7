"""numpy entry points to the host build: the CPU counterparts of the three CUDA kernels.

Arrays are checked (dtype, shape, C-contiguity) before the library is called; the library works in
place on the arrays it is given.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adamw_oracle.contract.conventions import AmsGrad, Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu.codes import AMSGRAD_CODES, FAMILY_CODES, SCALAR_COUNT, decode_flags
from adamw_oracle.gpu.hostbuild import load_library
from adamw_oracle.gpu.storage import StorageKind, kind_of


def _address(array: np.ndarray | None) -> int | None:
    return None if array is None else int(array.ctypes.data)


def _require_array(name: str, array: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    if not isinstance(array, np.ndarray):
        raise InvalidArgumentError(name, type(array).__name__, "a numpy array")
    if array.dtype != dtype:
        raise InvalidArgumentError(name, f"array of dtype {array.dtype}", f"dtype {dtype}")
    if array.shape != shape:
        raise InvalidArgumentError(name, f"shape {array.shape}", f"shape {shape}")
    if not array.flags.c_contiguous:
        raise InvalidArgumentError(name, "a non-contiguous array", "a C-contiguous array")


def _require_scalars(scalars: np.ndarray) -> None:
    _require_array("scalars", scalars, np.dtype(np.float64), (SCALAR_COUNT,))


def _require_state_for(flags: int, has_v: bool, has_vmax: bool) -> None:
    """Adam needs v, AMSGrad needs vmax: a missing one would silently read as zero every step."""
    fields = decode_flags(flags)
    if fields["FAMILY"] == FAMILY_CODES[Family.ADAM] and not has_v:
        raise InvalidArgumentError("v", None, "an array: the Adam family keeps a second moment")
    if fields["FAMILY"] == FAMILY_CODES[Family.ADAM] and fields["AMSGRAD"] != AMSGRAD_CODES[AmsGrad.OFF] and not has_vmax:
        raise InvalidArgumentError("vmax", None, "an array: AMSGrad keeps a running maximum")


def host_fused_step(
    dtype: Dtype | str, flags: int, scalars: np.ndarray, p: np.ndarray, g: np.ndarray, m: np.ndarray,
    v: np.ndarray | None = None, vmax: np.ndarray | None = None,
) -> None:
    """One fused step in place over one array (``ao_fused_step_<dtype>`` on the CPU).

    ``p`` and ``g`` are storage arrays of the dtype, ``m``, ``v``, ``vmax`` compute-dtype state (``v``
    None for SGD, ``vmax`` None without AMSGrad).
    """
    kind = kind_of(dtype)
    _check_fused_arrays(kind, p, g, m, v, vmax)
    _require_scalars(scalars)
    _require_state_for(flags, v is not None, vmax is not None)
    if p.size == 0:
        return
    fn = getattr(load_library(), f"ao_host_fused_step_{kind.suffix}")
    fn(p.size, flags, _address(scalars), _address(p), _address(g), _address(m), _address(v), _address(vmax))


def _check_fused_arrays(kind: StorageKind, p: np.ndarray, g: np.ndarray, m: np.ndarray,
                        v: np.ndarray | None, vmax: np.ndarray | None, label: str = "") -> None:
    _require_array(f"p{label}", p, kind.storage, getattr(p, "shape", ()))
    shape = p.shape
    _require_array(f"g{label}", g, kind.storage, shape)
    _require_array(f"m{label}", m, kind.compute, shape)
    if v is not None:
        _require_array(f"v{label}", v, kind.compute, shape)
    if vmax is not None:
        _require_array(f"vmax{label}", vmax, kind.compute, shape)


def host_multi_tensor_step(
    dtype: Dtype | str, flags: int, scalars: np.ndarray, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
    ms: Sequence[np.ndarray], vs: Sequence[np.ndarray] | None = None, vmaxs: Sequence[np.ndarray] | None = None,
) -> None:
    """One step in place over many arrays through pointer tables (``ao_multi_tensor_step_<dtype>``)."""
    kind = kind_of(dtype)
    count = len(params)
    if count == 0:
        raise InvalidArgumentError("params", "an empty list", "at least one array")
    for name, seq in (("grads", grads), ("ms", ms), ("vs", vs), ("vmaxs", vmaxs)):
        if seq is not None and len(seq) != count:
            raise InvalidArgumentError(name, f"{len(seq)} arrays", f"{count} arrays (one per parameter)")
    for j in range(count):
        _check_fused_arrays(kind, params[j], grads[j], ms[j], vs[j] if vs else None, vmaxs[j] if vmaxs else None, f"[{j}]")
    _require_scalars(scalars)
    _require_state_for(flags, vs is not None, vmaxs is not None)

    def table(seq: Sequence[np.ndarray] | None) -> np.ndarray:
        return np.array([_address(a) for a in seq] if seq else [0] * count, dtype=np.uint64)

    sizes = np.array([a.size for a in params], dtype=np.int64)
    tables = [table(params), table(grads), table(ms), table(vs), table(vmaxs)]
    fn = getattr(load_library(), f"ao_host_multi_tensor_step_{kind.suffix}")
    fn(count, flags, _address(scalars), _address(sizes), *(_address(t) for t in tables))


def host_batched_cases(
    dtype: Dtype | str, elem_case: np.ndarray, case_flags: np.ndarray, case_scalars: np.ndarray,
    p0: np.ndarray, grads: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray,
    *, arithmetic: Dtype | str | None = None, comp: np.ndarray | None = None, comp_traj: np.ndarray | None = None,
) -> np.ndarray:
    """Run many independent cases (``ao_batched_cases_<dtype>``); returns the trajectory.

    Shapes (total elements T, cases C, steps S): ``elem_case (T,) int32``, ``case_flags (C,) int32``,
    ``case_scalars (C, S, SCALAR_COUNT) float64``, ``p0 (T,)`` and ``grads (S, T)`` storage dtype,
    ``m, v, vmax (T,)`` compute dtype (updated in place to the final state). Returns ``traj (S, T)``
    in the storage dtype: the parameters after every step. ``arithmetic="float32"`` runs float64
    parameters in float32 (``ao_batched_cases_f64c32``; m, v, vmax are then float32). ``comp (T,)`` and
    ``comp_traj (S, T)`` (storage dtype; zeros / scratch when None) are the Kahan compensation of the
    cases whose flags ask for it: updated in place to the final value, and written after every step.
    """
    kind = kind_of(dtype, arithmetic)
    total = p0.shape[0] if isinstance(p0, np.ndarray) and p0.ndim == 1 else -1
    if total < 0:
        raise InvalidArgumentError("p0", getattr(p0, "shape", type(p0).__name__), "a one-dimensional numpy array")
    cases = case_flags.shape[0] if isinstance(case_flags, np.ndarray) and case_flags.ndim == 1 else -1
    if cases < 0:
        raise InvalidArgumentError("case_flags", getattr(case_flags, "shape", None), "a one-dimensional int32 array")
    steps = case_scalars.shape[1] if isinstance(case_scalars, np.ndarray) and case_scalars.ndim == 3 else -1
    if steps < 0:
        raise InvalidArgumentError("case_scalars", getattr(case_scalars, "shape", None), f"shape (cases, steps, {SCALAR_COUNT})")
    _require_array("elem_case", elem_case, np.dtype(np.int32), (total,))
    _require_array("case_flags", case_flags, np.dtype(np.int32), (cases,))
    _require_array("case_scalars", case_scalars, np.dtype(np.float64), (cases, steps, SCALAR_COUNT))
    _require_array("p0", p0, kind.storage, (total,))
    _require_array("grads", grads, kind.storage, (steps, total))
    for name, array in (("m", m), ("v", v), ("vmax", vmax)):
        _require_array(name, array, kind.compute, (total,))
    if total and (elem_case.min() < 0 or elem_case.max() >= cases):
        raise InvalidArgumentError("elem_case", f"indices in [{elem_case.min()}, {elem_case.max()}]", f"indices in [0, {cases - 1}]")
    comp = np.zeros(total, dtype=kind.storage) if comp is None else comp
    comp_traj = np.empty((steps, total), dtype=kind.storage) if comp_traj is None else comp_traj
    _require_array("comp", comp, kind.storage, (total,))
    _require_array("comp_traj", comp_traj, kind.storage, (steps, total))
    traj = np.empty((steps, total), dtype=kind.storage)
    if total == 0 or steps == 0:
        return traj
    fn = getattr(load_library(), f"ao_host_batched_cases_{kind.suffix}")
    fn(total, steps, *(_address(a) for a in (elem_case, case_flags, case_scalars, p0, grads, m, v, vmax, traj,
                                             comp, comp_traj)))
    return traj


def host_convert(direction: str, values: np.ndarray) -> np.ndarray:
    """The header's own half-precision conversions, elementwise.

    ``direction``: ``"float_to_f16"``, ``"float_to_bf16"`` (float32 in, uint16 bits out, round to
    nearest even) or ``"f16_to_float"``, ``"bf16_to_float"`` (uint16 bits in, float32 out, exact).
    """
    to_half = direction in ("float_to_f16", "float_to_bf16")
    if direction not in ("float_to_f16", "float_to_bf16", "f16_to_float", "bf16_to_float"):
        raise InvalidArgumentError("direction", direction, "float_to_f16, float_to_bf16, f16_to_float or bf16_to_float")
    source = np.ascontiguousarray(values, dtype=np.float32 if to_half else np.uint16)
    out = np.empty(source.shape, dtype=np.uint16 if to_half else np.float32)
    getattr(load_library(), f"ao_host_{direction}")(source.size, _address(source), _address(out))
    return out
