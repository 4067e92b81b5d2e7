"""Seeded states handed to real optax through its state pytree (adamw_oracle.adapters.optax_state).

* a state optax itself held after 5 steps, handed back, continues the uninterrupted run bit for bit
  (adam, adamw with AMSGrad, and through inject_hyperparams and MultiSteps wrappers);
* a factory whose state has no Adam moments node is not declared seeded and is refused clearly;
* optax's int32 count stops at 2**31 - 1 (safe_increment, documented) and check reports it as known;
* a step counter held in bfloat16 (a mutation of optax that only shows past step 256) is caught by a
  seeded check.
"""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from adamw_oracle import Run, preset  # noqa: E402
from adamw_oracle.adapters.optax_adapter import OptaxFactoryImplementation, OptaxImplementation  # noqa: E402
from adamw_oracle.adapters.optax_state import NoAdamState, seed_optax_state  # noqa: E402
from adamw_oracle.adapters.targets import OPTAX_COUNT_SATURATES, TARGETS_BY_NAME  # noqa: E402
from adamw_oracle.check import check_target, evaluate  # noqa: E402
from adamw_oracle.contract.capabilities import Capability  # noqa: E402
from adamw_oracle.contract.case import Case  # noqa: E402
from adamw_oracle.contract.state import exact_state  # noqa: E402

GRADS = [[0.3, -1.5, 2.0], [0.1, -0.2, 0.0], [1.0, 1.0, -3.0], [0.5, 0.25, 0.125], [-2.0, 0.0, 1.0],
         [0.01, 3.0, -0.5], [0.0, 0.0, 0.0], [1.5, -1.0, 0.25]]
P0 = [0.8, -0.4, 1.2]


def _uninterrupted(tx, cut: int = 5):
    """optax's own run over GRADS in float32: the rows after every step and its state after ``cut``."""
    params = jnp.asarray(P0, jnp.float32)
    state = tx.init(params)
    rows, saved = [], None
    for k, g in enumerate(GRADS):
        updates, state = tx.update(jnp.asarray(g, jnp.float32), state, params)
        params = optax.apply_updates(params, updates)
        rows.append(np.asarray(params, dtype=np.float64))
        if k == cut - 1:
            saved = (jax.device_get(state), np.asarray(params, dtype=np.float64).tolist())
    return np.array(rows), saved


def _moments(state):
    """optax's own m, v (and nu_max) wherever its wrappers nest them (optax.tree_utils.tree_get)."""
    def get(name):
        return np.asarray(optax.tree_utils.tree_get(state, name)).tolist()

    return get("mu"), get("nu"), get("nu_max") if optax.tree_utils.tree_get_all_with_path(state, "nu_max") else None


@pytest.mark.parametrize("amsgrad", [False, True])
def test_a_seeded_optax_run_continues_the_uninterrupted_one_bit_for_bit(amsgrad: bool) -> None:
    lr, wd = 0.01, 0.1
    tx = (optax.chain(optax.scale_by_amsgrad(), optax.add_decayed_weights(wd), optax.scale_by_learning_rate(lr))
          if amsgrad else optax.adamw(lr, weight_decay=wd))
    rows, (state, resumed) = _uninterrupted(tx)
    m, v, vmax = _moments(state)
    case = Case(Run(preset("optax.adamw", lr=lr, weight_decay=wd, amsgrad=amsgrad), resumed, GRADS[5:],
                    exact_state(5, m, v, vmax)), "float32")
    obs = OptaxImplementation("adamw").run(case)
    assert obs.error is None, obs.error
    assert np.array_equal(obs.params, rows[5:])
    assert obs.step_states["step"].tolist() == [6, 7, 8]  # the injected count went on from 5


@pytest.mark.parametrize("wrap", ["inject_hyperparams", "MultiSteps"])
def test_wrapped_factories_are_seeded_through_their_nested_adam_node(wrap: str) -> None:
    if wrap == "inject_hyperparams":
        factory = optax.inject_hyperparams(optax.adam)
    else:
        def factory(learning_rate, b1, b2, eps, eps_root):  # every update is a real step (one mini-step)
            return optax.MultiSteps(optax.adam(learning_rate, b1, b2, eps, eps_root), every_k_schedule=1)
    # the uninterrupted run through the same wrapper (inject_hyperparams holds the hyperparameters as
    # float32 arrays, which rounds differently from optax.adam's Python floats)
    rows, (state, resumed) = _uninterrupted(factory(learning_rate=0.01, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0))
    m, v, _ = _moments(state)
    case = Case(Run(preset("optax.adam", lr=0.01), resumed, GRADS[5:], exact_state(5, m, v)), "float32")
    impl = OptaxFactoryImplementation(factory, name=f"{wrap}(adam)")
    assert Capability.SEEDED_STATE in impl.capabilities
    obs = impl.run(case)
    assert obs.error is None, obs.error
    assert np.array_equal(obs.params, rows[5:])


def test_every_counter_of_the_state_holds_the_step() -> None:
    state = optax.inject_hyperparams(optax.adamw)(learning_rate=0.1).init(jnp.zeros(2))
    case = Case(Run(preset("optax.adamw", lr=0.1), (1.0, 2.0), ((0.0, 0.0),), exact_state(300, [0.5, 0.25], [0.125, 1.0])),
                "float32")
    seeded = seed_optax_state(state, case)
    assert int(seeded.count) == 300 and int(seeded.inner_state[0].count) == 300
    assert np.asarray(seeded.inner_state[0].nu).tolist() == [0.125, 1.0]


def test_a_factory_without_adam_moments_is_not_seeded_and_is_refused_clearly() -> None:
    def lion(learning_rate, b1, b2, eps):  # optax.lion (no eps: the adapter maps Adam-family signatures)
        return optax.lion(learning_rate, b1, b2)

    impl = OptaxFactoryImplementation(lion, name="lion")
    assert Capability.SEEDED_STATE not in impl.capabilities  # check draws long runs for it instead
    case = Case(Run(preset("optax.adam", lr=0.1), (1.0,), ((0.5,),), exact_state(300, [0.5], [0.25])), "float32")
    assert "starts from a fresh optimizer" in impl.run(case).error
    with pytest.raises(NoAdamState, match=r"ScaleByLionState.*no node with Adam moments mu and nu"):
        seed_optax_state(optax.lion(0.1).init(jnp.zeros(1)), case)
    with pytest.raises(NoAdamState, match="2 nodes"):  # two Adam nodes: which one is meant is ambiguous
        seed_optax_state(optax.chain(optax.adam(0.1), optax.adam(0.1)).init(jnp.zeros(1)), case)
    ams = Case(Run(preset("optax.adam", lr=0.1, amsgrad=True), (1.0,), ((0.5,),), exact_state(3, [0.5], [0.25], [0.5])),
               "float32")
    with pytest.raises(NoAdamState, match="no nu_max"):
        seed_optax_state(optax.adam(0.1).init(jnp.zeros(1)), ams)


def test_the_builtin_optax_targets_declare_seeded_states() -> None:
    for name in ("optax.adam", "optax.adamw"):
        assert Capability.SEEDED_STATE in TARGETS_BY_NAME[name].capabilities
        assert OPTAX_COUNT_SATURATES in TARGETS_BY_NAME[name].known


def test_the_int32_count_stops_at_2_31_minus_1_and_is_reported_as_known() -> None:
    # optax documents safe_increment: "when max_val is reached the counter stays at max_val"
    top = 2**31 - 1
    case = Case(Run(preset("optax.adam", lr="0.001", beta2="0.999999"), (1.0, -0.5), ((0.25, 1.0),) * 3,
                    exact_state(top - 1, [0.01, -0.02], [0.0625, 0.25])), "float32")
    obs = OptaxImplementation("adam").run(case)
    assert obs.step_states["step"].tolist() == [top, top, top]  # no wrap to -2**31
    strict = evaluate(OptaxImplementation("adam"), case, known=())
    assert strict.failed and all("stored state step" in f.message for f in strict.findings), strict.findings
    accepted = evaluate(OptaxImplementation("adam"), case, known=(OPTAX_COUNT_SATURATES,))
    assert not accepted.failed and accepted.known == (OPTAX_COUNT_SATURATES.id,)  # the parameters are right


def bfloat16_count_adamw(learning_rate, b1, b2, eps, eps_root, weight_decay):
    """optax.adamw whose count is stored rounded to bfloat16 after every update (a mutation modelled on
    the low-precision step counters of issue 12): exact to 256, then 256 + 1 rounds back to 256."""
    inner = optax.adamw(learning_rate, b1, b2, eps, eps_root, weight_decay=weight_decay)

    def update(updates, state, params=None):
        updates, state = inner.update(updates, state, params)
        adam = state[0]
        return updates, (adam._replace(count=adam.count.astype(jnp.bfloat16).astype(jnp.int32)), *state[1:])

    return optax.GradientTransformation(inner.init, update)


def test_a_bfloat16_count_moves_optax_parameters_only_past_step_256() -> None:
    from adamw_oracle.verify.resync import judge_resynced

    mutated = OptaxFactoryImplementation(bfloat16_count_adamw, name="bfloat16-count adamw")
    clean = OptaxFactoryImplementation(optax.adamw, name="optax:adamw")

    def case(step: int) -> Case:
        config = preset("optax.adamw", lr="0.1", beta2="0.9999", weight_decay="0")
        return Case(Run(config, (1.0,), ((1.0,),) * 4, exact_state(step, [0.5], [0.25])), "float32")

    for impl, before, after in ((clean, True, True), (mutated, True, False)):
        # the parameters alone (the stored counter not judged): the stalled count changes 1 - beta2^t
        assert judge_resynced(case(200), impl.run(case(200)), judge_state=False).passed is before
        assert judge_resynced(case(254), impl.run(case(254)), judge_state=False).passed is after


def test_a_seeded_check_catches_a_bfloat16_step_counter_in_optax() -> None:
    impl = OptaxFactoryImplementation(bfloat16_count_adamw, name="bfloat16-count adamw")
    impl.tensor_cases = False  # type: ignore[attr-defined]  # exact cases only: a short test
    assert Capability.SEEDED_STATE in impl.capabilities
    report = check_target(impl, expect="optax.adamw", dtype="float32", examples=20, seed=0, shrink_seconds=5)
    assert not report.passed and report.findings, report.describe()
    run = report.counterexample.case.run
    assert run.initial_state is not None and run.initial_state.step + run.steps > 256, run
