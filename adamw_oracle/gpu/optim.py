"""A torch-like optimizer API over CuPy arrays (device kernels) or numpy arrays (the host build).

::

    opt = FusedAdamW([w1, w2], lr=1e-3, weight_decay=1e-2)   # w1, w2: cupy (or numpy) arrays
    opt.step([g1, g2])                                        # updates w1, w2 in place

Every step is the one of the shared contract for ``opt.config`` (see
:mod:`adamw_oracle.contract.conventions`), computed by the kernels of ``kernels/`` with per-step
scalars from :mod:`adamw_oracle.gpu.scalars`. Guarantees:

* All arguments are checked before anything is launched or modified: same array library, dtype,
  shape, C-contiguity and (CuPy) device for every parameter, gradient and state array; an empty
  parameter list is an error; zero-size arrays are allowed and left untouched.
* Non-finite gradients are not skipped: they flow through the IEEE arithmetic exactly as through the
  reference (inf/nan results where the reference has them).
* State (``m``, ``v``, ``vmax``) is kept in the compute dtype: float64 for float64 parameters, float32
  otherwise (float16/bfloat16 parameters have float32 state).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import AmsGrad, Family
from adamw_oracle.contract.presets import preset
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu.codes import flags_for
from adamw_oracle.gpu.scalars import step_scalars
from adamw_oracle.gpu.storage import StorageKind, kind_of_array


def _is_cupy(array: Any) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


def _device_id(array: Any) -> int | None:
    return int(array.device.id) if _is_cupy(array) else None


def _address_range(array: Any) -> tuple[int, int]:
    start = int(array.data.ptr) if _is_cupy(array) else int(array.__array_interface__["data"][0])
    return start, start + int(array.nbytes)


def _refuse_overlaps(params: list[Any]) -> None:
    """Two parameters sharing memory would be stepped twice per step; refuse them (as torch refuses a
    parameter listed twice)."""
    ranges = sorted((*_address_range(p), j) for j, p in enumerate(params) if p.size)
    for (_, end, j), (start, _, k) in zip(ranges, ranges[1:]):
        if start < end:
            first, second = sorted((j, k))
            raise InvalidArgumentError(f"params[{second}]", "memory shared with " + f"params[{first}]",
                                       "distinct, non-overlapping arrays")


class FusedOptimizer:
    """``step(grads)`` for any :class:`OptimizerConfig` over a list of same-dtype arrays.

    Args:
        params: non-empty sequence of C-contiguous arrays, all numpy or all CuPy (one device), of one
            dtype: float64, float32, float16, ml_dtypes bfloat16, or uint16 bit patterns with
            ``storage="float16"``/``"bfloat16"``.
        config: the conventions and exact hyperparameters.
        storage: see ``params``.
        multi_tensor: with CuPy, update all arrays in one multi-tensor launch (else one launch each).
    """

    def __init__(self, params: Sequence[Any], config: OptimizerConfig, *, storage: str | None = None,
                 multi_tensor: bool = True) -> None:
        if not isinstance(config, OptimizerConfig):
            raise InvalidArgumentError("config", type(config).__name__, "an OptimizerConfig")
        if isinstance(params, (np.ndarray,)) or _is_cupy(params) or not isinstance(params, Sequence):
            raise InvalidArgumentError("params", type(params).__name__, "a list of arrays (not a single array)")
        if len(params) == 0:
            raise InvalidArgumentError("params", "an empty list", "at least one array")
        self.config = config
        self.params = list(params)
        self.kind: StorageKind = kind_of_array(self.params[0], "params[0]", storage)
        self.dtype_name = str(self.params[0].dtype)
        self._storage = storage
        self.on_device = _is_cupy(self.params[0])
        self.device = _device_id(self.params[0])
        self.multi_tensor = bool(multi_tensor)
        for j, p in enumerate(self.params):
            self._check_array(f"params[{j}]", p, None)
        _refuse_overlaps(self.params)
        self.flags = flags_for(config)
        self.steps_taken = 0
        is_adam = config.conventions.family is Family.ADAM
        has_max = is_adam and config.conventions.amsgrad is not AmsGrad.OFF
        self.m = self._zeros_like_params()
        self.v = self._zeros_like_params() if is_adam else None
        self.vmax = self._zeros_like_params() if has_max else None

    def _zeros_like_params(self) -> list[Any]:
        """Zero state in the compute dtype, on the parameters' device (or host memory)."""
        if not self.on_device:
            return [np.zeros(p.shape, dtype=self.kind.compute) for p in self.params]
        from adamw_oracle.gpu.device import cupy_module  # heavy or optional

        cupy = cupy_module()
        with cupy.cuda.Device(self.device):
            return [cupy.zeros(p.shape, dtype=self.kind.compute) for p in self.params]

    def _check_array(self, name: str, array: Any, shape: tuple[int, ...] | None) -> None:
        if not (isinstance(array, np.ndarray) or _is_cupy(array)):
            raise InvalidArgumentError(name, type(array).__name__, "a numpy or cupy array")
        if _is_cupy(array) != self.on_device:
            raise InvalidArgumentError(name, type(array).__module__, f"the same array library as params[0] ({'cupy' if self.on_device else 'numpy'})")
        if self.on_device and _device_id(array) != self.device:
            raise InvalidArgumentError(name, f"an array on device {_device_id(array)}", f"arrays on device {self.device} (where params[0] is)")
        if str(array.dtype) != self.dtype_name:
            raise InvalidArgumentError(name, f"array of dtype {array.dtype}", f"dtype {self.dtype_name} like params[0]")
        if shape is not None and tuple(array.shape) != shape:
            raise InvalidArgumentError(name, f"shape {tuple(array.shape)}", f"shape {shape} (the parameter's)")
        if not array.flags.c_contiguous:
            raise InvalidArgumentError(name, "a non-contiguous array", "a C-contiguous array (use ascontiguousarray and copy back)")

    def step(self, grads: Sequence[Any]) -> None:
        """One optimizer step t = steps_taken + 1 with these gradients (one per parameter), in place."""
        if isinstance(grads, np.ndarray) or _is_cupy(grads) or not isinstance(grads, Sequence):
            raise InvalidArgumentError("grads", type(grads).__name__, "a list of arrays, one per parameter")
        if len(grads) != len(self.params):
            raise InvalidArgumentError("grads", f"{len(grads)} arrays", f"{len(self.params)} arrays (one per parameter)")
        for j, (p, g) in enumerate(zip(self.params, grads)):
            self._check_array(f"grads[{j}]", g, tuple(p.shape))
        scalars = step_scalars(self.config, self.steps_taken + 1)
        if self.on_device:
            self._launch_device(scalars, grads)
        else:
            self._launch_host(scalars, grads)
        self.steps_taken += 1

    def _launch_host(self, scalars: np.ndarray, grads: Sequence[np.ndarray]) -> None:
        from adamw_oracle.gpu.host import host_multi_tensor_step  # heavy or optional

        # half-width arrays (float16, ml_dtypes bfloat16) are handed over as uint16 views of the same memory
        params = [p.view(self.kind.storage) for p in self.params]
        grads_view = [g.view(self.kind.storage) for g in grads]
        host_multi_tensor_step(self.kind.dtype, self.flags, scalars, params, grads_view, self.m, self.v, self.vmax)

    def _launch_device(self, scalars: np.ndarray, grads: Sequence[Any]) -> None:
        from adamw_oracle.gpu import device  # heavy or optional (sympy, a compiler, a framework): loaded only when used

        cupy = device.cupy_module()
        with cupy.cuda.Device(self.device):
            scalars_d = cupy.asarray(scalars)
            if self.multi_tensor:
                device.device_multi_tensor_step(self.kind, self.flags, scalars_d, self.params, list(grads), self.m, self.v, self.vmax)
                return
            for j, (p, g) in enumerate(zip(self.params, grads)):
                device.device_fused_step(self.kind, self.flags, scalars_d, p.view(self.kind.storage),
                                         g.view(self.kind.storage), self.m[j],
                                         self.v[j] if self.v else None, self.vmax[j] if self.vmax else None)


class FusedAdamW(FusedOptimizer):
    """torch.optim.AdamW's conventions (decoupled decay p -= lr*wd*p before the step; eps after the root;
    AMSGrad over raw v)."""

    def __init__(self, params: Sequence[Any], lr: float | str = 1e-3, betas: tuple[float | str, float | str] = (0.9, 0.999),
                 eps: float | str = 1e-8, weight_decay: float | str = 1e-2, amsgrad: bool = False, maximize: bool = False,
                 *, storage: str | None = None, multi_tensor: bool = True) -> None:
        config = preset("torch.AdamW", lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, config, storage=storage, multi_tensor=multi_tensor)


class FusedAdam(FusedOptimizer):
    """torch.optim.Adam's conventions (L2: g += wd*p before the moments)."""

    def __init__(self, params: Sequence[Any], lr: float | str = 1e-3, betas: tuple[float | str, float | str] = (0.9, 0.999),
                 eps: float | str = 1e-8, weight_decay: float | str = 0, amsgrad: bool = False, maximize: bool = False,
                 *, storage: str | None = None, multi_tensor: bool = True) -> None:
        config = preset("torch.Adam", lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, config, storage=storage, multi_tensor=multi_tensor)


class FusedSGD(FusedOptimizer):
    """torch.optim.SGD's conventions (L2 decay, momentum buffer = g' at step 1); ``decoupled=True`` gives
    SGDW (p -= lr*wd*p)."""

    def __init__(self, params: Sequence[Any], lr: float | str = 1e-3, momentum: float | str = 0,
                 dampening: float | str = 0, weight_decay: float | str = 0, nesterov: bool = False,
                 maximize: bool = False, *, decoupled: bool = False, storage: str | None = None,
                 multi_tensor: bool = True) -> None:
        config = preset("sgdw" if decoupled else "torch.SGD", lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        if maximize:
            config = config.replace(conventions=config.conventions.replace(maximize=True))
        super().__init__(params, config, storage=storage, multi_tensor=multi_tensor)
