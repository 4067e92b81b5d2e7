"""The package's atomic writer, under its historical name (see :mod:`adamw_oracle.atomic`)."""
from adamw_oracle.atomic import TEMPORARY_PATTERN, write_atomically

__all__ = ["TEMPORARY_PATTERN", "write_atomically"]
