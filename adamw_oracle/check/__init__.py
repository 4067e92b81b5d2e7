"""Checking third-party optimizers against the reference: ``check_target``, ``identify``, ``assert_conforms``.

* :func:`check_target` -- generated cases, judged under the error model, shrunk counterexample.
* :func:`identify` -- black-box fingerprint of the convention an optimizer implements.
* :func:`assert_conforms` -- one assertion for users' own pytest suites.
* :func:`installed_targets` -- the built-in targets whose framework is installed.
"""
from adamw_oracle.adapters.registry import installed_targets
from adamw_oracle.check.assertion import ConformanceError, KnownFindingWarning, assert_conforms
from adamw_oracle.check.expected import ExpectedConvention, expected_convention
from adamw_oracle.check.findings import Finding
from adamw_oracle.check.identify import Identification, identify
from adamw_oracle.check.runner import CheckReport, Counterexample, check_target, evaluate

__all__ = [
    "CheckReport", "ConformanceError", "Counterexample", "KnownFindingWarning", "ExpectedConvention", "Finding", "Identification",
    "assert_conforms", "check_target", "evaluate", "expected_convention", "identify", "installed_targets",
]
