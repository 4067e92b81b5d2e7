"""torch.optim.SGD behind the :class:`Implementation` protocol.

torch's SGD step on one element (``torch.SGD`` preset, GUIDE section 1)::

    g' = (-g if maximize else g) + wd * p_{t-1}            (coupled L2)
    momentum == 0 : d = g'
    momentum  > 0 : b_1 = g' (the buffer is created from the first gradient, no dampening),
                    b_t = momentum * b_{t-1} + (1 - dampening) * g'   for t > 1,
                    d = g' + momentum * b_t (nesterov) or b_t
    p_t = p_{t-1} - lr * d

Every hyperparameter is passed explicitly (``lr, momentum, dampening, weight_decay, nesterov,
maximize``) together with the code path:

* ``forloop``: ``foreach=False, fused=False`` (``_single_tensor_sgd``)
* ``foreach``: ``foreach=True`` (``_multi_tensor_sgd``)
* ``fused``:   ``fused=True`` (the fused kernel)

``device`` (default ``"cpu"``) places the parameter, its gradients and the momentum buffer on a torch
device (``"cuda"`` checks torch's CUDA kernels).

The parameter is one 1-D tensor of the case's dtype holding exactly the case's initial values; the
gradient of step k is assigned as ``p.grad`` (a fresh tensor of that dtype) before ``step()``. A copy is
kept so that an optimizer writing into ``p.grad`` is reported as a finding. The momentum buffer, when
torch keeps one, is exposed as the state ``m``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import empty_params, guarded_run, unsupported_reason
from adamw_oracle.adapters.signature import ConstructorMap
from adamw_oracle.adapters.targets import TARGETS_BY_NAME, TORCH_PATHS
from adamw_oracle.adapters.torch import (
    PATH_FLAGS,
    StateRecorder,
    check_device,
    drive_steps,
    path_suffix,
    to_numpy,
    torch_dtype,
    user_class,
)
from adamw_oracle.adapters.torch_state import load_seeded_state
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import Family
from adamw_oracle.errors import InvalidArgumentError


class TorchSGDImplementation:
    """``torch.optim.SGD`` on a torch device (default the CPU) through one of its code paths (see the module
    docstring)."""

    families = frozenset({Family.SGD})
    dtypes = TARGETS_BY_NAME["torch.SGD"].dtypes

    def __init__(self, path: str | None = None, *, optimizer_class: type | None = None, name: str | None = None,
                 options: Mapping[str, Any] | None = None, device: str = "cpu") -> None:
        """``path`` is one of ``forloop``, ``foreach`` (the default for ``torch.optim.SGD``), ``fused``;
        ``optimizer_class`` checks any SGD-family torch optimizer class (its constructor read by
        :mod:`adamw_oracle.adapters.signature`, called with the arguments it takes plus ``options``)
        instead of ``torch.optim.SGD``; without ``path`` it runs the class's own default code path.
        ``device`` is a torch device name.

        Raises:
            InvalidArgumentError: ``path`` is not one of the three code paths, or the class is not an
                SGD with momentum, dampening and nesterov, lacks the path's flag, or an option is unknown;
                ``device`` names no torch device type.
        """
        if path is not None and path not in TORCH_PATHS:
            raise InvalidArgumentError("path", path, "one of " + ", ".join(TORCH_PATHS))
        self.optimizer_class = optimizer_class
        self.path = path or ("foreach" if optimizer_class is None else "default")
        if optimizer_class is None:
            self.capabilities = TARGETS_BY_NAME["torch.SGD"].capabilities
            self._map: ConstructorMap | None = None
            self.options: dict[str, Any] = {}
            self._path_flags: dict[str, bool] = PATH_FLAGS[self.path]
            default = "torch.SGD"
        else:
            self._map, self._path_flags = user_class(optimizer_class, Family.SGD, path, options, name)
            self.capabilities = self._map.capabilities
            self.options = dict(self._map.fixed)
            default = optimizer_class.__qualname__
        self.device = check_device(device)
        self.name = name or default + path_suffix(path or "foreach", self.device)

    def versions(self) -> dict[str, str]:
        import torch  # optional dependency (torch), imported only when used

        return {"torch": torch.__version__}

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities, family=Family.SGD)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        return guarded_run(case, self._run)

    def run_arrays(self, case: Case, params: np.ndarray, grads: np.ndarray) -> Observation:
        """Like :meth:`run`, with these initial parameters ``(N,)`` and gradients ``(steps, N)``
        (see :meth:`adamw_oracle.adapters.torch.TorchImplementation.run_arrays`)."""
        reason = unsupported_reason(case, self.capabilities, family=Family.SGD)
        if reason:
            return Observation(np.zeros((0, params.shape[0])), error=f"unsupported case: {reason}")
        return guarded_run(case, lambda c: self._run(c, params, grads))

    def _run(self, case: Case, params: np.ndarray | None = None, grads: np.ndarray | None = None) -> Observation:
        import torch  # optional dependency (torch), imported only when used

        dt = torch_dtype(case.dtype)
        h = case.hyper_floats()
        maximize = case.run.config.conventions.maximize
        initial = case.initial_params() if params is None else params
        p = torch.tensor(initial, dtype=torch.float64).to(device=self.device, dtype=dt).requires_grad_(True)
        if self._map is None:
            opt = torch.optim.SGD(
                [p], lr=h["lr"], momentum=h["momentum"], dampening=h["dampening"], weight_decay=h["weight_decay"],
                nesterov=bool(h["nesterov"]), maximize=maximize, **self._path_flags,
            )
        else:
            assert self.optimizer_class is not None
            opt = self.optimizer_class([p], **self._map.sgd_kwargs(h, maximize), **self._path_flags)
        load_seeded_state(opt, p, case)
        recorder = StateRecorder(opt, p, {"m": "momentum_buffer"}) if params is None and h["momentum"] != 0 else None
        rows, findings = drive_steps(opt, p, case, grads, after_step=recorder)
        buf = opt.state[p].get("momentum_buffer") if p in opt.state else None
        state = {"m": to_numpy(buf)} if buf is not None else {}
        return Observation(rows, state, findings=findings,
                           step_states=recorder.stacked(case) if recorder is not None else {})
