"""Campaigns on Dask distributed: the same report on a real 2-worker LocalCluster as serially, a failing
target's shrunk counterexample found in a worker, usage errors, and no worker left behind on interruption."""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from adamw_oracle.check import check_target
from adamw_oracle.cli import main
from adamw_oracle.contract.case import MAX_SECONDS
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.distributed import (
    MIN_SHARD_SIZE,
    Engine,
    Shard,
    ShardError,
    check_scheduler,
    default_shard_size,
    draws_independent_of_imports,
    plan_shards,
    shard_seed,
)
from adamw_oracle.verify.fuzz import fuzz_campaign, three_way_fuzz
from adamw_oracle.verify.mutations import mutation

FAILING_TARGET = "adamw_oracle.verify.mutations:BiasCorrectionDropped"  # bias correction declared, not applied


def _report(report: Any) -> str:
    """The report as JSON text without its timing (``json`` spells NaN the same on both sides; ``==`` on
    the dicts would not: an observed NaN is not equal to itself)."""
    document = report.as_dict()
    document.pop("seconds")
    return json.dumps(document, sort_keys=True)


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A real LocalCluster of 2 single-threaded worker processes, through the ``workers=2`` path."""
    with Engine(workers=2) as engine:
        yield engine


def test_shard_plan_depends_only_on_examples_and_seed() -> None:
    plan = plan_shards(35, 7)
    assert [s.examples for s in plan] == [10, 10, 10, 5]
    assert [s.index for s in plan] == [0, 1, 2, 3] and {s.count for s in plan} == {4}
    assert [s.seed for s in plan] == [shard_seed(7, i) for i in range(4)]
    assert len({s.seed for s in plan}) == 4 and plan == plan_shards(35, 7)
    assert [s.seed for s in plan_shards(35, 8)] != [s.seed for s in plan]
    # a fixed value: the seed derivation is part of the campaign's definition, so it must not drift
    # (SHA-256 of "adamw-oracle/shard/0/0", first 8 bytes, big-endian; computed independently with hashlib)
    import hashlib

    assert shard_seed(0, 0) == int(hashlib.sha256(b"adamw-oracle/shard/0/0").hexdigest()[:16], 16)
    assert default_shard_size(60) == MIN_SHARD_SIZE and len(plan_shards(10_000_000, 0, None)) == 1024
    assert sum(s.examples for s in plan_shards(10_001, 3)) == 10_001
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidArgumentError, match="examples"):
            plan_shards(bad, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="shard_size"):
        plan_shards(10, 0, 0)


def test_engine_arguments_are_checked() -> None:
    for bad in (0, -1, 1.5, True, 5000):
        with pytest.raises(InvalidArgumentError, match="workers"):
            Engine(workers=bad)  # type: ignore[arg-type]
    for address in ("localhost:8786", "tcp://", "tcp://host", "tcp://host:0", "tcp://host:99999", "http://h:1", 8786):
        with pytest.raises(InvalidArgumentError, match="scheduler"):
            check_scheduler(address)
    assert check_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    with pytest.raises(InvalidArgumentError, match="workers"):
        Engine(workers=2, scheduler="tcp://127.0.0.1:8786")
    assert Engine().serial and Engine(workers=1).serial and not Engine(workers=2).serial


def test_unreachable_scheduler_is_an_argument_error() -> None:
    with Engine(scheduler="tcp://127.0.0.1:9", connect_timeout=1) as engine:
        with pytest.raises(InvalidArgumentError, match="running Dask scheduler"):
            fuzz_campaign(10, 0, engine=engine)


def test_fuzz_on_two_workers_equals_the_serial_run(cluster: Engine) -> None:
    arrived: list[int] = []
    distributed = fuzz_campaign(20, 11, engine=cluster, on_shard=lambda shard, part: arrived.append(shard.index))
    assert len(cluster._client.scheduler_info()["workers"]) == 2
    serial = fuzz_campaign(20, 11, workers=1)
    assert distributed.as_dict(timing=False) == serial.as_dict(timing=False)
    assert distributed.cases == 20 and distributed.shards == 2 and sorted(arrived) == [0, 1]
    assert distributed.passed and distributed.judged > 0
    # the serial campaign is the shards run one after the other
    with draws_independent_of_imports():
        by_hand = [three_way_fuzz(s.examples, s.seed) for s in plan_shards(20, 11)]
    assert serial.cases == sum(p.cases for p in by_hand) and serial.judged == sum(p.judged for p in by_hand)


def test_a_running_scheduler_given_by_address_runs_the_shards(cluster: Engine) -> None:
    fuzz_campaign(10, 0, engine=cluster)  # make sure the cluster is up
    address = cluster._client.scheduler.address
    assert address.startswith("tcp://")
    remote = fuzz_campaign(20, 2, scheduler=address)
    assert remote.as_dict(timing=False) == fuzz_campaign(20, 2).as_dict(timing=False)


def test_check_on_two_workers_equals_the_serial_run(cluster: Engine) -> None:
    distributed = check_target("torch.AdamW", examples=12, seed=3, shard_size=6, engine=cluster)
    serial = check_target("torch.AdamW", examples=12, seed=3, shard_size=6)
    assert _report(distributed) == _report(serial)
    assert distributed.passed and distributed.cases_run == 12 and distributed.shards == 2


def test_failing_target_is_shrunk_in_a_worker_and_reported_like_a_serial_one(cluster: Engine) -> None:
    # at most 8 elements: the shrinker reaches one element within its budget (a 128-element case can be a
    # local minimum), so both runs end on the same small counterexample. The budget is counted in runs
    # (shrink_runs), not seconds: on a loaded machine (load 8+) the 60 s default ended the shrink early, on
    # a larger case in one run than in the other
    distributed = check_target(FAILING_TARGET, expect="torch.AdamW", examples=40, seed=1, engine=cluster, max_size=8,
                               shrink_runs=150, shrink_seconds=MAX_SECONDS)
    serial = check_target(FAILING_TARGET, expect="torch.AdamW", examples=40, seed=1, max_size=8, shrink_runs=150,
                          shrink_seconds=MAX_SECONDS)
    assert _report(distributed) == _report(serial)
    assert not distributed.passed and distributed.findings and distributed.shrink_runs > 0
    example = distributed.counterexample
    assert example is not None
    assert example.case.run.size == 1 and example.case.run.steps == 1  # shrunk to one element, one step
    assert "reproduce with:" in distributed.describe()
    # the reproduction found through a worker is a program that replays the failure
    replay = subprocess.run([sys.executable, "-c", example.reproduction], capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert "FAIL" in replay.stdout and "outside" in replay.stdout
    # an Implementation object travels to the workers too
    eps = check_target(mutation("eps_dropped"), expect="torch.AdamW", examples=10, seed=1, shard_size=5, engine=cluster)
    assert not eps.passed and _report(eps) == _report(
        check_target(mutation("eps_dropped"), expect="torch.AdamW", examples=10, seed=1, shard_size=5))


def test_an_error_in_a_worker_is_reported(cluster: Engine) -> None:
    broken_strategy = functools.partial(int, "not a strategy")  # raises ValueError where the shard runs
    with pytest.raises(ShardError, match=r"shard 1/2 .* raised on a worker: ValueError"):
        fuzz_campaign(20, 0, engine=cluster, strategy_factory=broken_strategy)
    with pytest.raises(ShardError, match=r"shard 1/2 .* raised: ValueError"):
        fuzz_campaign(20, 0, strategy_factory=broken_strategy)


def test_stop_keeps_the_shards_a_serial_run_would_have_run(cluster: Engine) -> None:
    items = [Shard(i, 6, i, 1) for i in range(6)]
    stop = functools.partial(_at_least, 3)
    assert cluster.run(_index, items, stop=stop) == [0, 1, 2, 3]
    with Engine() as serial:
        assert serial.run(_index, items, stop=stop) == [0, 1, 2, 3]


def test_on_every_worker_runs_once_per_worker_process(cluster: Engine) -> None:
    pids: set[int] = set()
    assert cluster.on_every_worker(os.getpid) == 2
    pids.update(cluster._client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    with Engine() as serial:
        assert serial.on_every_worker(os.getpid) == 0


def _index(shard: Shard) -> int:
    return shard.index


def _at_least(limit: int, value: int) -> bool:
    return value >= limit


@pytest.mark.parametrize("argv", [
    ["fuzz", "--workers", "0"], ["fuzz", "--workers", "-1"], ["fuzz", "--scheduler", "localhost"],
    ["fuzz", "--scheduler", "tcp://host:70000"], ["check", "torch.AdamW", "--workers", "0"],
    ["check", "torch.AdamW", "--scheduler", "nowhere"],
])
def test_bad_engine_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert ("--workers" in err) or ("--scheduler" in err)


def test_workers_and_scheduler_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["fuzz", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "adamw_oracle", *args]


def test_fuzz_command_prints_the_same_report_for_one_and_two_workers() -> None:
    outputs = []
    for workers in ("1", "2"):
        done = subprocess.run(_cli("fuzz", "--examples", "12", "--seed", "4", "--workers", workers),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append([line.rsplit(",", 1)[0] if line.startswith("three-way fuzz:") else line
                        for line in done.stdout.splitlines()])  # drop the seconds
    assert outputs[0] == outputs[1] and outputs[0][0].startswith("three-way fuzz: 12 cases")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interruption_closes_the_cluster(signum: int) -> None:
    process = subprocess.Popen(_cli("fuzz", "--examples", "1000000", "--no-symbolic", "--workers", "2"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 120
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline and process.poll() is None:
        workers = [p for p in parent.children(recursive=True) if "spawn_main" in " ".join(_cmdline(p))]
        if len(workers) >= 2:  # the worker processes of both nannies are up
            break
        time.sleep(0.2)
    assert len(workers) >= 2, f"no worker processes started ({process.poll()})"
    time.sleep(1.0)  # let shards start on them
    descendants = parent.children(recursive=True)
    os.kill(process.pid, signum)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert not alive, f"left behind: {[(p.pid, _cmdline(p)) for p in alive]}"


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


# -- check --loops: the same shards, the same merged report ---------------------------------------------

def _loop_report(report: Any) -> str:
    return json.dumps(report.as_dict(), sort_keys=True)


def test_check_loops_on_two_workers_equals_the_serial_run(cluster: Engine) -> None:
    from adamw_oracle.check.loops import check_loops
    from adamw_oracle.verify.loop_impl import NumpyLoopImplementation

    distributed = check_loops(NumpyLoopImplementation(), expect="torch.AdamW", examples=12, seed=3, shard_size=6,
                              engine=cluster)
    serial = check_loops(NumpyLoopImplementation(), expect="torch.AdamW", examples=12, seed=3, shard_size=6)
    assert _loop_report(distributed) == _loop_report(serial)
    assert distributed.passed and distributed.loops == 12 and distributed.shards == 2
    assert distributed.counts["within"] > 0


def test_a_failing_loop_shard_is_shrunk_in_a_worker_and_reported_like_a_serial_one(cluster: Engine) -> None:
    from adamw_oracle.check.loops import check_loops
    from adamw_oracle.contract.loop import Loop, LoopCase
    from adamw_oracle.verify.loop_judge import judge_loop
    from adamw_oracle.verify.loop_mutations import ScheduleIgnoredAfterFirstStep

    # seed 1: the first shard of 2 loops passes, the second fails and is shrunk (10 loops at most)
    kwargs: dict[str, Any] = dict(expect="torch.AdamW", examples=6, seed=1, shard_size=2, shrink_runs=10)
    distributed = check_loops(ScheduleIgnoredAfterFirstStep(), engine=cluster, **kwargs)
    serial = check_loops(ScheduleIgnoredAfterFirstStep(), **kwargs)
    assert _loop_report(distributed) == _loop_report(serial)
    assert not distributed.passed and distributed.failure is not None and distributed.shrink_loops > 0
    assert distributed.loops - distributed.shrink_loops > 2 and distributed.counts["within"] > 0  # not the first shard
    assert distributed.counterexample is not None
    # the minimal loop found through a worker fails again here
    case = LoopCase(Loop.from_dict(distributed.counterexample), distributed.dtype)
    assert not judge_loop(case, ScheduleIgnoredAfterFirstStep().run_loop(case), None).passed
