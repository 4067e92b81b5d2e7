"""Test vectors for every language: certified, bounded, and telling conventions apart.

``adamw-oracle vectors --write`` writes one JSON file per preset and dtype under ``vectors/`` (plus a
JSON Schema); ``--check`` regenerates them in memory and compares. The README section "Test vectors
for every language" is the user's guide; :mod:`adamw_oracle.vectors.document` describes the layout,
:mod:`adamw_oracle.vectors.expected` how expected values and tolerances are computed,
:mod:`adamw_oracle.vectors.catalogue` which vectors exist, :mod:`adamw_oracle.vectors.replay` how a file
is read back (``check TARGET --vectors`` is :mod:`adamw_oracle.check.vectors`).
"""
from adamw_oracle.vectors.bits import from_bits, hex_bits, ordinal, to_bits, ulp_distance
from adamw_oracle.vectors.document import SCHEMA_NAME, file_document
from adamw_oracle.vectors.store import (
    FileDifference,
    SuiteFile,
    compare_suite,
    default_vectors_dir,
    file_name,
    suite_files,
    write_suite,
)

__all__ = [
    "FileDifference", "SCHEMA_NAME", "SuiteFile", "compare_suite", "default_vectors_dir", "file_document", "file_name",
    "from_bits", "hex_bits", "ordinal", "suite_files", "to_bits", "ulp_distance", "write_suite",
]
