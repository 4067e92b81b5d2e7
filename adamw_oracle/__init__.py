"""adamw-oracle: certified reference, symbolic proofs and GPU kernels for Adam, AdamW, SGD and SGDW."""
from adamw_oracle.contract import *  # noqa: F401,F403  (the contract is the public vocabulary)
from adamw_oracle.contract import __all__ as _contract_all
from adamw_oracle.errors import AdamwOracleError, CertificationError, InvalidArgumentError

__version__ = "0.1.0"
__all__ = [*_contract_all, "AdamwOracleError", "CertificationError", "InvalidArgumentError", "__version__"]
