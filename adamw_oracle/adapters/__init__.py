"""Adapters: third-party optimizers (and users' own code) behind one protocol.

Framework adapters are imported lazily (``adamw_oracle.adapters.torch`` etc.) so that importing this
package never imports torch, JAX or Keras.
"""
from adamw_oracle.adapters.callable import CallableImplementation, from_callable
from adamw_oracle.adapters.registry import BUILTIN_TARGETS, builtin_preset, installed_targets, resolve_target
from adamw_oracle.adapters.subprocess_adapter import SubprocessImplementation
from adamw_oracle.contract.case import Case, Implementation, Observation

__all__ = [
    "BUILTIN_TARGETS", "CallableImplementation", "Case", "Implementation", "Observation",
    "SubprocessImplementation", "builtin_preset", "from_callable", "installed_targets", "resolve_target",
]
