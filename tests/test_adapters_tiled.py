"""TiledImplementation: a small case across one long tensor, folded back exactly.

Real torch on the CPU; the position-dependent targets are torch with a planted change past a position
(what a chunked kernel with a faulty tail would produce).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from adamw_oracle import Run, constant_gradients, preset  # noqa: E402
from adamw_oracle.adapters.tiled import TiledImplementation  # noqa: E402
from adamw_oracle.adapters.torch import TorchImplementation  # noqa: E402
from adamw_oracle.check import check_target  # noqa: E402
from adamw_oracle.contract import Dtype  # noqa: E402
from adamw_oracle.contract.case import Case, Observation  # noqa: E402
from adamw_oracle.errors import InvalidArgumentError  # noqa: E402

BOUNDARY = 40


class _WrongPastBoundary(TorchImplementation):
    """torch's fused AdamW, with every parameter at position >= BOUNDARY that the step changed moved by
    ``ulps`` float32 ulps (one the step leaves exactly as it was, e.g. under a zero gradient with lr = 0,
    has an exact result with a zero bound, where any difference is an error)."""

    def __init__(self, ulps: int) -> None:
        super().__init__("AdamW", "fused", name=f"wrong-past-{BOUNDARY}")
        self.ulps = ulps

    def run_arrays(self, case: Case, params: np.ndarray, grads: np.ndarray) -> Observation:
        obs = super().run_arrays(case, params, grads)
        moved = obs.params.astype(np.float32)
        before = np.vstack([params[None, :], obs.params[:-1]]).astype(np.float32)
        tail = moved[:, BOUNDARY:]
        shifted = (tail.view(np.int32) + self.ulps).view(np.float32)
        moved[:, BOUNDARY:] = np.where(tail != before[:, BOUNDARY:], shifted, tail)
        return Observation(moved.astype(np.float64), obs.state, obs.error, obs.findings)


def _case(n: int = 3) -> Case:
    config = preset("torch.AdamW", lr="0.01", weight_decay="0.1")
    values = [float(np.float32(x)) for x in (0.5, -1.25, 3.0)[:n]]
    grads = [float(np.float32(x)) for x in (0.3, -0.7, 0.01)[:n]]
    return Case(Run(config, tuple(values), constant_gradients(grads, 3)), Dtype.FLOAT32)


def test_tiling_a_case_gives_the_untiled_trajectory_bit_for_bit() -> None:
    case = _case()
    plain = TorchImplementation("AdamW", "fused").run(case)
    tiled_impl = TiledImplementation(TorchImplementation("AdamW", "fused"), 100)
    tiled = tiled_impl.run(case)
    assert tiled.error is None and tiled.params.shape == (3, 3)
    assert np.array_equal(tiled.params.view(np.uint64), plain.params.view(np.uint64))
    assert set(tiled.state) == {"m", "v"} and np.array_equal(tiled.state["v"], plain.state["v"])
    assert tiled_impl.position_dependent == 0
    assert tiled_impl.name == "torch.AdamW[fused] x100"


def test_a_large_error_past_a_position_fails_the_check() -> None:
    tiled = TiledImplementation(_WrongPastBoundary(ulps=4096), 64)
    report = check_target(tiled, expect="torch.AdamW", dtype="float32", examples=5, shrink_runs=10)
    assert not report.passed
    assert report.findings[0].kind == "outside_bound"
    assert tiled.position_dependent > 0


def test_a_last_bit_difference_past_a_position_is_judged_and_passes() -> None:
    tiled = TiledImplementation(_WrongPastBoundary(ulps=1), 64)
    # cases of at most 8 elements: the tiles (64 copies) carry the position past 40, not the case itself
    report = check_target(tiled, expect="torch.AdamW", dtype="float32", examples=5, max_size=8)
    assert report.passed, report.describe()
    assert 0 < tiled.position_dependent <= report.cases_run  # every non-empty case: copies past 40 differ


def test_bad_arguments_are_named() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        TiledImplementation(TorchImplementation(), 0)
    assert info.value.argument == "total"
    with pytest.raises(InvalidArgumentError) as info:
        TiledImplementation(object(), 10)
    assert info.value.argument == "inner"
