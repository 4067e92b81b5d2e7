"""One assertion for users' own test suites: ``assert_conforms(impl, case)``.

Typical use with the public strategies (the target selected by ``--adamw-target`` or
``ADAMW_ORACLE_TARGET``, see :mod:`adamw_oracle.pytest_plugin`)::

    from hypothesis import given
    from adamw_oracle.verify.strategies import cases
    from adamw_oracle.check import assert_conforms

    @given(cases(conventions=[...], dtypes_=["float32"], seeded=False, long_runs=False))
    def test_conforms(adamw_target, case):
        assert_conforms(adamw_target, case)
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from adamw_oracle.adapters.registry import known_findings, resolve_target
from adamw_oracle.adapters.targets import KnownFinding
from adamw_oracle.check.runner import evaluate
from adamw_oracle.contract.case import Case


class ConformanceError(AssertionError):
    """The implementation's result for a case is not what the reference and the error model allow."""


class KnownFindingWarning(UserWarning):
    """A case showed a misbehaviour declared as a known finding of the target (not a failure)."""


def assert_conforms(impl: Any, case: Case, *, timeout: float | None = 60.0, precision: Any = None,
                    allow_ill_conditioned: bool = True, strict: bool = False,
                    known: Sequence[KnownFinding] | None = None) -> Any:
    """Run ``case`` through ``impl`` and raise :class:`ConformanceError` on any finding.

    * every finding kind fails (exception, timeout, bad output, inputs modified in place, NaN/inf where
      the exact result is finite, a value outside the bound), with the judge's text and the case;
    * except, as in ``check``, a finding that one of the target's declared known findings explains
      (:mod:`adamw_oracle.check.known`; ``known`` defaults to those declared for a built-in target, by
      name or as built by the registry or the ``adamw_target`` fixture): it is issued as a
      :class:`KnownFindingWarning` instead. ``strict=True`` holds known findings against the target;
    * ill-conditioned elements are set aside (pass ``allow_ill_conditioned=False`` to fail a case in
      which no element could be judged);
    * returns the judge's Judgement when the case conforms.
    """
    from adamw_oracle.verify.strategies import describe_case  # heavy or optional

    implementation = resolve_target(impl)
    if strict:
        known = ()
    elif known is None:
        known = known_findings(impl if isinstance(impl, str) else implementation, case.dtype)
    result = evaluate(implementation, case, timeout=timeout, precision=precision, known=known)
    if result.known:
        by_id = {k.id: k for k in known}
        warnings.warn(KnownFindingWarning(
            f"{implementation.name}: known finding(s) seen and not held against it (strict=True does): "
            + "; ".join(f"{kid}: {by_id[kid].summary}" for kid in result.known)), stacklevel=2)
    if result.failed:
        lines = [f"{implementation.name} does not conform:"] + [f"  {f.describe()}" for f in result.findings]
        if result.judgement is not None:
            lines.append("  " + result.judgement.describe().replace("\n", "\n  "))
        lines.append(describe_case(case))
        raise ConformanceError("\n".join(lines))
    if not allow_ill_conditioned and result.judgement is not None and result.judgement.counts.get("within", 0) == 0:
        raise ConformanceError(f"no element of the case could be judged (all ill-conditioned):\n{describe_case(case)}")
    return result.judgement
