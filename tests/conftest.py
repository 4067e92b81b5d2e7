"""Shared pytest configuration: hypothesis profiles and the GPU marker's skip.

Profiles (select with HYPOTHESIS_PROFILE=...):
* ``ci`` (default): derandomized (fixed seed), bounded example counts, no deadline.
* ``thorough``: long campaigns, 10,000 examples per test; used with ``-m thorough``.

The campaign tests (marked ``thorough``) run their shards where ``--campaign-workers N`` (a local Dask
cluster of N processes) or ``--campaign-scheduler ADDRESS`` (a running Dask scheduler) say; default
serial. See docs/scale-out.md.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=10_000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("adamw-oracle campaigns")
    group.addoption("--campaign-workers", type=int, default=None, metavar="N",
                    help="run the thorough campaigns' shards on a local Dask cluster of N processes")
    group.addoption("--campaign-scheduler", default=None, metavar="ADDRESS",
                    help="run the thorough campaigns' shards on a running Dask scheduler (tcp://host:port)")


@pytest.fixture(scope="session")
def campaign_engine(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The engine the campaign options select, open for the whole session (one cluster)."""
    from adamw_oracle.verify.distributed import Engine

    with Engine(request.config.getoption("--campaign-workers"), request.config.getoption("--campaign-scheduler"),
                argument_names=("--campaign-workers", "--campaign-scheduler")) as engine:
        yield engine


def _cuda_device_count() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_device_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
