"""Framework optimizers named by import path, with no glue: ``torch.optim:AdamW``, ``optax:adamw``,
``keras.optimizers:AdamW``, or a user's own ``mypkg.optim:MyAdam``.

:func:`optimizer_target` recognises

* a ``torch.optim.Optimizer`` subclass: Adam-family (it takes betas and eps) through
  :class:`~adamw_oracle.adapters.torch.TorchImplementation`, SGD-family (momentum, dampening, nesterov)
  through :class:`~adamw_oracle.adapters.torch_sgd.TorchSGDImplementation`; every step is watched for
  in-place writes to ``p.grad``;
* a Keras 3 optimizer class (a subclass of ``keras.optimizers.Optimizer``), on the backend Keras was
  imported with, through :class:`~adamw_oracle.adapters.keras_adapter.KerasClassImplementation`;
  ``keras.optimizers.SGD`` and its subclasses (JAX backend) through
  :class:`~adamw_oracle.adapters.keras_sgd.KerasSGDImplementation`;
* an optax ``GradientTransformation`` factory (a function defined in optax, or one annotated to return a
  ``GradientTransformation``) through
  :class:`~adamw_oracle.adapters.optax_adapter.OptaxFactoryImplementation`; ``optax.sgd`` itself through
  :class:`~adamw_oracle.adapters.optax_sgd.OptaxSGDImplementation`.

The constructor's signature decides how hyperparameters are passed and which optional switches the
target has (:mod:`adamw_oracle.adapters.signature`). Frameworks are looked up in ``sys.modules`` only:
an object of a framework implies the framework is already imported, so nothing is imported to decide.
"""
from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from typing import Any

from adamw_oracle.adapters.signature import constructor_map
from adamw_oracle.contract.case import Implementation
from adamw_oracle.contract.conventions import Family


def is_torch_optimizer(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer)


def is_keras_optimizer(obj: Any) -> bool:
    keras = sys.modules.get("keras")
    base = getattr(getattr(keras, "optimizers", None), "Optimizer", None)
    return isinstance(base, type) and isinstance(obj, type) and issubclass(obj, base)


def is_keras_sgd(obj: Any) -> bool:
    """``keras.optimizers.SGD`` or a subclass of it."""
    keras = sys.modules.get("keras")
    base = getattr(getattr(keras, "optimizers", None), "SGD", None)
    return isinstance(base, type) and isinstance(obj, type) and issubclass(obj, base)


def is_optax_sgd(obj: Any) -> bool:
    """``optax.sgd`` itself (its signature has no betas: the Adam-family factory mapping cannot take it)."""
    optax = sys.modules.get("optax")
    return optax is not None and obj is getattr(optax, "sgd", None)


def is_optax_factory(obj: Any) -> bool:
    if isinstance(obj, type) or not callable(obj) or "optax" not in sys.modules:
        return False
    if (getattr(obj, "__module__", None) or "").split(".")[0] == "optax":
        return True
    try:
        returns = inspect.signature(obj).return_annotation
    except (TypeError, ValueError):
        return False
    return "GradientTransformation" in str(getattr(returns, "__name__", returns))


def optimizer_target(obj: Any, *, name: str | None = None,
                     options: Mapping[str, Any] | None = None) -> Implementation | None:
    """An Implementation for a framework optimizer class or factory; None when ``obj`` is not one.

    Raises:
        InvalidArgumentError: it is a framework optimizer whose constructor cannot be mapped (not
            Adam- or SGD-family) or ``options`` names a parameter it does not take.
    """
    # each adapter module is imported late, with its framework (already imported: obj belongs to it)
    if is_torch_optimizer(obj):
        if constructor_map(obj, options, name=name, allow_sgd=True).family is Family.SGD:
            from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation  # heavy or optional

            return TorchSGDImplementation(optimizer_class=obj, name=name, options=options)
        from adamw_oracle.adapters.torch import TorchImplementation  # heavy or optional

        return TorchImplementation(optimizer_class=obj, name=name, options=options)
    if is_keras_sgd(obj):
        from adamw_oracle.adapters.keras_sgd import KerasSGDImplementation  # heavy or optional

        return KerasSGDImplementation(obj, name=name, options=options)
    if is_optax_sgd(obj):
        from adamw_oracle.adapters.optax_sgd import OptaxSGDImplementation  # heavy or optional

        return OptaxSGDImplementation(name=name, options=options)
    if is_keras_optimizer(obj):
        from adamw_oracle.adapters.keras_adapter import KerasClassImplementation  # heavy or optional

        return KerasClassImplementation(obj, name=name, options=options)
    if is_optax_factory(obj):
        from adamw_oracle.adapters.optax_adapter import OptaxFactoryImplementation  # heavy or optional

        return OptaxFactoryImplementation(obj, name=name, options=options)
    return None


def takes_three_positionals(fn: Any) -> bool:
    """Whether ``fn(params, grads, hyper)`` can bind (True when no signature can be read)."""
    try:
        inspect.signature(fn).bind(None, None, None)
    except TypeError:
        return False
    except ValueError:
        return True
    return True
