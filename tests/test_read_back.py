"""A target's declared read-back of its stored moments (PrecisionModel.reads_back_state) in the per-step
judge, on real torch: the parameter is judged against the update from the stored m_t, v_t it exposes.

Golden values come from the mpmath reference (reference.adam.adam_update at 256 bits, correctly rounded to
the dtype); the mis-declared implementation is torch's own fused CPU kernel, whose divisor comes from its
unrounded float working v.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adamw_oracle import Dtype, Run, preset  # noqa: E402
from adamw_oracle.adapters.torch import TorchImplementation  # noqa: E402
from adamw_oracle.check import check_target  # noqa: E402
from adamw_oracle.contract.case import Case, Observation  # noqa: E402
from adamw_oracle.contract.precision import PrecisionModel  # noqa: E402
from adamw_oracle.errors import InvalidArgumentError  # noqa: E402
from adamw_oracle.reference.adam import adam_update  # noqa: E402
from adamw_oracle.reference.backends import PointBackend, mpf_to_fraction  # noqa: E402
from adamw_oracle.reference.constants import StepConstants  # noqa: E402
from adamw_oracle.verify.resync import judge_resynced  # noqa: E402
from adamw_oracle.verify.strategies import array_case  # noqa: E402

F16 = PrecisionModel.conservative("float16")


def _tensor_case(seed: int = 7, n: int = 4099, steps: int = 3) -> Case:
    """A tensor-sized float16 case as check draws them (gradients down to 1e-4 N(0, 1))."""
    labelled = array_case(preset("torch.AdamW", lr="0.001", weight_decay="0.01"), Dtype.FLOAT16, n, steps, seed, "random")
    return Case(labelled.run, labelled.dtype)


def _store(dtype: str) -> type:
    return ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype).type


def _small_case(dtype: str, steps: int, n: int, seed: int, name: str = "torch.AdamW", scale: float = 1e-3,
                **hyper: object) -> Case:
    """Gradients 10**U(-5, 0) * scale * N(0, 1): (1 - beta2) g^2 lands around and below the half formats'
    subnormals, where the stored v holds few bits."""
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(steps, n)) * scale * 10.0 ** rng.uniform(-5, 0, n)
    grads = grads.astype(_store(dtype)).astype(np.float64)
    params = rng.normal(size=n).astype(_store(dtype)).astype(np.float64)
    cfg = preset(name, **({"lr": "0.001", "weight_decay": "0.01", "eps": "0.0001"} | hyper))  # type: ignore[arg-type]
    return Case(Run.from_arrays(cfg, params, grads), dtype)


def test_precision_model_declares_read_back_and_validates_it() -> None:
    model = F16.reading_back()
    assert model.reads_back_state and not F16.reads_back_state
    assert "reads the stored m and v back" in model.describe()
    with pytest.raises(InvalidArgumentError, match="reads_back_state"):
        PrecisionModel("float16", "float16", "float16", reads_back_state="yes")  # type: ignore[arg-type]


def test_torch_declares_read_back_on_its_for_loop_and_foreach_paths_only() -> None:
    for path in ("foreach", "forloop"):
        model = TorchImplementation("AdamW", path).precision_model(Dtype.FLOAT16)
        assert model is not None and model.reads_back_state and model.state is Dtype.FLOAT16
    fused = TorchImplementation("AdamW", "fused").precision_model(Dtype.FLOAT16)
    assert fused is None or not fused.reads_back_state
    assert TorchImplementation(optimizer_class=torch.optim.AdamW).precision_model(Dtype.FLOAT16) is None


@pytest.mark.parametrize("path", ["foreach", "forloop"])
def test_read_back_sets_less_aside_on_a_torch_float16_tensor_case(path: str) -> None:
    """Tiny gradients put (1 - beta2) g^2 below float16's subnormals: judged from the exact v the divisor
    is ill-conditioned; judged from the v torch stored (and read back) much less of it is."""
    case = _tensor_case()
    obs = TorchImplementation("AdamW", path).run(case)
    plain, declared = judge_resynced(case, obs, F16), judge_resynced(case, obs, F16.reading_back())
    assert plain.passed and declared.passed, declared.describe()
    ill = "ill-conditioned divisor"
    assert declared.ill_reasons.get(ill, 0) < 0.7 * plain.ill_reasons[ill]
    assert declared.counts["within"] > plain.counts["within"]
    # the stored state is judged with the flags of its own computation, not those of the divisor from the exact v
    assert declared.state_counts["outside"] == 0
    assert declared.state_counts["within"] > plain.state_counts["within"]
    assert judge_resynced(case, obs, F16.reading_back(), fused=False) == declared


def test_torch_fused_kernel_declared_reading_back_is_caught() -> None:
    """torch's fused CPU kernel divides by its float working v, not the float16 one it stores: correct
    under its own (default) declaration, outside the bound when declared as reading its state back."""
    case = _tensor_case()
    obs = TorchImplementation("AdamW", "fused").run(case)
    assert judge_resynced(case, obs, F16).passed
    wrong = judge_resynced(case, obs, F16.reading_back())
    assert not wrong.passed and wrong.first_failure is not None and wrong.first_failure.quantity == "param"
    assert judge_resynced(case, obs, F16.reading_back(), fused=False) == wrong


def _ideal_read_back(case: Case, obs: Observation) -> np.ndarray:
    """The parameters of an implementation that reads the stored moments back, with the exact update
    correctly rounded to the dtype once: step k from its own p_(k-1) and the stored m_k, v_k (vmax_k) of
    ``obs`` (mpmath at 256 bits; independent of the judge's array arithmetic)."""
    backend = PointBackend(256)
    run, fmt = case.run, case.dtype.format
    conv = run.config.conventions
    p = [Fraction(float(x)) for x in case.initial_params()]
    states = obs.step_states
    rows = []
    for k in range(run.steps):
        consts = StepConstants.build(backend, run.config_at(k), k + 1)
        row = []
        for i in range(run.size):
            stored = [backend.const(float(states[key][k, i])) if key in states else backend.zero
                      for key in ("m", "v", "vmax")]
            new = adam_update(backend, consts, conv, backend.const(p[i]), *stored).p_new
            row.append(fmt.round(mpf_to_fraction(new)))
        p = row
        rows.append([float(x) for x in row])
    return np.array(rows)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize(("name", "hyper", "scale"), [("torch.AdamW", {}, 1e-3), ("torch.Adam", {"amsgrad": True}, 1e-3),
                                                      ("torch.AdamW", {"maximize": True, "eps": "1e-8"}, 1.0)])
def test_the_read_back_bound_covers_the_correctly_rounded_update_from_the_stored_moments(
        dtype: str, name: str, hyper: dict[str, object], scale: float) -> None:
    """The mpmath reference agrees with the array and fused paths: an implementation whose every
    parameter is the correctly rounded update from torch's stored moments is within the bound, on
    both paths, with the same verdicts."""
    case = _small_case(dtype, 6, 40, seed=11, name=name, scale=scale, **hyper)
    torch_obs = TorchImplementation(name.split(".")[1], "forloop").run(case)
    ideal = replace(torch_obs, params=_ideal_read_back(case, torch_obs))
    model = PrecisionModel.conservative(dtype).reading_back()
    fused, array = judge_resynced(case, ideal, model), judge_resynced(case, ideal, model, fused=False)
    assert fused == array and fused.passed, fused.describe()
    assert fused.counts["within"] > 0


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_fused_and_array_paths_agree_under_read_back_for_right_and_wrong_state(dtype: str) -> None:
    """The cross-check of tests/test_resync.py under the declaration: AdamW foreach, Adam AMSGrad, and a
    stored m wrong at one element (which now also moves that step's parameter reference)."""
    model = PrecisionModel.conservative(dtype).reading_back()
    for case, impl in ((_small_case(dtype, 8, 300, seed=3), TorchImplementation("AdamW", "foreach")),
                       (_small_case(dtype, 8, 20, seed=4, name="torch.Adam", amsgrad=True),
                        TorchImplementation("Adam", "forloop"))):
        obs = impl.run(case)
        fused, array = judge_resynced(case, obs, model), judge_resynced(case, obs, model, fused=False)
        assert fused == array and fused.passed, f"{impl.name} {dtype}:\n{array.describe()}\n{fused.describe()}"
        wrong = {k: np.array(v) for k, v in obs.step_states.items()}
        wrong["m"][2, 1] *= 1.25
        bad = replace(obs, step_states=wrong)
        fused, array = judge_resynced(case, bad, model), judge_resynced(case, bad, model, fused=False)
        assert fused == array and not fused.passed, f"{impl.name} {dtype}:\n{array.describe()}\n{fused.describe()}"
        assert fused.first_failure is not None and fused.first_failure.step == 3


def test_tensor_sized_search_draws_distinct_cases_not_the_simplest_one() -> None:
    """A search that does not shrink rejects hypothesis's all-simplest first case (65,535 elements x 1
    step, lr = 0, generator seed 0, the same in every seed and shard) and any case drawn twice."""
    names: list[str] = []

    def on_case(phase: str, _done: int, _total: int, result: object) -> None:
        run = result.case.run  # type: ignore[attr-defined]
        if phase == "search" and run.name.startswith("array"):
            names.append(run.name)

    for seed in (0, 1):
        report = check_target("torch.AdamW", dtype="float32", examples=10, seed=seed, max_steps=4, on_case=on_case)
        assert report.passed, report.describe() if hasattr(report, "describe") else report
    assert len(names) == 4 and len(set(names)) == 4, names
    assert "array 65535x1 seed 0" not in names
