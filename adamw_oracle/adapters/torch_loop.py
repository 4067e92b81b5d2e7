"""torch.optim.Adam / AdamW / SGD driven through a real training loop (a :class:`LoopImplementation`).

One torch tensor per loop tensor (the case's dtype, exactly its initial values), in real
``param_groups`` (one dict per :class:`~adamw_oracle.contract.loop.ParamGroup`, each with its own
hyperparameters), and the loop run as a user's training script runs it:

* before loop step k, every group's learning rate is set to ``base_lr * schedule[k]`` (Python floats,
  as ``torch.optim.lr_scheduler.LambdaLR`` computes it): ``group['lr'] = ...``, or, with
  ``lr_tensor=True``, ``group['lr'].fill_(...)`` on a float64 0-d tensor lr (torch takes a tensor lr on
  its for-loop and fused paths; its foreach path only with ``capturable=True`` on an accelerator);
* a tensor without a gradient at step k has ``p.grad = None`` (torch then leaves it and its state alone
  and does not advance its ``state['step']``);
* after each resume point, ``optimizer.state_dict()`` goes through ``torch.save`` into a byte buffer,
  is read back with ``torch.load(weights_only=True)``, and a *fresh* optimizer built like the first is
  loaded from it with ``load_state_dict`` before the loop continues.

The code path is ``forloop`` (``foreach=False, fused=False``), ``foreach`` (default) or ``fused``.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adamw_oracle.adapters.base import CaseOptions, unsupported_reason
from adamw_oracle.adapters.targets import TARGETS_BY_NAME, TORCH_PATHS
from adamw_oracle.adapters.torch import PATH_FLAGS, check_device, path_suffix, to_numpy, torch_dtype
from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Family
from adamw_oracle.contract.loop import LoopCase, LoopObservation
from adamw_oracle.contract.run import Run
from adamw_oracle.errors import InvalidArgumentError

TORCH_LOOP_OPTIMIZERS = ("Adam", "AdamW", "SGD")


def probe_case(config: OptimizerConfig, case: LoopCase) -> Case:
    """A one-element case of a group's configuration (to read its options and check what it needs)."""
    return Case(Run(config, (0,), ((0,),)), case.dtype)


def group_reason(case: LoopCase, capabilities: Any, family: Family) -> str | None:
    """Why a target of ``family`` with switch ``capabilities`` cannot take one of the loop's groups."""
    for g, group in enumerate(case.loop.groups):
        reason = unsupported_reason(probe_case(group.config, case), capabilities, family)
        if reason:
            return f"group {g}: {reason}"
    return None


def loop_reason(case: LoopCase, loop_capabilities: frozenset[LoopCapability]) -> str | None:
    """Why a loop target with ``loop_capabilities`` cannot run ``case`` (None when it can)."""
    missing = case.loop.required_capabilities() - loop_capabilities
    if missing:
        return "the target cannot do " + ", ".join(sorted(c.value for c in missing))
    return None


def guarded_loop(case: LoopCase, body: Callable[[LoopCase], LoopObservation]) -> LoopObservation:
    """Run ``body(case)``; an exception of the optimizer under test becomes ``error`` (never raised)."""
    try:
        return body(case)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the optimizer under test may raise anything
        return LoopObservation((), error=f"{type(exc).__name__}: {exc}")


class TorchLoopImplementation:
    """``torch.optim.<optimizer>`` in a training loop (see the module docstring)."""

    loop_capabilities = frozenset(LoopCapability)

    def __init__(self, optimizer: str = "AdamW", path: str | None = None, *, lr_tensor: bool = False,
                 device: str = "cpu", name: str | None = None) -> None:
        """Raises:
            InvalidArgumentError: an unknown optimizer or path, or ``lr_tensor`` on a path torch refuses it on
                (foreach on the CPU, and SGD's fused path).
        """
        if optimizer not in TORCH_LOOP_OPTIMIZERS:
            raise InvalidArgumentError("optimizer", optimizer, "one of " + ", ".join(TORCH_LOOP_OPTIMIZERS))
        path = path or "foreach"
        if path not in TORCH_PATHS:
            raise InvalidArgumentError("path", path, "one of " + ", ".join(TORCH_PATHS))
        if lr_tensor and (path == "foreach" or optimizer == "SGD"):
            raise InvalidArgumentError("lr_tensor", True, "False on this path (torch takes a tensor lr for Adam/AdamW "
                                       "on the forloop and fused paths; foreach needs capturable=True on an accelerator)")
        self.optimizer, self.path, self.lr_tensor = optimizer, path, lr_tensor
        self.device = check_device(device)
        info = TARGETS_BY_NAME[f"torch.{optimizer}"]
        self.capabilities, self.family, self.dtypes = info.capabilities, info.family, info.dtypes
        self.name = name or f"torch.{optimizer}" + path_suffix(path, self.device) + (" (tensor lr)" if lr_tensor else "")

    def versions(self) -> dict[str, str]:
        import torch  # optional dependency (torch), imported only when used

        return {"torch": torch.__version__}

    @property
    def known(self) -> tuple[LoopKnownFinding, ...]:
        """The known findings of this optimizer and path (:data:`LOOP_KNOWN`)."""
        return tuple(k for k in LOOP_KNOWN if self.optimizer in k.optimizers and self.path in k.paths)

    def run_loop(self, case: LoopCase) -> LoopObservation:
        reason = loop_reason(case, self.loop_capabilities) or group_reason(case, self.capabilities, self.family)
        if reason:
            return LoopObservation((), error=f"unsupported case: {reason}")
        return guarded_loop(case, self._run)

    def group_options(self, config: OptimizerConfig, case: LoopCase) -> dict[str, Any]:
        """The constructor options of one group (every hyperparameter explicit; lr is the base lr)."""
        probe = probe_case(config, case)
        if self.family is Family.SGD:
            h = probe.hyper_floats()
            return {"lr": h["lr"], "momentum": h["momentum"], "dampening": h["dampening"],
                    "weight_decay": h["weight_decay"], "nesterov": bool(h["nesterov"]),
                    "maximize": config.conventions.maximize}
        o = CaseOptions.of(probe)
        return {"lr": o.lr, "betas": (o.beta1, o.beta2), "eps": o.eps, "weight_decay": o.weight_decay,
                "amsgrad": o.amsgrad, "maximize": o.maximize}

    def _run(self, case: LoopCase) -> LoopObservation:
        import torch  # optional dependency (torch), imported only when used

        loop = case.loop
        dt = torch_dtype(case.dtype)
        params = [torch.tensor(case.initial_params(i), dtype=torch.float64).to(device=self.device, dtype=dt)
                  .requires_grad_(True) for i in range(len(loop.tensors))]
        options = [self.group_options(g.config, case) for g in loop.groups]
        base_lr = [o["lr"] for o in options]

        def fresh() -> Any:
            groups = []
            for group, opts in zip(loop.groups, options):
                entry = dict(opts, params=[params[i] for i in group.tensors])
                if self.lr_tensor:
                    entry["lr"] = torch.tensor(opts["lr"], dtype=torch.float64)
                groups.append(entry)
            return getattr(torch.optim, self.optimizer)(groups, **PATH_FLAGS[self.path])

        opt = fresh()
        rows: list[list[np.ndarray]] = [[] for _ in params]
        multiplier = [float(s) for s in loop.schedule]
        for k in range(loop.steps):
            for g, group in enumerate(opt.param_groups):
                lr = base_lr[g] * multiplier[k]
                if self.lr_tensor:
                    group["lr"].fill_(lr)
                else:
                    group["lr"] = lr
            for i, p in enumerate(params):
                grad = case.gradient(i, k)
                p.grad = None if grad is None else torch.tensor(grad, dtype=torch.float64).to(device=self.device, dtype=dt)
            opt.step()
            for i, p in enumerate(params):
                rows[i].append(to_numpy(p))
            if k + 1 in loop.resume_after:
                buffer = io.BytesIO()
                torch.save(opt.state_dict(), buffer)
                buffer.seek(0)
                saved = torch.load(buffer, weights_only=True)
                opt = fresh()
                opt.load_state_dict(saved)
        out = tuple(np.array(r, dtype=np.float64).reshape(loop.steps, loop.tensors[i].size) for i, r in enumerate(rows))
        return LoopObservation(out)


def _first_gradient_arrives_late(case: LoopCase) -> bool:
    """Whether some step of a momentum SGD group hands torch a mix of tensors that already have a
    momentum buffer and tensors getting their first gradient (the trigger of
    :data:`TORCH_SGD_FUSED_LATE_FIRST_GRADIENT`)."""
    loop = case.loop
    for group in loop.groups:
        if group.config.hyper.momentum == 0:
            continue
        seen: set[int] = set()
        for k in range(loop.steps):
            active = [i for i in group.tensors if loop.tensors[i].gradients[k] is not None]
            started = [i in seen for i in active]
            if any(started) and not all(started):
                return True
            seen.update(active)
    return False


@dataclass(frozen=True)
class LoopKnownFinding:
    """A reproduced misbehaviour of a built-in loop target: reported as known, not as a failure, when
    the target runs one of ``paths`` and ``occurs(case)`` holds. ``trigger`` is a minimal loop."""

    id: str
    summary: str
    optimizers: tuple[str, ...]
    paths: tuple[str, ...]
    occurs: Callable[[LoopCase], bool]
    evidence: str


TORCH_SGD_FUSED_LATE_FIRST_GRADIENT = LoopKnownFinding(
    id="torch-sgd-fused-late-first-gradient",
    summary="torch.SGD(fused=True) with momentum raises TypeError ('expected Tensor as element 1 in argument 2, but "
            "got NoneType') at a step where one parameter of a group gets its first gradient while another already "
            "has a momentum buffer: _fused_sgd treats the step as a first step only when every buffer is None",
    optimizers=("SGD",),
    paths=("fused",),
    occurs=_first_gradient_arrives_late,
    evidence="torch/optim/sgd.py _fused_sgd (is_first_step = all(t is None ...)); "
             "tests/test_loops.py test_torch_sgd_fused_late_first_gradient_is_known",
)

LOOP_KNOWN: tuple[LoopKnownFinding, ...] = (TORCH_SGD_FUSED_LATE_FIRST_GRADIENT,)
