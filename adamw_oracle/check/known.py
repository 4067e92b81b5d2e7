"""Known findings: telling a declared, reproduced misbehaviour of a built-in target from a new one.

The declarations live in :mod:`adamw_oracle.adapters.targets` (:class:`KnownFinding`). ``check`` sorts
each case's findings with :func:`split_known`: a finding that one of the target's declared known findings
explains is counted as *known* and does not fail the case, so the search goes on looking for anything
else. :func:`reproduce` runs a known finding's own triggering case directly, which is how the test suite
and the main job tell that it is still there (and notice when a framework fixes it).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adamw_oracle.adapters.targets import VALUE_FINDINGS, KnownFinding
from adamw_oracle.check.findings import Finding, classify
from adamw_oracle.contract.case import Case, Implementation, Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.verify import judge


def explains(known: KnownFinding, case: Case, observation: Observation, finding: Finding,
             mode: str = "trajectory", others: Sequence[KnownFinding] = (), precision: Any = None) -> bool:
    """Whether ``known`` accounts for ``finding`` of ``case`` (see :class:`KnownFinding`). ``mode`` is
    how the finding's verdict was reached (``"per-step"``: re-synced from the target's own state, see
    :mod:`adamw_oracle.verify.resync`); the explaining precision model is tried the same way. Judged
    under that model, the observation may still fail on what one of ``others`` (the target's other
    declared known findings) explains by itself: Keras in bfloat16 computes with bfloat16 scalars *and*
    wraps its int32 step counter past 2**31, two findings of one case (:func:`explainers`).

    A value finding whose text ``known.matches`` rejects is still explained, in trajectory mode, when
    ``known.computed_as`` maps the case to the one the framework really computes and the observation
    passes there under ``precision`` (the target's declared model, as the case was judged): a trajectory
    judge sees no step counter, so torch's stalled float32 counter shows up only in the parameters."""
    return bool(explainers(known, case, observation, finding, mode, others, precision))


def explainers(known: KnownFinding, case: Case, observation: Observation, finding: Finding,
               mode: str = "trajectory", others: Sequence[KnownFinding] = (), precision: Any = None) -> tuple[str, ...]:
    """The ids that account for ``finding`` (see :func:`explains`): ``known``'s alone, ``known``'s and
    those of ``others`` that explain what its precision model leaves, or none."""
    if finding.kind not in known.kinds or case.dtype not in known.dtypes or not known.occurs(case):
        return ()
    if known.matches is not None and not known.matches(finding.describe()):
        return (known.id,) if _passes_as_computed(known, case, observation, finding, mode, precision) else ()
    if known.explained_by is None or finding.kind not in VALUE_FINDINGS:
        return (known.id,)
    if mode == "per-step":
        from adamw_oracle.verify.resync import judge_resynced  # heavy or optional

        verdict: Any = judge_resynced(case, observation, known.explained_by(case.dtype))
    else:
        verdict = judge(case, observation, precision=known.explained_by(case.dtype))
    if verdict.passed:
        return (known.id,)
    ids = [known.id]
    rest = classify(observation, verdict) if others else []
    for r in rest:  # each left over by the model must be one other known finding's alone
        helper = next((o for o in others if o.id != known.id and explainers(o, case, observation, r, mode, (), precision)),
                      None)
        if helper is None:
            return ()
        ids.append(helper.id)
    return tuple(ids) if rest else ()


def _passes_as_computed(known: KnownFinding, case: Case, observation: Observation, finding: Finding,
                        mode: str, precision: Any) -> bool:
    """Whether ``observation`` passes, judged as a trajectory under ``precision``, on the case the
    framework computes (``known.computed_as``); only for a value finding of a trajectory verdict."""
    if known.computed_as is None or finding.kind not in VALUE_FINDINGS or mode != "trajectory":
        return False
    computed = known.computed_as(case)
    if computed is case:  # nothing differs: the finding is the target's own
        return False
    from adamw_oracle.verify.vectorized import judge_vectorized  # heavy or optional

    return bool(judge_vectorized(computed, observation, precision).passed)


def split_known(case: Case, observation: Observation, findings: Sequence[Finding],
                known: Sequence[KnownFinding], mode: str = "trajectory",
                precision: Any = None) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """``(findings no known finding explains, ids of the known findings that explain the others)``;
    ``mode`` and ``precision`` (the model the case was judged under) as for :func:`explains`. A known finding that explains a finding alone is preferred to
    two that explain it together."""
    if not known or not findings:
        return tuple(findings), ()
    remaining: list[Finding] = []
    ids: dict[str, None] = {}
    for f in findings:
        found: tuple[str, ...] = ()
        for others in ((), known):
            found = next((e for k in known if (e := explainers(k, case, observation, f, mode, others, precision))), ())
            if found:
                break
        if not found:
            remaining.append(f)
        ids.update(dict.fromkeys(found))
    return tuple(remaining), tuple(ids)


def reproduce(impl: Implementation, known: KnownFinding, dtype: Dtype,
              precision: PrecisionModel | None = None) -> tuple[Finding, ...]:
    """Run ``known``'s triggering case through ``impl`` in ``dtype`` and judge it (under ``precision``,
    default the judge's); the findings ``known`` explains (empty: it did not reproduce)."""
    case = known.trigger(dtype)
    observation = impl.run(case)
    verdict: Any = None
    mode = "per-step" if getattr(observation, "step_states", None) else "trajectory"  # as check's auto mode
    if observation.error is None:
        if mode == "per-step":
            from adamw_oracle.verify.resync import judge_resynced  # heavy or optional

            verdict = judge_resynced(case, observation, precision)
        else:
            verdict = judge(case, observation, precision=precision) if precision is not None else judge(case, observation)
    findings = classify(observation, verdict)
    return tuple(f for f in findings if explains(known, case, observation, f, mode, (), precision))
