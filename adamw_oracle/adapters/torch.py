"""torch.optim.Adam / AdamW behind the :class:`Implementation` protocol.

Every hyperparameter is passed explicitly (torch's defaults differ between Adam and AdamW, and from other
frameworks): ``lr, betas=(beta1, beta2), eps, weight_decay, amsgrad, maximize`` plus the code path:

* ``forloop``: ``foreach=False, fused=False`` (``_single_tensor_adam``)
* ``foreach``: ``foreach=True`` (``_multi_tensor_adam``)
* ``fused``:   ``fused=True`` (the fused kernel)

``device`` (default ``"cpu"``) places the parameter, its gradients and therefore the optimizer's state
on a torch device: ``"cuda"`` checks torch's CUDA kernels (foreach and fused work in chunks of 65,536
elements there; :class:`~adamw_oracle.adapters.tiled.TiledImplementation` checks across that boundary).

The parameter is one 1-D tensor of the case's dtype holding exactly the case's initial values; the
gradient of step k is assigned as ``p.grad`` (a fresh tensor of that dtype) before ``step()``. A copy is
kept so that an optimizer that writes into ``p.grad`` (torch once negated gradients in place under
``maximize``) is reported as a finding -- for every torch class, the built-in ones and those named by
import path (``torch.optim:AdamW``, a user's ``mypkg.optim:MyAdam``).

A user's class (``optimizer_class``) is called with the arguments its signature takes
(:mod:`adamw_oracle.adapters.signature`), never with a switch it lacks.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions, empty_params, guarded_run, unsupported_reason
from adamw_oracle.adapters.signature import ConstructorMap, accepted_parameters, constructor_map
from adamw_oracle.adapters.targets import TARGETS_BY_NAME, TORCH_PATHS
from adamw_oracle.adapters.torch_state import load_seeded_state
from adamw_oracle.contract.case import Case, Observation, stack_step_states
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.errors import InvalidArgumentError

TORCH_OPTIMIZERS = ("Adam", "AdamW")


def torch_dtype(dtype: Dtype):  # -> torch.dtype
    import torch  # optional dependency (torch), imported only when used

    return {Dtype.FLOAT64: torch.float64, Dtype.FLOAT32: torch.float32,
            Dtype.FLOAT16: torch.float16, Dtype.BFLOAT16: torch.bfloat16}[dtype]


class TorchImplementation:
    """``torch.optim.<optimizer>`` on a torch device (default the CPU) through one of its code paths."""

    families = frozenset({Family.ADAM})
    dtypes = TARGETS_BY_NAME["torch.AdamW"].dtypes
    #: record exp_avg/exp_avg_sq after every step as the contract's m and v for the per-step judge
    #: (False for a class whose state tensors mean something else, e.g. torch-optimi's m-hat and v-hat)
    per_step_state = True

    def __init__(self, optimizer: str = "AdamW", path: str | None = None, *, optimizer_class: type | None = None,
                 name: str | None = None, options: Mapping[str, Any] | None = None, device: str = "cpu") -> None:
        """``optimizer_class`` checks any torch optimizer class instead of ``torch.optim.<optimizer>``: its
        constructor is read (:mod:`adamw_oracle.adapters.signature`) and called with only the arguments it
        takes, plus the fixed ``options``; a switch it lacks is a capability it lacks. ``path`` selects a
        code path (``forloop``, ``foreach``, ``fused``; default ``foreach`` for the built-in classes and
        the class's own default for ``optimizer_class``); ``device`` is a torch device name (``cuda``, ...).

        Raises:
            InvalidArgumentError: an unknown optimizer name or path, a class that is not Adam-family, a
                path the class has no flag for, or an option it does not take.
        """
        if optimizer_class is None and optimizer not in TORCH_OPTIMIZERS:
            raise InvalidArgumentError("optimizer", optimizer, "one of " + ", ".join(TORCH_OPTIMIZERS))
        if path is not None and path not in TORCH_PATHS:
            raise InvalidArgumentError("path", path, "one of " + ", ".join(TORCH_PATHS))
        self.optimizer = optimizer
        self.optimizer_class = optimizer_class
        self.path = path or ("foreach" if optimizer_class is None else "default")
        if optimizer_class is None:
            self.capabilities = TARGETS_BY_NAME[f"torch.{optimizer}"].capabilities
            self._map: ConstructorMap | None = None
            self.options: dict[str, Any] = {}
            self._path_flags: dict[str, bool] = PATH_FLAGS[self.path]
            default = f"torch.{optimizer}"
        else:
            self._map, self._path_flags = user_class(optimizer_class, Family.ADAM, path, options, name)
            self.capabilities = self._map.capabilities
            self.options = dict(self._map.fixed)
            default = optimizer_class.__qualname__
        self.device = check_device(device)
        self.name = name or default + path_suffix(path or "foreach", self.device)

    def precision_model(self, dtype: Dtype) -> PrecisionModel | None:
        """The precision model the target table declares for this path (torch's for-loop and foreach
        Adam/AdamW read their stored moments back; a user's class declares nothing)."""
        if self.optimizer_class is not None:
            return None
        info = TARGETS_BY_NAME.get(f"torch.{self.optimizer}")
        return info.precision_for(Dtype.parse(dtype), self.path) if info is not None else None

    def versions(self) -> dict[str, str]:
        import torch  # optional dependency (torch), imported only when used

        return {"torch": torch.__version__}

    def run(self, case: Case) -> Observation:
        reason = unsupported_reason(case, self.capabilities)
        if reason:
            return Observation(empty_params(case), error=f"unsupported case: {reason}")
        return guarded_run(case, self._run)

    def run_arrays(self, case: Case, params: np.ndarray, grads: np.ndarray) -> Observation:
        """Like :meth:`run`, with the case's hyperparameters and conventions but these initial parameters
        ``(N,)`` and gradients ``(steps, N)`` (values of the case's dtype; any N). Used by
        :class:`~adamw_oracle.adapters.tiled.TiledImplementation`."""
        reason = unsupported_reason(case, self.capabilities)
        if reason:
            return Observation(np.zeros((0, params.shape[0])), error=f"unsupported case: {reason}")
        return guarded_run(case, lambda c: self._run(c, params, grads))

    def _run(self, case: Case, params: np.ndarray | None = None, grads: np.ndarray | None = None) -> Observation:
        import torch  # optional dependency (torch), imported only when used

        dt = torch_dtype(case.dtype)
        opts = CaseOptions.of(case)
        initial = case.initial_params() if params is None else params
        p = torch.tensor(initial, dtype=torch.float64).to(device=self.device, dtype=dt).requires_grad_(True)
        if self._map is None:
            opt = getattr(torch.optim, self.optimizer)(
                [p], lr=opts.lr, betas=(opts.beta1, opts.beta2), eps=opts.eps, weight_decay=opts.weight_decay,
                amsgrad=opts.amsgrad, maximize=opts.maximize, **self._path_flags,
            )
        else:
            assert self.optimizer_class is not None
            opt = self.optimizer_class([p], **self._map.kwargs(opts), **self._path_flags)
        load_seeded_state(opt, p, case)
        keys = {"m": "exp_avg", "v": "exp_avg_sq"}
        if opts.amsgrad:
            keys["vmax"] = "max_exp_avg_sq"
        # the state after every step, for the per-step judge (tiled runs of N elements are not recorded)
        recorder = StateRecorder(opt, p, {**keys, "step": "step"}) if params is None and self.per_step_state else None
        # a Kahan compensation buffer (torch-optimi's kahan_comp) is recorded after every step whatever the
        # class's other state means: the Kahan judge needs it for every step
        compensation = CompensationRecorder(opt, p)
        rows, findings = drive_steps(opt, p, case, grads, after_step=_both(recorder, compensation))
        st = opt.state.get(p, {})
        state = {k: st[key] for k, key in keys.items()
                 if isinstance(st.get(key), torch.Tensor) and st[key].numel() == p.numel()}
        return Observation(
            rows, {k: to_numpy(plain_state(v)).reshape(-1) for k, v in state.items()},
            findings=findings,
            step_states=recorder.stacked(case) if recorder is not None else {},
            compensation=compensation.stacked(case.run.steps),
        )


COMPENSATION_KEY = "kahan_comp"
"""The optimizer-state name of a Kahan compensation buffer of the parameter's size and dtype
(torch-optimi's ``kahan_sum``: ``p + kahan_comp`` is its high-precision parameter; for a full-precision
parameter optimi keeps a 1-element placeholder or None there, which is not recorded)."""


def _both(*calls: Callable[[], None] | None) -> Callable[[], None]:
    def call() -> None:
        for c in calls:
            if c is not None:
                c()
    return call


class StateRecorder:
    """Called after every ``step()``: copies ``opt.state[p][key]`` for each ``name: key`` of ``keys``
    (tensors of p's size, or the step counter: a tensor or number) into per-step rows."""

    def __init__(self, opt: Any, p: Any, keys: Mapping[str, str]) -> None:
        self.opt, self.p, self.keys = opt, p, dict(keys)
        self.rows: dict[str, list[Any]] = {name: [] for name in keys}

    def __call__(self) -> None:
        import torch  # optional dependency (torch), imported only when used

        st = self.opt.state.get(self.p, {})
        for name, key in self.keys.items():
            value = st.get(key)
            if isinstance(value, torch.Tensor):
                self.rows[name].append(to_numpy(plain_state(value)).reshape(-1))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                self.rows[name].append(np.array([float(value)]))

    def stacked(self, case: Case) -> dict[str, np.ndarray]:
        return stack_step_states(self.rows, case.run.steps, case.run.size)


class CompensationRecorder:
    """Called after every ``step()``: copies ``opt.state[p]["kahan_comp"]`` when it is a compensation
    buffer (a tensor of p's size and dtype; optimi keeps a 1-element uint8 placeholder or None for
    full-precision parameters, which is no compensation)."""

    def __init__(self, opt: Any, p: Any) -> None:
        self.opt, self.p = opt, p
        self.rows: list[np.ndarray] = []

    def __call__(self) -> None:
        import torch  # optional dependency (torch), imported only when used

        value = self.opt.state.get(self.p, {}).get(COMPENSATION_KEY)
        if isinstance(value, torch.Tensor) and value.dtype == self.p.dtype and value.numel() == self.p.numel():
            self.rows.append(to_numpy(value).reshape(-1))

    def stacked(self, steps: int) -> np.ndarray | None:
        """The compensation after every step, shape ``(steps, n)``; None unless every step had one."""
        if len(self.rows) != steps or steps == 0:
            return None
        return np.array(self.rows, dtype=np.float64)


def user_class(optimizer_class: type, family: Family, path: str | None, options: Mapping[str, Any] | None,
               name: str | None) -> tuple[ConstructorMap, dict[str, bool]]:
    """A user's torch optimizer class read by its constructor (:mod:`adamw_oracle.adapters.signature`):
    its argument map and the flags of ``path``.

    Raises:
        InvalidArgumentError: the class is not of ``family``, lacks the path's flag, or an option is unknown.
    """
    mapping = constructor_map(optimizer_class, options, name=name, allow_sgd=family is Family.SGD)
    if mapping.family is not family:
        other = "TorchSGDImplementation" if family is Family.ADAM else "TorchImplementation"
        raise InvalidArgumentError("optimizer_class", mapping.target, f"an {family.value.upper()}-family torch "
                                   f"optimizer ({mapping.family.value.upper()}-family classes: {other})")
    return mapping, path_flags_for(optimizer_class, path, options)


def path_flags_for(optimizer_class: type, path: str | None, options: Mapping[str, Any] | None) -> dict[str, bool]:
    """The code-path flags for a user's class: none when ``path`` is None (the class's own default).

    Raises:
        InvalidArgumentError: the class takes no flag for ``path``, or ``options`` set the flags too.
    """
    if path is None:
        return {}
    flags = PATH_FLAGS[path]
    params = accepted_parameters(optimizer_class)
    missing = [f for f in flags if f not in params]
    if missing:
        raise InvalidArgumentError("path", path, f"a path {optimizer_class.__qualname__} has a flag for "
                                   f"(it takes no {', '.join(missing)}); omit the path")
    clash = [f for f in flags if f in (options or {})]
    if clash:
        raise InvalidArgumentError("option", clash[0], f"not given together with path={path!r}")
    return dict(flags)


PATH_FLAGS: dict[str, dict[str, bool]] = {
    "forloop": {"foreach": False, "fused": False}, "foreach": {"foreach": True}, "fused": {"fused": True},
}
"""The torch.optim keyword arguments that select each code path."""


def check_device(device: str) -> str:
    """``device`` if it names a torch device type (``cpu``, ``cuda``, ``cuda:1``, ...), else a clear error."""
    if not isinstance(device, str) or device.split(":", 1)[0] not in DEVICE_TYPES:
        raise InvalidArgumentError("device", device, "a torch device name: " + ", ".join(DEVICE_TYPES) + " (e.g. 'cuda:0')")
    return device


DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def path_suffix(path: str, device: str) -> str:
    """The target-name suffix of a code path on a device: ``""``, ``"[fused]"``, ``"[fused,cuda]"``."""
    parts = ([] if path == "foreach" else [path]) + ([] if device == "cpu" else [device])
    return f"[{','.join(parts)}]" if parts else ""


def plain_state(tensor):  # -> torch.Tensor
    """A state tensor as plain values: a tensor subclass holding quantized state (torchao's 8-bit,
    4-bit and fp8 optimizer state) is dequantized; a plain tensor is returned as it is."""
    import torch  # optional dependency (torch), imported only when used

    if type(tensor) is torch.Tensor or not callable(getattr(tensor, "dequantize", None)):
        return tensor
    return tensor.dequantize()


def to_numpy(tensor) -> np.ndarray:  # a float64 numpy copy of a tensor on any device
    import torch  # optional dependency (torch), imported only when used

    return tensor.detach().to(device="cpu", dtype=torch.float64, copy=True).numpy()


def drive_steps(opt, p, case: Case, grads: np.ndarray | None = None, *,
                after_step: Callable[[], None] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Feed ``case``'s gradients (or ``grads``, shape ``(steps, p.numel())``) to ``opt`` (one parameter
    tensor ``p``, on any device), one ``step()`` each; ``after_step()`` is called after each (e.g. a
    :class:`StateRecorder`).

    Returns the parameters after every step as float64 (shape ``(steps, n)``) and the findings: a step
    whose optimizer changed the gradient tensor it was handed (a fresh copy each step) is reported.
    """
    import torch  # optional dependency (torch), imported only when used

    dt = p.dtype
    grads = case.gradients() if grads is None else grads
    rows: list[np.ndarray] = []
    findings: list[str] = []
    for k in range(case.run.steps):
        given = torch.tensor(grads[k], dtype=torch.float64).to(device=p.device, dtype=dt)
        p.grad = given.clone()
        opt.step()
        if not _same_bits(p.grad, given):
            findings.append(f"step {k + 1}: the optimizer modified the gradient tensor in place")
        rows.append(to_numpy(p))
        if after_step is not None:
            after_step()
    params = np.array(rows, dtype=np.float64).reshape(case.run.steps, int(p.numel()))
    return params, tuple(findings)


def _same_bits(a, b) -> bool:  # NaN-aware equality of two tensors of one dtype
    import torch  # optional dependency (torch), imported only when used

    if torch.equal(a, b):  # the common case, in one pass (a NaN is never equal: then the full comparison)
        return True
    return bool(torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)))
