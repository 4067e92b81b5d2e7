"""Built-in target names and turning a target specification into an :class:`Implementation`.

A target is one of

* a built-in name: ``torch.Adam``, ``torch.AdamW`` (the foreach path; ``torch.AdamW[forloop]`` and
  ``torch.AdamW[fused]`` select the other code paths), ``torch.SGD`` (likewise ``[forloop]``,
  ``[fused]``), ``optax.adam``, ``optax.adamw``, ``keras.Adam``,
  ``keras.AdamW``;
* ``module:attribute`` naming an Implementation (instance, or a class built without arguments) or a
  plain function ``fn(params, grads, hyper)`` (wrapped with
  :func:`~adamw_oracle.adapters.callable.from_callable`);
* an object that already is an Implementation.

Commands are given separately (``SubprocessImplementation`` / ``adamw-oracle check --cmd``).
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adamw_oracle.adapters.targets import TARGETS, KnownFinding, TargetInfo
from adamw_oracle.contract.case import Implementation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.errors import InvalidArgumentError


@dataclass(frozen=True)
class BuiltinTarget:
    """One built-in target name: its table entry (:mod:`adamw_oracle.adapters.targets`) and code path."""

    name: str
    info: TargetInfo
    path: str

    @property
    def requires(self) -> str:
        return self.info.framework

    @property
    def preset(self) -> str:
        return self.info.preset

    def build(self) -> Implementation:
        return _BUILDERS[self.info.name](self.path)


# Each builder imports its adapter module late, with its framework: importing the registry (and so
# ``check``) never imports torch, JAX or Keras, and never an adapter of a framework that is absent.
def _torch(optimizer: str) -> Callable[[str], Implementation]:
    def build(path: str) -> Implementation:
        from adamw_oracle.adapters.torch import TorchImplementation

        return TorchImplementation(optimizer, path)
    return build


def _torch_sgd(path: str) -> Implementation:
    from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation

    return TorchSGDImplementation(path)


def _optax(optimizer: str) -> Callable[[str], Implementation]:
    def build(path: str) -> Implementation:
        from adamw_oracle.adapters.optax_adapter import OptaxImplementation

        return OptaxImplementation(optimizer)
    return build


def _keras(optimizer: str) -> Callable[[str], Implementation]:
    def build(path: str) -> Implementation:
        from adamw_oracle.adapters.keras_adapter import KerasImplementation

        return KerasImplementation(optimizer)
    return build


#: How each entry of the table (adamw_oracle.adapters.targets.TARGETS) is built, given its code path.
_BUILDERS: dict[str, Callable[[str], Implementation]] = {
    "torch.Adam": _torch("Adam"), "torch.AdamW": _torch("AdamW"), "torch.SGD": _torch_sgd,
    "optax.adam": _optax("adam"), "optax.adamw": _optax("adamw"),
    "keras.Adam": _keras("Adam"), "keras.AdamW": _keras("AdamW"),
}


BUILTIN_TARGETS: dict[str, BuiltinTarget] = {
    info.target_name(path): BuiltinTarget(info.target_name(path), info, path) for info in TARGETS for path in info.paths
}


def installed_targets() -> list[str]:
    """Built-in target names whose framework is importable here (nothing is imported to find out)."""
    return [name for name, t in BUILTIN_TARGETS.items() if importlib.util.find_spec(t.requires) is not None]


def builtin_preset(target: str) -> str | None:
    """The preset a built-in target claims to implement (None for other targets)."""
    t = BUILTIN_TARGETS.get(target)
    return t.preset if t else None


def known_findings(target: Any, dtype: Dtype) -> tuple[KnownFinding, ...]:
    """The known findings declared for built-in ``target`` (a name) in ``dtype``; empty for other targets."""
    t = BUILTIN_TARGETS.get(target) if isinstance(target, str) else None
    return t.info.known_for(t.path, dtype) if t else ()


def resolve_target(target: Any) -> Implementation:
    """An Implementation from a built-in name, ``module:attribute``, or an Implementation object.

    Raises:
        InvalidArgumentError: unknown name, a module or attribute that does not exist, or an object
            that is neither an Implementation nor a callable.
    """
    if isinstance(target, Implementation):
        return target
    if not isinstance(target, str):
        if callable(target):
            from adamw_oracle.adapters.callable import from_callable

            return from_callable(target)
        raise InvalidArgumentError("target", target, "a built-in name, 'module:attribute' or an Implementation")
    if target in BUILTIN_TARGETS:
        t = BUILTIN_TARGETS[target]
        if importlib.util.find_spec(t.requires) is None:
            raise InvalidArgumentError("target", target, f"a target whose framework is installed ({t.requires} is not)")
        return t.build()
    if ":" in target:
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InvalidArgumentError("target", target, f"an importable module (import failed: {exc})") from None
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise InvalidArgumentError("target", target, f"an attribute of {module_name} ({part!r} is missing)")
            obj = getattr(obj, part)
        if isinstance(obj, type):
            obj = obj()
        if isinstance(obj, Implementation):
            return obj
        if callable(obj):
            from adamw_oracle.adapters.callable import from_callable

            return from_callable(obj, name=target)
        raise InvalidArgumentError("target", target, "an Implementation or a function fn(params, grads, hyper)")
    import difflib

    close = difflib.get_close_matches(target, list(BUILTIN_TARGETS), n=1)
    raise InvalidArgumentError("target", target, "a built-in name (" + ", ".join(BUILTIN_TARGETS) + ") or 'module:attribute'",
                               hint=f"did you mean {close[0]!r}?" if close else None)
