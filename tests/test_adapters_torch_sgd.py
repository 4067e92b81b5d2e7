"""torch.optim.SGD through the adapter, for real: every CPU code path, the dtypes, momentum, dampening,
nesterov, coupled weight decay, maximize; the SGD mutations caught by ``check``.

Verdicts come from the error model (``adamw_oracle.verify.judge``) against the certified reference; no
test here has its own tolerance. What torch does outside the model is pinned as findings, not hidden:

* float16 on the ``forloop`` and ``foreach`` paths: ``param.add_(grad, alpha=-lr)`` rounds the scalar
  ``lr`` to float16 (a subnormal for lr < 2^-14), an error the model (float32 scalars) does not admit;
  the fused kernel keeps lr in float32 and passes.
* ``foreach`` with nesterov, weight_decay=0 and maximize=False adds momentum*buf into ``p.grad`` in
  place (``_foreach_add_(device_grads, bufs, alpha=momentum)``): reported as ``mutated_input``.

Both are declared as known findings in ``adamw_oracle/adapters/targets.py``; ``tests/test_targets.py``
runs ``check`` over every path and dtype and re-runs each finding's trigger.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from adamw_oracle import Dtype, Run, preset  # noqa: E402
from adamw_oracle.adapters import Case, resolve_target  # noqa: E402
from adamw_oracle.adapters.registry import BUILTIN_TARGETS, builtin_preset  # noqa: E402
from adamw_oracle.adapters.torch_sgd import TorchSGDImplementation  # noqa: E402
from adamw_oracle.check import check_target, evaluate, identify  # noqa: E402
from adamw_oracle.errors import InvalidArgumentError  # noqa: E402
from adamw_oracle.verify import judge  # noqa: E402
from adamw_oracle.verify.mutations import mutation  # noqa: E402

PATHS = ("forloop", "foreach", "fused")


def _name(path: str) -> str:
    return "torch.SGD" + ("" if path == "foreach" else f"[{path}]")


def test_registered_with_its_preset() -> None:
    for path in PATHS:
        assert _name(path) in BUILTIN_TARGETS and builtin_preset(_name(path)) == "torch.SGD"
        impl = resolve_target(_name(path))
        assert isinstance(impl, TorchSGDImplementation) and impl.path == path and impl.name == _name(path)
    with pytest.raises(InvalidArgumentError, match="path"):
        TorchSGDImplementation("vectorised")


@pytest.mark.parametrize("path", PATHS)
def test_every_hyperparameter_reaches_torch(path: str) -> None:
    # momentum 1/2, dampening 1/4, L2 1/8, maximize: g' = -(1/2) + 1/8 * 1, the buffer is g' at step 1 (no
    # dampening), p1 = 1 - 1/2 * (-3/8) = 1.1875 exactly; later steps are judged against the reference
    run = Run(preset("torch.SGD", lr="0.5", momentum="0.5", dampening="0.25", weight_decay="0.125", maximize=True),
              (1.0, -2.0), ((0.5, 0.25), (0.0, -1.0), (0.125, 0.0)))
    case = Case(run, Dtype.FLOAT64)
    obs = TorchSGDImplementation(path).run(case)
    assert obs.error is None and obs.params[0, 0] == 1.1875
    verdict = judge(case, obs)
    assert verdict.passed and verdict.counts["within"] == 6, verdict.describe()
    assert set(obs.state) == {"m"}
    # the same observation judged as if maximize / dampening had been ignored must fail
    for changed in ({"maximize": False}, {"dampening": "0"}):
        options = {"lr": "0.5", "momentum": "0.5", "dampening": "0.25", "weight_decay": "0.125", "maximize": True, **changed}
        other = Case(Run(preset("torch.SGD", **options), run.initial_params, run.gradients), Dtype.FLOAT64)
        assert not judge(other, obs).passed


@pytest.mark.parametrize("path", PATHS)
def test_nesterov_matches_reference(path: str) -> None:
    run = Run(preset("torch.SGD", lr="0.25", momentum="0.9", weight_decay="0.5", nesterov=True),
              (1.0, 0.5), ((1.0, -1.0), (0.5, 0.0), (0.25, 2.0)))
    case = Case(run, Dtype.FLOAT32)
    verdict = judge(case, TorchSGDImplementation(path).run(case))
    assert verdict.passed and verdict.counts["within"] == 6, verdict.describe()


@pytest.mark.parametrize("path", ["forloop", "foreach"])
def test_float16_lr_rounded_to_half_is_reported(path: str) -> None:
    # p = 0, g = 16, lr = 1e-6: exact p1 = -1.6e-5; torch computes 16 * float16(1e-6) = -1.6212e-5, 3.6 ulp
    # away (float16(1e-6) is subnormal); the fused kernel, with lr in float32, gives the right rounding
    run = Run(preset("torch.SGD", lr=1e-6), (0.0,), ((16.0,),))
    case = Case(run, Dtype.FLOAT16)
    obs = TorchSGDImplementation(path).run(case)
    assert obs.params[0, 0] == -16 * float(torch.tensor(1e-6, dtype=torch.float16))
    assert not judge(case, obs).passed
    fused = TorchSGDImplementation("fused").run(case)
    assert judge(case, fused).passed


def test_foreach_nesterov_writes_into_grad_is_reported() -> None:
    run = Run(preset("torch.SGD", lr="0.5", momentum="0.5", nesterov=True), (0.0,), ((1.0,),))
    case = Case(run, Dtype.FLOAT32)
    result = evaluate(TorchSGDImplementation("foreach"), case)
    assert [f.kind for f in result.findings] == ["mutated_input"]
    assert result.judgement is not None and result.judgement.passed  # the parameters themselves are right
    assert not evaluate(TorchSGDImplementation("forloop"), case).findings


@pytest.mark.parametrize("name, seed", [("sgd_decay_ignored_without_momentum", 3), ("sgd_dampening_on_first_step", 0)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_mutations_caught_and_shrunk(name: str, seed: int, dtype: str) -> None:
    # at most 8 elements (as check drew before sizes to 129): a wider case can be a local minimum of the
    # shrinker when its first element alone shows nothing; ordinary cases only, since what is shrunk is the
    # exact search (a tensor-sized case that catches it first is reported as drawn, not shrunk)
    report = check_target(mutation(name), expect="torch.SGD", dtype=dtype, examples=200, seed=seed, max_steps=4,
                          max_size=8, space={"ordinary_only": True})
    assert not report.passed and report.counterexample is not None
    ce = report.counterexample
    assert ce.case.run.size == 1 and ce.case.run.steps <= 2, ce.describe()
    assert ce.case.run.config.conventions.family.value == "sgd"
    assert any(f.kind == "outside_bound" for f in ce.findings)
    h = ce.case.run.config.hyper
    if name == "sgd_decay_ignored_without_momentum":
        assert h.momentum == 0 and h.weight_decay != 0
    else:
        assert h.momentum != 0 and h.dampening != 0
    # the counterexample is reproducible: the mutation fails it, torch passes it
    assert not judge(ce.case, mutation(name).run(ce.case)).passed
    assert judge(ce.case, TorchSGDImplementation("forloop").run(ce.case)).passed


def test_family_mismatch_is_an_argument_error() -> None:
    with pytest.raises(InvalidArgumentError, match="sgd family"):
        check_target("torch.SGD", expect="torch.AdamW", examples=1)
    with pytest.raises(InvalidArgumentError, match="adam family"):
        check_target("torch.AdamW", expect="torch.SGD", examples=1)


def test_identify_refuses_sgd_target_clearly() -> None:
    with pytest.raises(InvalidArgumentError, match="identify probes Adam-family conventions"):
        identify("torch.SGD")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_fused_half_sgd_skips_its_vector_blocks(dtype):
    """A real torch bug, found by judging a tensor-sized case (check draws at most 8 elements):
    torch.optim.SGD(fused=True) on the CPU in float16/bfloat16 leaves the parameters of each full
    16-element vector block unchanged and updates only the scalar tail. Reference: p = 1, g = 1,
    lr = 1/8 gives exactly 7/8 in every element. float32 and blocks shorter than 16 are right. If a
    torch release fixes it, this test fails: then drop it (and nothing needs declaring)."""
    run = Run(preset("torch.SGD", lr="0.125"), ("1",) * 20, (("1",) * 20,))
    report = check_target("torch.SGD[fused]", dtype=dtype, cases=[Case(run, dtype)], known=())
    assert not report.passed
    assert report.counts == {"within": 4, "outside": 16, "ill_conditioned": 0}
    assert report.counterexample is not None and report.counterexample.observed[0][:16] == [1.0] * 16
    short = Run(preset("torch.SGD", lr="0.125"), ("1",) * 15, (("1",) * 15,))
    assert check_target("torch.SGD[fused]", dtype=dtype, cases=[Case(short, dtype)], known=()).passed
    wide = check_target("torch.SGD[fused]", dtype="float32", cases=[Case(run, "float32")], known=())
    assert wide.passed
