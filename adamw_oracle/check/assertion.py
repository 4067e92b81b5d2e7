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

from typing import Any

from adamw_oracle.adapters.registry import resolve_target
from adamw_oracle.check.runner import evaluate
from adamw_oracle.contract.case import Case


class ConformanceError(AssertionError):
    """The implementation's result for a case is not what the reference and the error model allow."""


def assert_conforms(impl: Any, case: Case, *, timeout: float | None = 60.0, precision: Any = None,
                    allow_ill_conditioned: bool = True) -> Any:
    """Run ``case`` through ``impl`` and raise :class:`ConformanceError` on any finding.

    * every finding kind fails (exception, timeout, bad output, inputs modified in place, NaN/inf where
      the exact result is finite, a value outside the bound), with the judge's text and the case;
    * ill-conditioned elements are set aside (pass ``allow_ill_conditioned=False`` to fail a case in
      which no element could be judged);
    * returns the judge's Judgement when the case conforms.
    """
    from adamw_oracle.verify.strategies import describe_case  # heavy or optional

    implementation = resolve_target(impl)
    result = evaluate(implementation, case, timeout=timeout, precision=precision)
    if result.failed:
        lines = [f"{implementation.name} does not conform:"] + [f"  {f.describe()}" for f in result.findings]
        if result.judgement is not None:
            lines.append("  " + result.judgement.describe().replace("\n", "\n  "))
        lines.append(describe_case(case))
        raise ConformanceError("\n".join(lines))
    if not allow_ill_conditioned and result.judgement is not None and result.judgement.counts.get("within", 0) == 0:
        raise ConformanceError(f"no element of the case could be judged (all ill-conditioned):\n{describe_case(case)}")
    return result.judgement
