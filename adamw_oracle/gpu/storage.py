"""Parameter dtypes of the GPU layer: storage dtype, compute/state dtype, and exact conversions.

=========  ===================  =========================  ==================
dtype      parameter storage    arithmetic and m, v, vmax  kernel suffix
=========  ===================  =========================  ==================
float64    float64              float64                    f64
float32    float32              float32                    f32
float16    IEEE binary16 bits   float32                    f16
bfloat16   bfloat16 bits        float32                    bf16
float64    float64              float32 (``arithmetic=``)  f64c32
=========  ===================  =========================  ==================

The last row is the float32 working copy of float64 parameters (``kind_of("float64", "float32")``):
p and g are rounded to float32 when read, the float32 result is widened back exactly.

Half-width values cross the Python boundary as ``uint16`` bit patterns (numpy ``float16`` viewed as
``uint16``; bfloat16 as the top half of a float32's bits), so no library's own rounding is involved.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu.sources import DTYPE_SUFFIXES, FLOAT32_ARITHMETIC_SUFFIX


@dataclass(frozen=True)
class StorageKind:
    """How one :class:`Dtype` is held by the kernels."""

    dtype: Dtype
    storage: np.dtype
    compute: np.dtype
    kernel_suffix: str | None = None  # None: the dtype's own suffix

    @property
    def suffix(self) -> str:
        return self.kernel_suffix or DTYPE_SUFFIXES[self.dtype.value]

    @property
    def compute_dtype(self) -> Dtype:
        return Dtype.FLOAT64 if self.compute == np.float64 else Dtype.FLOAT32

    def to_storage(self, values: np.ndarray) -> np.ndarray:
        """float64 values that are values of ``dtype`` (or non-finite) -> storage array (exact)."""
        with np.errstate(over="ignore"):  # out-of-range values become infinities, as rounding says
            return self._to_storage(np.asarray(values, dtype=np.float64))

    def _to_storage(self, values: np.ndarray) -> np.ndarray:
        if self.dtype is Dtype.FLOAT64:
            return values.copy()
        if self.dtype is Dtype.FLOAT32:
            return values.astype(np.float32)
        if self.dtype is Dtype.FLOAT16:
            return values.astype(np.float16).view(np.uint16)
        # values of bfloat16 are exact in float32; anything else is rounded to nearest even (after a
        # first rounding to float32, so callers should pass bfloat16 values, as a Case does)
        bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        return np.where(np.isnan(values), ((bits >> 16) | 0x0040).astype(np.uint16), rounded)

    def from_storage(self, stored: np.ndarray) -> np.ndarray:
        """Storage array -> float64 values (exact)."""
        if self.dtype is Dtype.FLOAT16:
            return np.asarray(stored, dtype=np.uint16).view(np.float16).astype(np.float64)
        if self.dtype is Dtype.BFLOAT16:
            bits = np.asarray(stored, dtype=np.uint16).astype(np.uint32) << 16
            return bits.view(np.float32).astype(np.float64)
        return np.asarray(stored, dtype=np.float64)

    def state_values(self, exact: Any) -> np.ndarray:
        """Exact state values (Fractions) rounded once, to nearest even, into the compute dtype."""
        fmt = self.compute_dtype.format
        rounded = [float(fmt.round(Fraction(x))) for x in exact]
        return np.array(rounded, dtype=self.compute)


KINDS: dict[Dtype, StorageKind] = {
    Dtype.FLOAT64: StorageKind(Dtype.FLOAT64, np.dtype(np.float64), np.dtype(np.float64)),
    Dtype.FLOAT32: StorageKind(Dtype.FLOAT32, np.dtype(np.float32), np.dtype(np.float32)),
    Dtype.FLOAT16: StorageKind(Dtype.FLOAT16, np.dtype(np.uint16), np.dtype(np.float32)),
    Dtype.BFLOAT16: StorageKind(Dtype.BFLOAT16, np.dtype(np.uint16), np.dtype(np.float32)),
}


FLOAT64_IN_FLOAT32 = StorageKind(Dtype.FLOAT64, np.dtype(np.float64), np.dtype(np.float32), FLOAT32_ARITHMETIC_SUFFIX)
"""float64 parameters with float32 arithmetic and state."""


def kind_of(dtype: Dtype | str, arithmetic: Dtype | str | None = None) -> StorageKind:
    """The storage description of a dtype (accepts names); ``arithmetic="float32"`` picks the float32
    instantiation (float64: :data:`FLOAT64_IN_FLOAT32`; the other dtypes already compute in float32)."""
    kind = KINDS[Dtype.parse(dtype)]
    if arithmetic is None:
        return kind
    wanted = Dtype.parse(arithmetic, "arithmetic")
    if wanted is Dtype.FLOAT32 and kind.dtype is Dtype.FLOAT64:
        return FLOAT64_IN_FLOAT32
    if wanted is not kind.compute_dtype:
        raise InvalidArgumentError("arithmetic", wanted.value, f"{kind.compute_dtype.value} or float32 for {kind.dtype.value} parameters")
    return kind


def kind_of_array(array: Any, argument: str, storage: str | None = None) -> StorageKind:
    """The dtype of a parameter array: float64/float32/float16, ml_dtypes bfloat16, or uint16 bits
    together with ``storage="float16"``/``"bfloat16"``."""
    name = str(array.dtype)
    if name == "uint16":
        if storage not in ("float16", "bfloat16"):
            raise InvalidArgumentError(argument, "array of dtype uint16", "uint16 bit patterns only with storage='float16' or 'bfloat16'")
        return KINDS[Dtype.parse(storage)]
    if storage is not None and Dtype.parse(storage, "storage").value != name:
        raise InvalidArgumentError("storage", storage, f"{name} (the dtype of {argument}) or None")
    try:
        return KINDS[Dtype.parse(name, argument)]
    except InvalidArgumentError:
        raise InvalidArgumentError(argument, f"array of dtype {name}", "float64, float32, float16 or bfloat16 arrays") from None
