"""Known findings follow a target given by import path with constructor options.

``check torch.optim:SGD --option foreach=True`` runs the same torch code path as the built-in
``torch.SGD`` (foreach), so torch.SGD's declarations for that path -- in float16 the learning rate
rounded to half, a real and reproduced torch behaviour -- must apply to it too; before, only the exact
built-in names found their known findings, and the optioned target failed on the declared behaviour.
"""
from __future__ import annotations

import pytest

from adamw_oracle.adapters.registry import known_findings, resolve_target
from adamw_oracle.adapters.targets import (
    SGD_FOREACH_NESTEROV_WRITES_GRAD,
    SGD_FUSED_HALF_SKIPS_VECTOR_BLOCKS,
    SGD_HALF_LR_ROUNDED,
    TARGETS_BY_NAME,
    declared_target,
    torch_path,
)
from adamw_oracle.check.runner import check_target
from adamw_oracle.contract.dtypes import Dtype


@pytest.mark.parametrize(("options", "path"), [
    ({"foreach": True}, "foreach"), ({"foreach": False}, "forloop"), ({}, "forloop"), (None, "forloop"),
    ({"fused": True}, "fused"), ({"foreach": False, "fused": True}, "fused"), ({"fused": False}, "forloop"),
])
def test_torch_options_select_the_declared_code_path(options: dict | None, path: str) -> None:
    assert torch_path(options) == path
    found = declared_target("torch.optim:SGD", options)
    assert found is not None and found == (TARGETS_BY_NAME["torch.SGD"], path)
    assert declared_target("torch.optim.sgd:SGD", options) == found


def test_known_findings_of_an_optioned_import_path_are_those_of_its_path() -> None:
    f16 = Dtype.FLOAT16
    assert known_findings("torch.optim:SGD", f16, {"foreach": True}) == (SGD_FOREACH_NESTEROV_WRITES_GRAD, SGD_HALF_LR_ROUNDED)
    assert known_findings("torch.optim:SGD", f16, {"foreach": True}) == known_findings("torch.SGD", f16)
    assert known_findings("torch.optim:SGD", f16, {"fused": True}) == (SGD_FUSED_HALF_SKIPS_VECTOR_BLOCKS,)
    assert known_findings("torch.optim:SGD", f16, {"fused": True}) == known_findings("torch.SGD[fused]", f16)
    assert known_findings("torch.optim:SGD", Dtype.FLOAT64, {"foreach": False}) == ()
    # the keras and optax entries have one path, whatever the options
    assert known_findings("keras.optimizers:Adam", f16, {"amsgrad": True}) == known_findings("keras.Adam", f16)
    # a third-party optimizer keeps its declarations with options
    assert known_findings("optimi:AdamW", f16, {"kahan_sum": True}) == known_findings("optimi:AdamW", f16)
    assert known_findings("no.such:Thing", f16, {"foreach": True}) == ()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_check_of_an_optioned_import_path_reports_the_declared_behaviour_as_known() -> None:
    pytest.importorskip("torch")
    import torch

    case = SGD_HALF_LR_ROUNDED.trigger(Dtype.FLOAT16)
    for target in ("torch.optim:SGD", torch.optim.SGD):
        impl = resolve_target(target, options={"foreach": True})
        assert known_findings(impl, Dtype.FLOAT16) == known_findings("torch.SGD", Dtype.FLOAT16)
        report = check_target(target, expect="torch.SGD", dtype="float16", cases=[case], options={"foreach": True})
        assert report.verdict == "KNOWN", report.describe()
        assert SGD_HALF_LR_ROUNDED.id in report.known_counts
    # the fused path has no such declaration, and its fused kernel keeps lr in float32: it passes
    fused = check_target("torch.optim:SGD", expect="torch.SGD", dtype="float16", cases=[case], options={"fused": True})
    assert fused.verdict == "PASS", fused.describe()
    # held against the target with strict (known=()), the foreach run fails on the half-rounded lr
    strict = check_target("torch.optim:SGD", expect="torch.SGD", dtype="float16", cases=[case], options={"foreach": True},
                          known=())
    assert strict.verdict == "FAIL", strict.describe()
