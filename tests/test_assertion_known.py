"""``assert_conforms`` treats a built-in target's declared known findings as ``check`` does.

The trigger is torch.SGD's foreach nesterov path writing into ``p.grad`` (declared in
adamw_oracle/adapters/targets.py, reproduced in tests/test_adapters_torch_sgd.py against real torch):
by name or through the adapter the registry built, the case passes with a KnownFindingWarning; with
``strict=True`` or a user's own object it fails.
"""
from __future__ import annotations

import warnings

import pytest

from adamw_oracle.adapters.registry import resolve_target
from adamw_oracle.adapters.targets import SGD_FOREACH_NESTEROV_WRITES_GRAD as GRAD_WRITE
from adamw_oracle.check import ConformanceError, KnownFindingWarning, assert_conforms
from adamw_oracle.contract.dtypes import Dtype

pytest.importorskip("torch")

CASE = GRAD_WRITE.trigger(Dtype.FLOAT32)


@pytest.mark.parametrize("target", ["torch.SGD", "built"])
def test_known_finding_warns_instead_of_failing(target: str) -> None:
    impl = resolve_target("torch.SGD") if target == "built" else target
    with pytest.warns(KnownFindingWarning, match=GRAD_WRITE.id):
        assert_conforms(impl, CASE)


def test_strict_holds_the_known_finding_against_the_target() -> None:
    with pytest.raises(ConformanceError, match="gradient|grad"):
        assert_conforms("torch.SGD", CASE, strict=True)


def test_a_user_object_gets_no_builtin_known_findings() -> None:
    from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation  # torch is optional

    with pytest.raises(ConformanceError):
        assert_conforms(TorchSGDImplementation("foreach"), CASE)


def test_a_clean_case_issues_no_warning() -> None:
    other_path = resolve_target("torch.SGD[forloop]")
    with warnings.catch_warnings():
        warnings.simplefilter("error", KnownFindingWarning)
        assert_conforms(other_path, CASE)
