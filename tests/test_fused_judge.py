"""The fused path of the vectorized judge: tracing, grouping of steps, fallback, and where it compiles.

Its verdicts and numbers are checked against the mpmath judge and, bit for bit, against the array
path in tests/test_vectorized_judge.py; this file covers the machinery around the kernel.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

import adamw_oracle
from adamw_oracle.check.tensor_cases import tensor_case
from adamw_oracle.contract.precision import FormatCost, PrecisionModel
from adamw_oracle.contract.presets import preset
from adamw_oracle.verify import fused
from adamw_oracle.verify.numpy_impl import correct_implementations
from adamw_oracle.verify.vectorized import _fused_preparation, _setup, judge_vectorized, reference_backend

CORRECT = correct_implementations()[0]


def test_every_step_of_an_adam_run_shares_one_structure_and_sgd_momentum_starts_apart() -> None:
    adam = _setup(tensor_case(preset("torch.AdamW", lr="0.001"), "float32", 10, 5, seed=0), None, None)
    prep = _fused_preparation(adam, True)
    assert prep is not None and [(g[0], g[1]) for g in prep.groups] == [(0, 5)]
    sgd = _setup(tensor_case(preset("torch.SGD", lr="0.01", momentum="0.9"), "float64", 10, 4, seed=0), None, None)
    prep = _fused_preparation(sgd, True)
    assert prep is not None and [(g[0], g[1]) for g in prep.groups] == [(0, 1), (1, 4)]
    assert prep.double_double


def test_the_tracer_records_element_operations_and_computes_scalar_ones() -> None:
    precision = PrecisionModel.conservative("float32")
    backend = reference_backend(precision)
    setup = _setup(tensor_case(preset("torch.AdamW", lr="0.001"), "float32", 4, 1, seed=0), precision, None)
    trace = fused.trace_step(backend, setup.consts[0], setup.step, (0, 0, 0, 0), setup.formats)
    kinds = [op[0] for op in trace.structure[1]]
    # m, v (2 mul + add each, g*g), m^, v^, sqrt, + eps, lr*m^, / denom, decay c*p, two subtractions
    assert kinds.count("div") == 3 and kinds.count("sqrt") == 1 and len(kinds) == 16
    assert all(isinstance(s, type(setup.consts[0].beta1)) for s in trace.slots)


def test_a_step_the_tracer_cannot_record_runs_on_the_array_path() -> None:
    precision = PrecisionModel.conservative("float64")
    backend = reference_backend(precision)
    setup = _setup(tensor_case(preset("torch.Adam", lr="0.001"), "float64", 4, 1, seed=0), precision, None)

    def cubes(b, c, p, g, m, v, vmax):
        return b.power(p, 3), m, v, vmax

    fmt = FormatCost.of(precision.arithmetic)
    with pytest.raises(fused.Unfusable):
        fused.trace_step(backend, setup.consts[0], cubes, (0, 0, 0, 0), (fmt, fmt))
    broken = type(setup)(**{**setup.__dict__, "step": cubes})
    assert _fused_preparation(broken, True) is None


def test_the_kernel_is_compiled_in_the_user_cache_never_in_the_package(tmp_path: Path) -> None:
    case = tensor_case(preset("torch.AdamW", lr="0.001"), "float32", 8, 2, seed=1)
    assert judge_vectorized(case, CORRECT.run(case), fused=True).passed
    module = fused.kernel()
    location = Path(module.__file__).resolve()
    assert adamw_oracle.__file__ is not None
    package = Path(adamw_oracle.__file__).resolve().parent
    assert package not in location.parents
    assert not list(package.rglob("*.nbi")) and not list(package.rglob("*.nbc"))
    assert (location.parent / "__pycache__").is_dir()  # numba's cache of the machine code, beside the copy


def test_a_cache_directory_others_can_write_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAMW_ORACLE_CACHE_DIR", str(tmp_path))
    shared = tmp_path / "fused"
    shared.mkdir()
    os.chmod(shared, 0o777)
    chosen = fused._directory()
    assert chosen != shared and chosen.is_dir()
    os.chmod(shared, 0o700)
    assert fused._directory() == shared


def test_the_untrusted_cache_falls_back_to_one_private_directory_per_user(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # it used to be a fresh mkdtemp directory per process, never removed (43 in /tmp after a day of tests,
    # each a 10 s recompile): now every process reuses one, owned by the user and closed to others
    monkeypatch.setenv("ADAMW_ORACLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    shared = tmp_path / "cache" / "fused"
    shared.mkdir(parents=True)
    os.chmod(shared, 0o777)
    first, second = fused._directory(), fused._directory()
    assert first == second == tmp_path / "tmp" / f"adamw-oracle-fused-{os.getuid()}"
    assert first.stat().st_uid == os.getuid() and first.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [first.name]
    # someone else's (here: writable by others) directory of that name is never used: a fresh one instead
    os.chmod(first, 0o777)
    fresh = fused._directory()
    assert fresh != first and fresh.parent == tmp_path / "tmp" and fresh.stat().st_mode & 0o777 == 0o700


def test_fused_and_array_paths_give_the_same_first_failure_on_a_big_case() -> None:
    case = tensor_case(preset("torch.AdamW", lr="0.001"), "float64", 5000, 3, seed=2)
    params = CORRECT.run(case).params.copy()
    params[2, 4000] = np.nextafter(params[2, 4000], np.inf) * (1 + 1e-12)
    params[1, 4500] *= 1 + 1e-10
    from adamw_oracle.contract.case import Observation

    array = judge_vectorized(case, Observation(params), fused=False)
    fast = judge_vectorized(case, Observation(params), fused=True)
    assert fast == array and not fast.passed and fast.counts["outside"] == 2
    assert fast.first_failure is not None and (fast.first_failure.step, fast.first_failure.element) == (2, 4500)


def test_two_step_functions_with_the_same_config_never_share_a_trace() -> None:
    # the trace cache was keyed by (config, precision, step number, flags, mode) only: a second step
    # function for the same config got the first one's program
    precision = PrecisionModel.conservative("float64")
    backend = reference_backend(precision)
    setup = _setup(tensor_case(preset("torch.Adam", lr="0.001"), "float64", 4, 1, seed=0), precision, None)
    plain = setup.step

    def doubled(b, c, p, g, m, v, vmax):  # another step: the gradient doubled first
        return plain(b, c, p, g * 2, m, v, vmax)

    def prepared(step):
        return fused.prepare(backend, setup.consts, step, setup.formats, setup.inputs, setup.grads, setup.key)

    first, second = prepared(plain), prepared(doubled)
    structure = fused.trace_step(backend, setup.consts[0], doubled, (0, 0, 0, 0), setup.formats).structure
    assert second.groups[0][2].structure == structure != first.groups[0][2].structure
    # an equal step (vectorized.py makes a new partial per case) still finds the cached trace
    again = _setup(tensor_case(preset("torch.Adam", lr="0.001"), "float64", 4, 1, seed=0), precision, None).step
    assert again is not plain and fused.step_identity(again) == fused.step_identity(plain)
    assert prepared(again).groups[0][2] is first.groups[0][2]
