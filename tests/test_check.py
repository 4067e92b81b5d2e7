"""check_target: findings for misbehaving optimizers, shrunk counterexamples for broken ones, the CLI."""
from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from adamw_oracle.adapters import Observation, from_callable
from adamw_oracle.check import check_target
from adamw_oracle.cli import main
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.mutations import MUTATIONS


def correct_adamw(params, grads, hyper):
    """torch.AdamW's algorithm in the arrays' dtype (scalars formed in float64, rounded once)."""
    dt = params.dtype.type
    p, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    b1, b2, eps = dt(hyper["beta1"]), dt(hyper["beta2"]), dt(hyper["eps"])
    c1, c2, shrink = dt(1 - hyper["beta1"]), dt(1 - hyper["beta2"]), dt(1 - hyper["lr"] * hyper["weight_decay"])
    out = []
    for t, g in enumerate(grads, start=1):
        p = p * shrink
        m = b1 * m + c1 * g
        v = b2 * v + c2 * g * g
        denom = np.sqrt(v) / dt(np.sqrt(1 - hyper["beta2"] ** t)) + eps
        p = p - dt(hyper["lr"] / (1 - hyper["beta1"] ** t)) * m / denom
        out.append(p)
    return np.array(out, dtype=params.dtype).reshape(len(grads), len(params))


CAPS = {"weight_decay"}


def _check(fn, **kw):
    options = dict(expect="torch.AdamW", dtype="float32", examples=15, seed=0, max_steps=3)
    options.update(kw)
    return check_target(from_callable(fn, name=fn.__name__, capabilities=CAPS), **options)


def test_correct_callable_passes() -> None:
    report = _check(correct_adamw)
    assert report.passed, report.describe()


def _raises(params, grads, hyper):
    if len(params) > 1:
        raise RuntimeError("boom on vectors")
    return correct_adamw(params, grads, hyper)


def _nan_on_zero_grad(params, grads, hyper):
    out = correct_adamw(params, grads, hyper)
    out[np.cumsum(grads == 0, axis=0) > 0] = np.nan
    return out


def _wrong_shape(params, grads, hyper):
    return correct_adamw(params, grads, hyper)[-1]


def _wrong_dtype(params, grads, hyper):
    return correct_adamw(params.astype(np.float64), grads.astype(np.float64), hyper)


def _mutates_grads(params, grads, hyper):
    out = correct_adamw(params, grads, hyper)
    grads *= 2
    return out


@pytest.mark.parametrize("fn, kind, text", [
    (_raises, "exception", "RuntimeError: boom on vectors"),
    (_nan_on_zero_grad, "nonfinite", "nan"),
    (_wrong_shape, "bad_output", "shape"),
    (_wrong_dtype, "bad_output", "float32"),
    (_mutates_grads, "mutated_input", "gradient array"),
])
def test_misbehaviour_is_a_finding_with_its_case(fn, kind: str, text: str) -> None:
    report = _check(fn)
    assert not report.passed
    assert report.findings[0].kind == kind and text in report.findings[0].message, report.describe()
    ce = report.counterexample
    assert ce is not None and ce.findings[0].kind == kind
    # a plain function has no import path: the reproduction says where to put it
    assert f"the implementation object you checked ({fn.__name__})" in ce.reproduction


def test_hang_is_a_timeout_finding() -> None:
    def sleepy(params, grads, hyper):
        time.sleep(1.5)
        return correct_adamw(params, grads, hyper)

    start = time.monotonic()
    report = _check(sleepy, examples=3, case_timeout=0.2, shrink_runs=2)
    assert time.monotonic() - start < 10
    assert report.findings[0].kind == "timeout"


def test_cases_share_one_worker_thread_until_one_hangs() -> None:
    """run_case reuses its daemon worker thread across cases; a hung call is abandoned with its worker,
    and the next case runs, in time, on a fresh one."""
    import threading

    from adamw_oracle.check.runner import run_case
    from adamw_oracle.contract.case import Case
    from adamw_oracle.contract.presets import preset
    from adamw_oracle.contract.run import Run

    seen: list[threading.Thread] = []
    release = threading.Event()

    def recording(params, grads, hyper):
        seen.append(threading.current_thread())
        if len(seen) == 3:
            release.wait(5)  # the third call hangs until the test releases it
        return correct_adamw(params, grads, hyper)

    impl = from_callable(recording, capabilities=CAPS)
    case = Case(Run(preset("torch.AdamW"), (1,), ((1,),)), "float32")
    first, second = run_case(impl, case, timeout=5), run_case(impl, case, timeout=5)
    assert first.error is None and second.error is None
    assert seen[0] is seen[1] and seen[0] is not threading.current_thread()
    hung = run_case(impl, case, timeout=0.2)
    assert hung.error is not None and hung.error.startswith("timeout")
    after = run_case(impl, case, timeout=5)
    release.set()
    assert after.error is None and seen[3] is not seen[2]


def test_an_implementation_returning_garbage_does_not_crash_the_checker() -> None:
    class ReturnsNone:
        name = "returns-none"

        def run(self, case):
            return None

    report = check_target(ReturnsNone(), expect="torch.AdamW", examples=3, shrink_runs=2)
    assert report.findings[0].kind == "bad_output" and "Observation" in report.findings[0].message


_ADAMW_MUTATIONS = ["decay_on_updated_param", "decay_not_times_lr", "bias_correction_t_plus_1",
                    "epsilon_hat_instead_of_torch_form", "eps_dropped"]


@pytest.mark.parametrize("mutation", _ADAMW_MUTATIONS)
def test_broken_optimizer_yields_shrunk_counterexample(mutation: str) -> None:
    cls = next(type(m).__name__ for m in MUTATIONS if m.name == mutation)
    target = f"adamw_oracle.verify.mutations:{cls}"
    report = check_target(target, expect="torch.AdamW", dtype="float32", examples=30, seed=0)
    assert not report.passed
    ce = report.counterexample
    assert ce is not None and report.shrink_runs > 0
    # shrunk to one element and one step -- or two from a seeded state with zero moments (then p0 = 0 and
    # the decay bug needs a second step to show): hypothesis ranks both as small
    run = ce.case.run
    seeded_at_zero = (run.initial_state is not None and run.initial_state.step > 0
                      and not any(run.initial_state.m) and not any(run.initial_state.v))
    assert run.size == 1 and (run.steps == 1 or (run.steps == 2 and seeded_at_zero)), run
    f = ce.findings[0]
    assert f.step == run.steps and f.element == 0 and "ulp" in f.message
    # the reproduction is a runnable program that shows the same failure
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(ce.reproduction, "<reproduction>", "exec"), {})
    assert "FAIL" in out.getvalue() and f"first failure: out[step={run.steps}, element=0]" in out.getvalue()


def test_same_seed_same_counterexample() -> None:
    target = "adamw_oracle.verify.mutations:DecayOnUpdatedParameter"
    a = check_target(target, expect="torch.AdamW", examples=20, seed=5)
    b = check_target(target, expect="torch.AdamW", examples=20, seed=5)
    assert a.counterexample is not None and a.counterexample.reproduction == b.counterexample.reproduction


@pytest.mark.parametrize("kwargs, argument", [
    ({"examples": 0}, "examples"), ({"dtype": "float8"}, "dtype"), ({"expect": "torch.AdamX"}, "preset"),
    ({"time_budget": -1}, "time_budget"), ({"seed": -2}, "seed"),
])
def test_bad_arguments_name_the_argument(kwargs, argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_target("adamw_oracle.verify.mutations:EpsDropped", **{"expect": "torch.AdamW", **kwargs})
    assert info.value.argument == argument


def test_cli_check_json_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", "adamw_oracle.verify.mutations:DecayNotScaledByLr", "--expect", "torch.AdamW",
                   "--examples", "10", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 1 and doc["passed"] is False
    assert doc["counterexample"]["findings"][0]["kind"] == "outside_bound"
    assert doc["expected"]["label"] == "torch.AdamW" and doc["dtype"] == "float32"


def test_cli_check_explicit_choices_and_pass(capsys: pytest.CaptureFixture[str]) -> None:
    # the decay-on-updated-parameter "bug" is HF's convention: declared explicitly, it conforms
    status = main(["check", "adamw_oracle.verify.mutations:DecayOnUpdatedParameter", "--expect", "torch.AdamW",
                   "--decay-target", "updated_param", "--examples", "8", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "decay_target=updated_param" in out and "PASS" in out


def test_cli_bad_target_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "torch.AdamX"]) == 2
    err = capsys.readouterr().err
    assert "target='torch.AdamX'" in err and "did you mean 'torch.Adam'" in err


def test_observation_findings_field_defaults_empty() -> None:
    assert Observation(np.zeros((0, 1))).findings == ()


def test_from_scratch_adapter_example(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    target = "examples.custom_adapter:StepAdamWImplementation"
    report = check_target(target, expect="torch.AdamW", dtype="float64", examples=8, max_steps=4)
    assert report.passed, report.describe()
    with pytest.raises(InvalidArgumentError) as info:
        check_target(target, expect="torch.AdamW", dtype="float32")
    assert info.value.argument == "dtype"


def test_time_budget_stops_the_search() -> None:
    def slow(params, grads, hyper):
        time.sleep(0.3)
        return correct_adamw(params, grads, hyper)

    report = _check(slow, examples=50, time_budget=0.5)
    assert report.stopped_by_budget and 1 <= report.cases_run < 50
    assert not report.findings and "time budget reached" in report.describe()
