"""Training loops: the per-step schedule of Run in every layer, the Loop contract, the loop judge, torch's
built-in targets driven through real loops, and the loop mutations (each caught only by its capability)."""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from adamw_oracle import Dtype, Run, preset
from adamw_oracle.contract.capabilities import LoopCapability
from adamw_oracle.contract.case import Case
from adamw_oracle.contract.loop import Loop, LoopCase, LoopObservation, LoopTensor, ParamGroup
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.reference.backends import mpf_to_fraction
from adamw_oracle.reference.trajectory import run_trajectory
from adamw_oracle.verify.judge import judge
from adamw_oracle.verify.loop_impl import NumpyLoopImplementation
from adamw_oracle.verify.loop_judge import judge_loop
from adamw_oracle.verify.loop_mutations import LOOP_MUTATIONS
from adamw_oracle.verify.numpy_impl import NumpyImplementation
from adamw_oracle.verify.vectorized import judge_vectorized

SCHEDULE = ("1", "0.5", "0.25", "2")


def scheduled_run(name: str = "torch.AdamW", **hyper: str) -> Run:
    grads = (("0.25", "-1.5"), ("0.5", "0.125"), ("-0.75", "2"), ("1", "-0.5"))
    return Run(preset(name, **hyper), ("0.5", "-2"), grads, schedule=SCHEDULE)


# -- the schedule of a Run ---------------------------------------------------------------------------

def test_schedule_is_consumed_by_the_reference_as_the_symbolic_layer_computes_each_step() -> None:
    """Independent formulation: the symbolic one-step of each step's configuration, chained exactly."""
    from adamw_oracle.symbolic import lambdified_step

    run = scheduled_run(lr="0.01", weight_decay="0.1")
    traj = run_trajectory(run)
    p = list(run.initial_params)
    m = [Fraction(0)] * 2
    v = [Fraction(0)] * 2
    vmax = [Fraction(0)] * 2
    for k in range(run.steps):
        step = lambdified_step(run.config_at(k))
        outs = [step(p[i], run.gradients[k][i], m[i], v[i], vmax[i], k + 1, prec=256) for i in range(2)]
        for i, out in enumerate(outs):
            assert abs(mpf_to_fraction(traj.steps[k][i].p_new) - Fraction(str(out["p_new"]))) < Fraction(1, 10**60)
        p = [mpf_to_fraction(traj.steps[k][i].p_new) for i in range(2)]
        m = [mpf_to_fraction(traj.steps[k][i].m) for i in range(2)]
        v = [mpf_to_fraction(traj.steps[k][i].v) for i in range(2)]
    # and the schedule matters: without it the trajectory differs from step 2 on
    plain = run_trajectory(run.replace(schedule=None))
    assert plain.steps[0][0].p_new == traj.steps[0][0].p_new
    assert plain.steps[1][0].p_new != traj.steps[1][0].p_new


def test_schedule_round_trips_and_default_documents_have_no_schedule_key() -> None:
    run = scheduled_run()
    assert Run.from_dict(run.as_dict()) == run
    assert run.config_at(1).hyper.schedule_multiplier == Fraction(1, 2)
    assert "schedule" not in run.replace(schedule=None).as_dict()


@pytest.mark.parametrize("schedule, argument", [(("1", "2"), "schedule"), (("1", "-1", "1", "1"), "schedule[1]")])
def test_bad_schedules_are_refused(schedule: tuple[str, ...], argument: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(argument)):
        scheduled_run().replace(schedule=schedule)


@pytest.mark.parametrize("dtype", [Dtype.FLOAT64, Dtype.FLOAT32, Dtype.BFLOAT16])
def test_numpy_and_gpu_host_build_follow_the_schedule_within_bound(dtype: Dtype) -> None:
    from adamw_oracle.gpu import HostBuildImplementation
    from adamw_oracle.verify.layers import natural_precision

    case = Case(scheduled_run(lr="0.01", weight_decay="0.1"), dtype)
    for impl in (NumpyImplementation(), HostBuildImplementation()):
        precision = natural_precision(impl, case)
        obs = impl.run(case)
        assert judge_vectorized(case, obs, precision).passed, impl.name
        assert judge(case, obs, precision=precision).passed, impl.name
    if dtype is Dtype.BFLOAT16:
        return  # lr 0.01 over 4 steps: the schedule's effect is within bfloat16 rounding here
    # the same implementation fed the run without its schedule is outside the bound
    unscheduled = NumpyImplementation().run(Case(case.run.replace(schedule=None), dtype))
    assert not judge_vectorized(case, unscheduled).passed


def test_single_run_adapters_refuse_a_schedule() -> None:
    pytest.importorskip("torch")
    from adamw_oracle.adapters.torch import TorchImplementation

    obs = TorchImplementation("AdamW").run(Case(scheduled_run(), Dtype.FLOAT32))
    assert obs.error is not None and "per-step schedule" in obs.error


# -- the Loop contract ---------------------------------------------------------------------------------

def small_loop(name: str = "torch.AdamW") -> Loop:
    a = LoopTensor(("0.5", "-1", "2"), [("0.25", "0.5", "-1"), None, ("1", "-0.5", "0.125"), ("0.5", "0.5", "0.5")])
    b = LoopTensor(("1",), [None, None, ("0.75",), ("-2",)])
    c = LoopTensor(("0.25",) * 9, [("0.5",) * 9] * 4)
    if name == "torch.SGD":
        groups = [ParamGroup(preset(name, lr="0.1", momentum="0.9", weight_decay="0.01"), (0, 1)),
                  ParamGroup(preset(name, lr="0.01", momentum="0.5"), (2,))]
    else:
        groups = [ParamGroup(preset(name, lr="0.01", weight_decay="0.1"), (0, 1)),
                  ParamGroup(preset(name, lr="0.001", beta1="0.5", weight_decay="0.5"), (2,))]
    return Loop([a, b, c], groups, schedule=SCHEDULE, resume_after=[2])


def test_a_loop_decomposes_into_one_run_per_tensor() -> None:
    loop = small_loop()
    run_a, run_b, run_c = (loop.tensor_run(i) for i in range(3))
    assert run_a is not None and run_b is not None and run_c is not None
    assert run_a.steps == 3 and run_a.schedule == (1, Fraction(1, 4), 2)  # present at steps 1, 3, 4
    assert run_b.steps == 2 and run_b.schedule == (Fraction(1, 4), 2) and run_b.gradients[0] == (Fraction(3, 4),)
    assert run_c.config == loop.groups[1].config and run_c.schedule == tuple(Fraction(s) for s in SCHEDULE)
    assert loop.required_capabilities() == frozenset(LoopCapability)
    assert Loop.from_dict(loop.as_dict()) == loop


@pytest.mark.parametrize("change, argument", [
    ({"groups": [ParamGroup(preset("torch.AdamW"), (0, 1)), ParamGroup(preset("torch.AdamW"), (1, 2))]}, "groups"),
    ({"groups": [ParamGroup(preset("torch.AdamW"), (0, 1))]}, "groups"),
    ({"resume_after": [4]}, "resume_after"),
    ({"schedule": ["1"]}, "schedule"),
])
def test_bad_loops_are_refused(change: dict, argument: str) -> None:
    loop = small_loop()
    parts = {"tensors": loop.tensors, "groups": loop.groups, "schedule": loop.schedule, "resume_after": loop.resume_after}
    parts.update(change)
    with pytest.raises(InvalidArgumentError, match=re.escape(argument)):
        Loop(**parts)


def test_the_loop_judge_requires_untouched_tensors_at_absent_steps() -> None:
    case = LoopCase(small_loop(), Dtype.FLOAT32)
    obs = NumpyLoopImplementation().run_loop(case)
    assert judge_loop(case, obs).passed
    moved = [np.array(p) for p in obs.params]
    moved[1][1, 0] = moved[1][0, 0] + 2.0**-20  # tensor 1 has no gradient at loop step 2
    verdict = judge_loop(case, LoopObservation(tuple(moved)))
    assert not verdict.passed and verdict.failure is not None
    assert (verdict.failure.tensor, verdict.failure.group, verdict.failure.step) == (1, 0, 2)


# -- torch's built-in targets through real loops ----------------------------------------------------------

TORCH_TARGETS = [f"torch.{o}{s}" for o in ("Adam", "AdamW", "SGD") for s in ("", "[forloop]", "[fused]")]


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
@pytest.mark.parametrize("optimizer", ["Adam", "AdamW", "SGD"])
def test_torch_runs_a_handwritten_loop_with_every_feature(optimizer: str, dtype: str) -> None:
    pytest.importorskip("torch")
    from adamw_oracle.adapters.torch_loop import TorchLoopImplementation

    case = LoopCase(small_loop(f"torch.{optimizer}"), dtype)
    for path in ("forloop", "foreach", "fused"):
        tensor_lr = [False, True] if optimizer != "SGD" and path != "foreach" else [False]
        for lr_tensor in tensor_lr:
            impl = TorchLoopImplementation(optimizer, path, lr_tensor=lr_tensor)
            obs = impl.run_loop(case)
            if optimizer == "SGD" and path == "fused":  # the known finding: tensor 1's first gradient comes late
                assert obs.error is not None and "TypeError" in obs.error
                assert all(k.occurs(case) for k in impl.known)
                continue
            verdict = judge_loop(case, obs)
            assert verdict.passed, (impl.name, verdict.failure and verdict.failure.describe(), verdict.error)
            assert verdict.counts["untouched"] == 3 + 2  # tensor 0 at step 2, tensor 1 at steps 1-2


@pytest.mark.parametrize("target", TORCH_TARGETS)
def test_check_loops_passes_torch_builtin_targets(target: str) -> None:
    pytest.importorskip("torch")
    from adamw_oracle.check.loops import check_loops

    report = check_loops(target, dtype="float32", examples=6, shrink_runs=0)
    assert report.passed, report.describe()
    assert report.capabilities == sorted(c.value for c in LoopCapability)
    assert report.counts["within"] > 0 and report.counts["untouched"] > 0


def test_torch_sgd_fused_late_first_gradient_is_known() -> None:
    """torch's fused SGD with momentum crashes when a parameter gets its first gradient after another got
    its own: a real torch bug, declared as a known loop finding. When torch fixes it this test fails."""
    pytest.importorskip("torch")
    from adamw_oracle.adapters.torch_loop import TORCH_SGD_FUSED_LATE_FIRST_GRADIENT, TorchLoopImplementation

    loop = Loop([LoopTensor(("0",), [("1",), ("1",)]), LoopTensor(("0",), [None, ("1",)])],
                [ParamGroup(preset("torch.SGD", lr="0.5", momentum="0.5"), (0, 1))])
    case = LoopCase(loop, "float32")
    obs = TorchLoopImplementation("SGD", "fused").run_loop(case)
    assert obs.error is not None and obs.error.startswith("TypeError")
    assert TORCH_SGD_FUSED_LATE_FIRST_GRADIENT.occurs(case)
    assert judge_loop(case, TorchLoopImplementation("SGD", "forloop").run_loop(case)).passed


def test_a_real_torch_checkpoint_that_drops_the_step_counter_is_caught() -> None:
    """Real torch with a broken checkpoint (each state's 'step' zeroed before load_state_dict)."""
    torch = pytest.importorskip("torch")
    from adamw_oracle.adapters.torch_loop import TorchLoopImplementation

    class DropsStep(TorchLoopImplementation):
        def _run(self, case: LoopCase) -> LoopObservation:
            original = torch.optim.Optimizer.load_state_dict

            def load(opt, state_dict):  # the checkpoint lost every step counter
                for st in state_dict["state"].values():
                    st["step"] = torch.zeros_like(st["step"])
                return original(opt, state_dict)

            torch.optim.Optimizer.load_state_dict = load
            try:
                return super()._run(case)
            finally:
                torch.optim.Optimizer.load_state_dict = original

    case = LoopCase(small_loop(), "float32")
    verdict = judge_loop(case, DropsStep("AdamW", "forloop").run_loop(case))
    assert not verdict.passed and verdict.failure is not None and verdict.failure.step == 3  # the step after the resume
    assert judge_loop(case, TorchLoopImplementation("AdamW", "forloop").run_loop(case)).passed


def test_tensor_lr_on_a_path_torch_refuses_is_an_argument_error() -> None:
    from adamw_oracle.adapters.torch_loop import TorchLoopImplementation

    with pytest.raises(InvalidArgumentError, match="lr_tensor"):
        TorchLoopImplementation("AdamW", "foreach", lr_tensor=True)


# -- loop mutations: only the loop check with their capability catches them ----------------------------------

def test_loop_mutations_cite_real_reports() -> None:
    assert len({m.name for m in LOOP_MUTATIONS}) == len(LOOP_MUTATIONS) == 3
    for mutation in LOOP_MUTATIONS:
        assert "#" in mutation.models and mutation.summary


@pytest.mark.parametrize("mutation", LOOP_MUTATIONS, ids=lambda m: m.name)
def test_each_loop_mutation_is_caught_only_by_its_capability(mutation: type) -> None:
    from adamw_oracle.check.loops import check_loops
    from adamw_oracle.check.runner import check_target

    single = check_target(mutation(), expect="torch.AdamW", dtype="float32", examples=25, case_timeout=None)
    assert single.passed, "the default single-tensor check should not see a loop bug"
    caught = check_loops(mutation(), expect="torch.AdamW", dtype="float32", examples=40, shrink_runs=0)
    assert not caught.passed and caught.failure is not None, caught.describe()
    without = frozenset(LoopCapability) - {mutation.needs}
    blind = check_loops(mutation(), expect="torch.AdamW", dtype="float32", examples=40, shrink_runs=0,
                        loop_capabilities=without)
    assert blind.passed, blind.describe()


def test_the_correct_numpy_loop_passes_every_feature_in_every_dtype() -> None:
    from adamw_oracle.check.loops import check_loops

    for dtype in ("float64", "float32", "bfloat16", "float16"):
        report = check_loops(NumpyLoopImplementation(), expect="torch.AdamW", dtype=dtype, examples=15, shrink_runs=0)
        assert report.passed, report.describe()


def test_check_loops_cli(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    from adamw_oracle.cli import main

    assert main(["check", "torch.AdamW", "--loops", "--examples", "3", "--json"]) == 0
    assert '"passed": true' in capsys.readouterr().out
    assert main(["check", "torch.AdamW", "--loops", "--max-groups", "0"]) == 2


# -- optax: several leaves, multi_transform groups, injected schedule, resume; no missing gradients ------------

@pytest.mark.parametrize("target, dtype", [("optax.adamw", "float32"), ("optax.adam", "bfloat16")])
def test_check_loops_passes_optax(target: str, dtype: str) -> None:
    pytest.importorskip("optax")
    from adamw_oracle.check.loops import check_loops

    report = check_loops(target, dtype=dtype, examples=4, shrink_runs=0)
    assert report.passed, report.describe()
    assert report.missing == ["missing_grads"] and "missing_grads" not in report.capabilities


def test_optax_declares_missing_gradients_missing() -> None:
    pytest.importorskip("optax")
    from adamw_oracle.adapters.optax_loop import OptaxLoopImplementation

    obs = OptaxLoopImplementation("optax.adamw").run_loop(LoopCase(small_loop("optax.adamw"), "float32"))
    assert obs.error is not None and "missing_grads" in obs.error


def needs_keras() -> None:
    """Skip unless Keras and JAX are installed (importorskip would import Keras on its default backend)."""
    import importlib.util

    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("keras and jax are not installed")


# -- Keras: one optimizer per group, learning_rate assigned or a LearningRateSchedule, save/load_own_variables --

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer, schedule", [("AdamW", "assign"), ("Adam", "schedule")])
def test_check_loops_passes_keras(optimizer: str, schedule: str, dtype: str) -> None:
    needs_keras()
    from adamw_oracle.adapters.keras_loop import KerasLoopImplementation
    from adamw_oracle.check.loops import check_loops, loop_target

    assert isinstance(loop_target(f"keras.{optimizer}"), KerasLoopImplementation)
    target = KerasLoopImplementation(optimizer, schedule=schedule)
    report = check_loops(target, expect=f"keras.{optimizer}", dtype=dtype, examples=5, shrink_runs=0)
    assert report.passed, report.describe()
    assert report.missing == ["missing_grads"] and report.counts["within"] > 0
    if dtype == "float64":
        assert "float32 scalars" in report.precision  # the built-in declaration reaches the loop judge


def keras_loop() -> Loop:
    loop = small_loop("keras.AdamW")
    full = [LoopTensor(t.initial_params, [r if r is not None else ("0.5",) * t.size for r in t.gradients])
            for t in loop.tensors]
    return Loop(full, loop.groups, loop.schedule, loop.resume_after)


@pytest.mark.parametrize("schedule", ["assign", "schedule"])
def test_keras_runs_a_handwritten_loop_and_a_lost_checkpoint_is_caught(schedule: str) -> None:
    """Real Keras with every declared feature passes; the same loop whose fresh optimizers are not loaded
    from the checkpoint (iterations and moments restart) fails at the step after the resume."""
    needs_keras()
    from adamw_oracle.adapters.keras_loop import KerasLoopImplementation

    case = LoopCase(keras_loop(), "float32")
    verdict = judge_loop(case, KerasLoopImplementation("AdamW", schedule=schedule).run_loop(case))
    assert verdict.passed, verdict.failure and verdict.failure.describe()

    class ForgetsState(KerasLoopImplementation):
        def _run(self, keras: object, case: LoopCase) -> LoopObservation:
            import keras as k

            original = k.optimizers.Optimizer.load_own_variables
            k.optimizers.Optimizer.load_own_variables = lambda self, store: None  # the checkpoint is not loaded
            try:
                return super()._run(keras, case)
            finally:
                k.optimizers.Optimizer.load_own_variables = original

    broken = judge_loop(case, ForgetsState("AdamW", schedule=schedule).run_loop(case))
    assert not broken.passed and broken.failure is not None and broken.failure.step == 3  # resume after step 2


def test_keras_step_counter_is_global_so_missing_gradients_are_declared_missing() -> None:
    """The evidence for declaring MISSING_GRADS missing: Keras skips a variable whose gradient is None
    but advances its one ``iterations`` counter, so the variable's first real step is bias-corrected with
    t = 2 (torch's per-tensor counter, the Loop reference, has t = 1)."""
    needs_keras()
    import warnings

    from adamw_oracle.adapters.keras_adapter import import_keras_jax
    from adamw_oracle.adapters.keras_loop import KerasLoopImplementation

    keras, problem = import_keras_jax()
    assert problem is None
    a = keras.Variable(np.array([1.0], dtype="float32"))
    b = keras.Variable(np.array([3.0], dtype="float32"))
    opt = keras.optimizers.Adam(learning_rate=0.5, beta_1=0.5, beta_2=0.75, epsilon=1e-30)
    one = np.array([1.0], dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about the missing gradient
        opt.apply_gradients([(one, a), (None, b)])
    assert int(keras.ops.convert_to_numpy(opt.iterations.value)) == 1 and float(keras.ops.convert_to_numpy(b.value)[0]) == 3.0  # b untouched...
    opt.apply_gradients([(one, a), (one, b)])
    assert int(keras.ops.convert_to_numpy(opt.iterations.value)) == 2
    # ...but its first step used t = 2: m_hat = 0.5 / (1 - 0.25) = 2/3, v_hat = 0.25 / (1 - 0.5625) = 4/7
    t2 = 3 - 0.5 * (2 / 3) / (4 / 7) ** 0.5
    assert abs(float(keras.ops.convert_to_numpy(b.value)[0]) - t2) < 1e-6 and abs(float(keras.ops.convert_to_numpy(b.value)[0]) - 2.5) > 0.05  # t = 1 gives 2.5
    impl = KerasLoopImplementation()
    assert LoopCapability.MISSING_GRADS not in impl.loop_capabilities
    obs = impl.run_loop(LoopCase(small_loop("keras.AdamW"), "float32"))
    assert obs.error is not None and "missing_grads" in obs.error


def test_keras_loop_arguments_are_checked() -> None:
    from adamw_oracle.adapters.keras_loop import KerasLoopImplementation

    with pytest.raises(InvalidArgumentError, match="schedule"):
        KerasLoopImplementation("AdamW", schedule="cosine")
    with pytest.raises(InvalidArgumentError, match="optimizer"):
        KerasLoopImplementation("SGD")


# -- loop mode applies the single-run known findings per tensor; --strict holds them -------------------------

def lr_rounding_loop() -> Loop:
    """torch.SGD's float16 lr rounding (KnownFinding torch-sgd-float16-lr-rounded-to-half) inside a loop:
    lr = 1e-6 and g = 16 give exactly -1.6e-5; torch computes 16 * float16(1e-6) (3.6 ulp off)."""
    a = LoopTensor(("0", "0.5"), [("16", "-16"), None, ("16", "8")])
    b = LoopTensor(("0",), [("16",), ("16",), ("16",)])
    return Loop([a, b], [ParamGroup(preset("torch.SGD", lr=1e-6), (0,)),
                         ParamGroup(preset("torch.SGD", lr="0.25", momentum="0.5"), (1,))],
                schedule=("1", "0.5", "1"), resume_after=[1])


def test_single_run_known_findings_explain_a_loop_tensor_by_tensor() -> None:
    pytest.importorskip("torch")
    from adamw_oracle.adapters.registry import known_findings
    from adamw_oracle.adapters.targets import SGD_HALF_LR_ROUNDED
    from adamw_oracle.adapters.torch_loop import TorchLoopImplementation
    from adamw_oracle.check.loop_known import explained_loop

    case = LoopCase(lr_rounding_loop(), "float16")
    known = known_findings("torch.SGD", case.dtype)
    assert SGD_HALF_LR_ROUNDED in known
    for path in ("foreach", "forloop"):
        obs = TorchLoopImplementation("SGD", path).run_loop(case)
        verdict = judge_loop(case, obs)
        assert not verdict.passed and verdict.failure is not None and verdict.failure.tensor == 0
        assert explained_loop(case, obs, verdict, known) == (SGD_HALF_LR_ROUNDED.id,)
        assert explained_loop(case, obs, verdict, ()) is None
        moved = [np.array(p) for p in obs.params]
        moved[0][1, 1] += 2.0**-8  # tensor 0 has no gradient at loop step 2: no known finding explains it moving
        broken = LoopObservation(tuple(moved))
        assert explained_loop(case, broken, judge_loop(case, broken), known) is None
    fused = TorchLoopImplementation("SGD", "fused").run_loop(case)  # the fused kernel keeps lr in float32
    assert judge_loop(case, fused).passed


def test_check_loops_reports_known_findings_and_strict_holds_them() -> None:
    pytest.importorskip("torch")
    from adamw_oracle.check.loops import check_loops

    # the first seed whose loops show the lr rounding (which seed does depends on the draws, not on the
    # property under test: seen by default it is known and passes, under --strict the same loops fail)
    for seed in range(16):
        default = check_loops("torch.SGD", dtype="float16", seed=seed, examples=12, shrink_runs=0)
        assert default.passed, default.describe()
        if default.known.get("torch-sgd-float16-lr-rounded-to-half", 0) >= 1:
            break
    else:
        pytest.fail("no seed in 0..15 drew a float16 SGD loop that shows torch's lr rounding")
    assert "torch-sgd-float16-lr-rounded-to-half" in default.applied_known
    strict = check_loops("torch.SGD", dtype="float16", seed=seed, examples=12, shrink_runs=0, strict=True)
    assert not strict.passed and strict.failure is not None and strict.known == {}
    assert "held (--strict)" in strict.describe()


def test_keras_half_precision_scalars_are_known_in_loop_mode() -> None:
    needs_keras()
    from adamw_oracle.check.loops import check_loops

    default = check_loops("keras.AdamW", dtype="bfloat16", examples=8, shrink_runs=0)
    assert default.passed and default.known.get("keras-half-scalars-in-variable-dtype", 0) >= 1, default.describe()
    # strict: the same loops are failures (one whose failing tensor passes through the subnormal range is
    # set aside first, as on any flush-to-zero target)
    strict = check_loops("keras.AdamW", dtype="bfloat16", examples=8, shrink_runs=0, strict=True)
    assert not strict.passed and strict.failure is not None, strict.describe()


# -- progress and interruption -------------------------------------------------------------------------------

def test_check_loops_reports_progress_and_leaves_a_partial_report_when_interrupted() -> None:
    calls: list[tuple[str, int, int, str]] = []

    class Interrupted(NumpyLoopImplementation):
        def run_loop(self, case: LoopCase) -> LoopObservation:
            if len(calls) == 3:
                raise KeyboardInterrupt  # Ctrl-C arriving while the target runs its fourth loop
            return super().run_loop(case)

    from adamw_oracle.check.loops import check_loops

    with pytest.raises(KeyboardInterrupt) as info:
        check_loops(Interrupted(), expect="torch.AdamW", examples=20, on_loop=lambda *a: calls.append(a))
    partial = info.value.partial_report  # type: ignore[attr-defined]
    assert partial.interrupted and not partial.passed and partial.loops == 3
    assert "INTERRUPTED after 3 loops" in partial.describe()
    assert calls == [("search", k, 20, "pass") for k in (1, 2, 3)]


def test_check_loops_cli_interrupted_by_a_real_sigint_prints_the_partial_report(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT to this process while the CLI runs real torch loops (the loop method is only
    counted, to send the signal once some loops have run)."""
    pytest.importorskip("torch")
    import os
    import signal
    import threading
    import time

    from adamw_oracle.adapters.torch_loop import TorchLoopImplementation
    from adamw_oracle.cli import main

    done = [0]
    original = TorchLoopImplementation.run_loop

    def counted(self: TorchLoopImplementation, case: LoopCase) -> LoopObservation:
        out = original(self, case)
        done[0] += 1
        return out

    monkeypatch.setattr(TorchLoopImplementation, "run_loop", counted)

    def interrupt() -> None:
        deadline = time.monotonic() + 120
        while done[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    assert main(["check", "torch.AdamW", "--loops", "--examples", "100000"]) == 130
    out, err = capsys.readouterr()
    assert "INTERRUPTED after" in out and "PASS" not in out
    assert "interrupted" in err and "Traceback" not in err


def test_a_flush_to_zero_loop_target_has_its_subnormal_loops_set_aside() -> None:
    """XLA on the CPU flushes subnormals: optax's decay of p = 2^-126 by lr*wd = 1/16 is subnormal and
    is lost (p stays 2^-126; exact 15/16 * 2^-126). As in check, such a loop is set aside, not failed."""
    pytest.importorskip("optax")
    from adamw_oracle.adapters.optax_loop import OptaxLoopImplementation
    from adamw_oracle.check.loop_known import flushed_loop

    tiny = Fraction(1, 2**126)
    loop = Loop([LoopTensor((tiny, "1"), [(0, "0.5"), (0, "0.5")]), LoopTensor(("1",), [("1",), ("1",)])],
                [ParamGroup(preset("optax.adamw", lr="0.5", weight_decay="0.125"), (0, 1))], resume_after=[1])
    case = LoopCase(loop, "float32")
    obs = OptaxLoopImplementation("optax.adamw").run_loop(case)
    verdict = judge_loop(case, obs)
    assert not verdict.passed and verdict.failure is not None and verdict.failure.tensor == 0
    assert obs.params[0][0, 0] == float(tiny)  # flushed: the subnormal decay did not happen
    reason = flushed_loop(case, obs, verdict)
    assert reason is not None and "tensor 0" in reason and "decay" in reason
    normal = LoopCase(Loop([LoopTensor(("1",), [("1",), ("1",)])], [ParamGroup(loop.groups[0].config, (0,))]), "float32")
    wrong = LoopObservation((np.array([[1.0], [0.5]]),))
    assert flushed_loop(normal, wrong, judge_loop(normal, wrong)) is None  # no subnormal: a real failure
