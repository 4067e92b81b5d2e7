"""torch.optim.Adam / AdamW through the adapter, for real: every code path, every dtype, amsgrad, maximize.

Verdicts come from the error model (``adamw_oracle.verify.judge``) against the certified reference; no
test here has its own tolerance.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from adamw_oracle import Dtype, Run, constant_gradients, preset  # noqa: E402
from adamw_oracle.adapters import Case  # noqa: E402
from adamw_oracle.adapters.torch import TorchImplementation  # noqa: E402
from adamw_oracle.check import evaluate  # noqa: E402
from adamw_oracle.errors import InvalidArgumentError  # noqa: E402
from adamw_oracle.reference import certify_run  # noqa: E402
from adamw_oracle.verify import judge  # noqa: E402

PATHS = ("forloop", "foreach", "fused")


def _anchor_run(**options: object) -> Run:
    """Seed 001's anchor (w=0.8, g=-0.3, lr=1e-3, wd=1e-2, 5 steps) with the float64 inputs torch receives."""
    cfg = preset("torch.AdamW", lr=1e-3, weight_decay=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, **options)
    return Run(cfg, (0.8,), constant_gradients([-0.3], 5))


@pytest.mark.parametrize("path", PATHS)
def test_anchor_matches_certified_reference(path: str) -> None:
    run = _anchor_run()
    case = Case(run, Dtype.FLOAT64)
    obs = TorchImplementation("AdamW", path).run(case)
    verdict = judge(case, obs)
    assert verdict.passed and verdict.counts["within"] == 5, verdict.describe()
    # seed 001's hand derivation: w1 = 0.8 - (-0.001) - 0.000008 = 0.800992 (decimal inputs); the
    # reference on torch's binary inputs rounds to the 6 decimals printed in the seed
    assert f'{float(certify_run(run, digits=12).steps[0][0]["p_new"].decimal):.6f}' == "0.800992"


def test_amsgrad_and_maximize_flags_reach_torch() -> None:
    run = Run(preset("torch.Adam", lr="0.25", weight_decay="0.5", amsgrad=True, maximize=True),
              (1.0, -2.0), ((1.0, 0.5), (0.0, -0.25), (0.125, 0.0)))
    case = Case(run, Dtype.FLOAT64)
    obs = TorchImplementation("Adam", "forloop").run(case)
    assert judge(case, obs).passed
    assert set(obs.state) == {"m", "v", "vmax"}
    # the same observation judged as if the flags had been ignored must fail: the flags changed the result
    plain = Case(Run(preset("torch.Adam", lr="0.25", weight_decay="0.5"), run.initial_params, run.gradients), Dtype.FLOAT64)
    assert not judge(plain, obs).passed


class _NegatesGradInPlace(torch.optim.AdamW):
    """Imitates torch's old maximize path that negated the gradient tensors in place."""

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if group["maximize"] and p.grad is not None:
                    p.grad.neg_()
        maximize = [g["maximize"] for g in self.param_groups]
        for g in self.param_groups:
            g["maximize"] = False
        try:
            return super().step(closure)
        finally:
            for g, m in zip(self.param_groups, maximize):
                g["maximize"] = m


def test_in_place_gradient_modification_is_a_finding() -> None:
    impl = TorchImplementation(optimizer_class=_NegatesGradInPlace, name="NegatesGradInPlace", path="forloop")
    run = Run(preset("torch.AdamW", lr="0.01", maximize=True), (0.5,), constant_gradients([0.25], 2))
    result = evaluate(impl, Case(run, Dtype.FLOAT32))
    kinds = [f.kind for f in result.findings]
    assert "mutated_input" in kinds, result.findings
    # its arithmetic is right (maximize done by negation), so the only findings are the mutations,
    # one per step, each naming its step
    assert kinds == ["mutated_input", "mutated_input"]
    assert "step 1" in result.findings[0].message and "step 2" in result.findings[1].message


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="path"):
        TorchImplementation("AdamW", "cuda")
    with pytest.raises(InvalidArgumentError, match="optimizer"):
        TorchImplementation("SGD")
