"""Built-in target names and turning a target specification into an :class:`Implementation`.

A target is one of

* a built-in name: ``torch.Adam``, ``torch.AdamW`` (the foreach path; ``torch.AdamW[forloop]`` and
  ``torch.AdamW[fused]`` select the other code paths), ``torch.SGD`` (likewise ``[forloop]``,
  ``[fused]``), ``optax.adam``, ``optax.adamw``, ``optax.sgd``, ``keras.Adam``,
  ``keras.AdamW``, ``keras.SGD``;
* ``module:attribute`` naming an Implementation (instance, or a class built without arguments) or a
  plain function ``fn(params, grads, hyper)`` (wrapped with
  :func:`~adamw_oracle.adapters.callable.from_callable`);
* an object that already is an Implementation.

Commands are given separately (``SubprocessImplementation`` / ``adamw-oracle check --cmd``).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adamw_oracle.adapters.callable import from_callable
from adamw_oracle.adapters.import_path import optimizer_target, takes_three_positionals
from adamw_oracle.adapters.targets import (
    FRAMEWORK_KNOWN,
    IMPORT_PATH_TARGETS_BY_NAME,
    TARGETS,
    KnownFinding,
    TargetInfo,
    declared_target,
)
from adamw_oracle.contract.case import Implementation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
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
        """The adapter, tagged with this name (``builtin_target``) so that its known findings follow it."""
        impl = _BUILDERS[self.info.name](self.path)
        impl.builtin_target = self.name  # type: ignore[attr-defined]
        return impl


# Each builder imports its adapter module late, with its framework: importing the registry (and so
# ``check``) never imports torch, JAX or Keras, and never an adapter of a framework that is absent.
def _torch(optimizer: str) -> Callable[[str], Implementation]:
    def build(path: str) -> Implementation:
        from adamw_oracle.adapters.torch import TorchImplementation  # heavy or optional

        return TorchImplementation(optimizer, path)
    return build


def _torch_sgd(path: str) -> Implementation:
    from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation  # heavy or optional

    return TorchSGDImplementation(path)


def _optax(optimizer: str) -> Callable[[str], Implementation]:
    def build(path: str) -> Implementation:
        from adamw_oracle.adapters.optax_adapter import OptaxImplementation  # heavy or optional

        return OptaxImplementation(optimizer)
    return build


def _keras(optimizer: str) -> Callable[[str], Implementation]:
    def build(path: str) -> Implementation:
        from adamw_oracle.adapters.keras_adapter import KerasImplementation  # heavy or optional

        return KerasImplementation(optimizer)
    return build


def _optax_sgd(path: str) -> Implementation:
    from adamw_oracle.adapters.optax_sgd import OptaxSGDImplementation  # heavy or optional

    return OptaxSGDImplementation()


def _keras_sgd(path: str) -> Implementation:
    from adamw_oracle.adapters.keras_sgd import KerasSGDImplementation  # heavy or optional

    return KerasSGDImplementation()


#: How each entry of the table (adamw_oracle.adapters.targets.TARGETS) is built, given its code path.
_BUILDERS: dict[str, Callable[[str], Implementation]] = {
    "torch.Adam": _torch("Adam"), "torch.AdamW": _torch("AdamW"), "torch.SGD": _torch_sgd,
    "optax.adam": _optax("adam"), "optax.adamw": _optax("adamw"),
    "keras.Adam": _keras("Adam"), "keras.AdamW": _keras("AdamW"),
    "optax.sgd": _optax_sgd, "keras.SGD": _keras_sgd,
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


def known_findings(target: Any, dtype: Dtype, options: Mapping[str, Any] | None = None) -> tuple[KnownFinding, ...]:
    """The known findings declared for ``target`` in ``dtype``: ``target`` is a built-in name or an
    adapter built from one (it carries the name as ``builtin_target``), or an import path the table
    declares -- a built-in target's own optimizer (``torch.optim:SGD`` with ``options`` such as
    ``{"foreach": True}``: the findings of the code path they select) or a third-party optimizer
    (``optimi:AdamW``) -- or an adapter :func:`resolve_target` built from one (it carries
    ``declared_target``); and, for any target of a framework with findings of its own
    (:data:`~adamw_oracle.adapters.targets.FRAMEWORK_KNOWN`: ``optax:...`` by import path, an object with
    ``known_framework``), those; empty for other targets."""
    name = target if isinstance(target, str) else getattr(target, "builtin_target", None)
    t = BUILTIN_TARGETS.get(name) if isinstance(name, str) else None
    if t is not None:
        return t.info.known_for(t.path, dtype)
    found = declared_target(target, options) if isinstance(target, str) else getattr(target, "declared_target", None)
    declared = found[0].known_for(found[1], dtype) if found is not None else ()
    framework = (target.split(":", 1)[0].split(".", 1)[0] if isinstance(target, str) and ":" in target
                 else getattr(target, "known_framework", None))
    extra = tuple(k for k in FRAMEWORK_KNOWN.get(framework, ()) if dtype in k.dtypes) if isinstance(framework, str) else ()
    ids = {k.id for k in declared}
    return tuple(declared) + tuple(k for k in extra if k.id not in ids)


def declared_precision_for(name: str, dtype: Dtype) -> PrecisionModel | None:
    """The precision model the table declares for the third-party optimizer ``name`` (an import path)."""
    info = IMPORT_PATH_TARGETS_BY_NAME.get(name)
    return info.precision_for(dtype) if info else None


_WHAT = ("a built-in name, an optimizer class or factory by import path (torch.optim:AdamW, optax:adamw, "
         "keras.optimizers:AdamW), module:attribute naming an Implementation or fn(params, grads, hyper), "
         "or an Implementation")


def resolve_target(target: Any, *, options: Mapping[str, Any] | None = None) -> Implementation:
    """An Implementation from a built-in name, ``module:attribute``, or an Implementation object.

    ``module:attribute`` may name a framework optimizer (a ``torch.optim.Optimizer`` subclass, a Keras
    optimizer class, an optax ``GradientTransformation`` factory; see
    :mod:`adamw_oracle.adapters.import_path`), an Implementation (instance, or a class built without
    arguments) or a function ``fn(params, grads, hyper)``. ``options`` are fixed constructor arguments of
    a framework optimizer (``{"foreach": False}``); the same optimizer object may be given directly.

    Raises:
        InvalidArgumentError: unknown name, a module or attribute that does not exist, an object that is
            none of these, or ``options`` for a target that is not a framework optimizer.
    """

    if options and (isinstance(target, str) and ":" not in target or isinstance(target, Implementation)):
        raise InvalidArgumentError("options", dict(options), "only for an optimizer class or factory given by import "
                                   "path (e.g. torch.optim:AdamW)", hint=f"{target!r} takes no constructor options")
    if isinstance(target, Implementation):
        return target
    if not isinstance(target, str):
        built = optimizer_target(target, options=options)
        if built is not None:
            spelled = f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', '')}"
            built.declared_target = declared_target(spelled, options)  # type: ignore[attr-defined]
            return built
        if options:
            raise InvalidArgumentError("options", dict(options), "only for an optimizer class or factory")
        if callable(target) and not isinstance(target, type) and takes_three_positionals(target):

            return from_callable(target)
        raise InvalidArgumentError("target", target, _WHAT, hint=_what_it_is(target))
    if target in BUILTIN_TARGETS:
        t = BUILTIN_TARGETS[target]
        if importlib.util.find_spec(t.requires) is None:
            raise InvalidArgumentError("target", target, f"a target whose framework is installed ({t.requires} is not)")
        return t.build()
    if ":" in target:
        module_name, _, attr = target.partition(":")
        if importlib.util.find_spec("keras") is not None:
            from adamw_oracle.adapters.keras_adapter import choose_keras_backend  # heavy or optional

            choose_keras_backend()  # before anything imports Keras: a backend that is installed
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InvalidArgumentError("target", target, f"an importable module (import failed: {exc})") from None
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise InvalidArgumentError("target", target, f"an attribute of {module_name} ({part!r} is missing)")
            obj = getattr(obj, part)
        built = optimizer_target(obj, name=target, options=options)
        if built is not None:
            declared = IMPORT_PATH_TARGETS_BY_NAME.get(target)
            if declared is not None and not declared.state_is_mv:
                built.per_step_state = False  # type: ignore[attr-defined]  # its state is not m and v
            # the table's entry and code path for this path and options (its known findings)
            built.declared_target = declared_target(target, options)  # type: ignore[attr-defined]
            return built
        if options:
            raise InvalidArgumentError("options", dict(options), "only for an optimizer class or factory given by import "
                                       "path", hint=f"{target} is not a torch, Keras or optax optimizer")
        if isinstance(obj, type) and callable(getattr(obj, "run", None)):
            obj = obj()
        if isinstance(obj, Implementation):
            return obj
        if callable(obj) and not isinstance(obj, type) and takes_three_positionals(obj):

            return from_callable(obj, name=target)
        raise InvalidArgumentError("target", target, _WHAT, hint=_what_it_is(obj))

    close = difflib.get_close_matches(target, list(BUILTIN_TARGETS), n=1)
    raise InvalidArgumentError("target", target, "a built-in name (" + ", ".join(BUILTIN_TARGETS) + ") or 'module:attribute'",
                               hint=f"did you mean {close[0]!r}?" if close else None)


def _what_it_is(obj: Any) -> str:
    if isinstance(obj, type):
        return f"it is the class {obj.__qualname__}, neither a torch/Keras optimizer nor an Implementation"
    if callable(obj):
        return "it is a callable that cannot take (params, grads, hyper) and is no optax factory"
    return f"it is a {type(obj).__name__}"
