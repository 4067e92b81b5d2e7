"""Adapters: third-party optimizers (and users' own code) behind one protocol."""
from adamw_oracle.adapters.protocol import Case, Implementation, Observation

__all__ = ["Case", "Implementation", "Observation"]
