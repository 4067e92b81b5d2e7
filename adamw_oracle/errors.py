"""Exceptions raised by adamw-oracle.

Every argument error names the argument, the value it was given and what is allowed, so that the
command line can print it as one readable line (exit status 2) without a traceback.
"""
from __future__ import annotations

from typing import Any


class AdamwOracleError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidArgumentError(AdamwOracleError, ValueError):
    """An argument is outside its allowed range or of the wrong kind.

    Attributes:
        argument: the name of the argument, as the caller spelled it.
        value: the offending value (as given).
        allowed: a human description of the allowed values or range.
    """

    def __init__(self, argument: str, value: Any, allowed: str, hint: str | None = None) -> None:
        self.argument = argument
        self.value = value
        self.allowed = allowed
        self.hint = hint
        message = f"{argument}={value!r} is not allowed: expected {allowed}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class UsageError(AdamwOracleError, ValueError):
    """A request that cannot be carried out as asked (e.g. rewriting committed files outside a
    checkout); the message says what to do instead. The command line prints it and exits 2."""


class CertificationError(AdamwOracleError, ArithmeticError):
    """Interval arithmetic could not certify the requested digits within the precision cap."""


class MissingExtraError(AdamwOracleError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""
