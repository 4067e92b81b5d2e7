"""Process hygiene of subprocess targets (issue 14): every process a target starts is ended with its
case (also children that leave the session or close their stdio), on SIGINT / SIGTERM of a real
``adamw-oracle check --cmd`` process too; output is capped, not buffered whole; a held-open stdout is
reported as what it is; a malformed ``--cmd`` is a usage error."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from adamw_oracle import Dtype, Run, constant_gradients, preset
from adamw_oracle.adapters import Case, SubprocessImplementation
from adamw_oracle.check import check_target, evaluate
from adamw_oracle.cli import main
from adamw_oracle.errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "subprocess_adamw.py"

# starts (1) a child in a new session with its stdio closed and (2) a grandchild in a new session whose
# parent exits at once (re-parented to init), records their pids, then answers through the example
SPAWNER = """
import os, subprocess, sys, time
D = subprocess.DEVNULL
daemon = subprocess.Popen(['sleep', '300'], start_new_session=True, stdin=D, stdout=D, stderr=D)
mid = subprocess.Popen([sys.executable, '-c',
    "import subprocess, sys; D = subprocess.DEVNULL; "
    "g = subprocess.Popen(['sleep', '301'], start_new_session=True, stdin=D, stdout=D, stderr=D); "
    "print(g.pid)"], stdout=subprocess.PIPE, stdin=D, text=True)
grandchild = int(mid.communicate()[0])
with open(sys.argv[1], 'a') as f:
    f.write(f'{os.getpid()} {daemon.pid} {grandchild}\\n')
MODE
"""
ANSWER = f"data = sys.stdin.read()\nsys.stdout.write(subprocess.run([sys.executable, {str(EXAMPLE)!r}], input=data, " \
         "capture_output=True, text=True, check=True).stdout)\n"


def _case() -> Case:
    return Case(Run(preset("torch.AdamW", lr=0.01, weight_decay=0.1), (0.5, -1.0), constant_gradients([0.25, -0.5], 3)),
                Dtype.FLOAT32)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _recorded(pids: Path) -> list[int]:
    return [int(x) for line in pids.read_text().splitlines() for x in line.split()]


def _all_gone(pids: list[int], wait: float = 10.0) -> bool:
    deadline = time.monotonic() + wait
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


def _kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_children_that_leave_the_session_are_ended_after_a_pass(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    prog = _script(tmp_path, "spawner.py", SPAWNER.replace("MODE", ANSWER))
    report = check_target(SubprocessImplementation([sys.executable, str(prog), str(pids)]), expect="torch.AdamW",
                          examples=6, seed=0, max_steps=2)
    recorded = _recorded(pids)
    try:
        assert report.passed, report.describe()
        assert len(recorded) >= 6  # two cases at least, three processes each
        assert _all_gone(recorded), [p for p in recorded if _alive(p)]
    finally:
        _kill_leftovers(recorded)


def test_timeout_ends_the_whole_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    prog = _script(tmp_path, "spawner.py", SPAWNER.replace("MODE", "time.sleep(300)"))
    result = evaluate(SubprocessImplementation([sys.executable, str(prog), str(pids)], timeout=3.0), _case())
    recorded = _recorded(pids)
    try:
        assert [f.kind for f in result.findings] == ["timeout"]
        assert _all_gone(recorded), [p for p in recorded if _alive(p)]
    finally:
        _kill_leftovers(recorded)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_to_the_checker_ends_the_target_tree(tmp_path: Path, signum: int, status: int) -> None:
    pids = tmp_path / "pids"
    prog = _script(tmp_path, "spawner.py", SPAWNER.replace("MODE", "time.sleep(300)"))
    cmd = f"{sys.executable} {prog} {pids}"
    checker = subprocess.Popen([*_console_script(), "check", "--cmd", cmd, "--expect", "torch.AdamW",
                                "--case-timeout", "300", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recorded: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text().endswith("\n")) and time.monotonic() < deadline:
            assert checker.poll() is None, checker.communicate()
            time.sleep(0.05)
        recorded = _recorded(pids)
        checker.send_signal(signum)
        _, err = checker.communicate(timeout=60)
        assert checker.returncode == status, err
        assert "Traceback" not in err
        assert _all_gone(recorded), [p for p in recorded if _alive(p)]
    finally:
        if checker.poll() is None:
            checker.kill()
        _kill_leftovers(recorded)


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "adamw-oracle"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from adamw_oracle.cli import main; sys.exit(main())"]


def _peak_rss(argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` and sample its resident set size (psutil) until it exits; the largest sample."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.005)
    return peak, proc.communicate()[0]


HARNESS = """
import sys
from adamw_oracle import Dtype, Run, constant_gradients, preset
from adamw_oracle.adapters import Case, SubprocessImplementation
from adamw_oracle.check import evaluate
case = Case(Run(preset("torch.AdamW", lr=0.01, weight_decay=0.1), (0.5, -1.0), constant_gradients([0.25, -0.5], 3)), Dtype.FLOAT32)
result = evaluate(SubprocessImplementation([sys.executable, sys.argv[1]], timeout=120), case)
print([f.describe() for f in result.findings])
"""


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_flood_of_output_is_a_finding_and_is_not_buffered(tmp_path: Path, stream: str) -> None:
    harness = _script(tmp_path, "harness.py", HARNESS)
    good = _script(tmp_path, "good.py", f"import runpy; runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')\n")
    flood = _script(tmp_path, "flood.py", f"import sys\nchunk = b'x' * 2**20\nfor _ in range(50):\n"
                    f"    sys.{stream}.buffer.write(chunk)\n")
    baseline, out_good = _peak_rss([sys.executable, str(harness), str(good)])
    flooded, out_flood = _peak_rss([sys.executable, str(harness), str(flood)])
    assert out_good.strip() == "[]"
    assert "output too large" in out_flood and stream in out_flood, out_flood
    # 50 MiB went through the pipe; what the checker keeps of it stays far below that
    assert flooded - baseline < 20 * 2**20, (baseline, flooded)


def test_stdout_held_open_after_an_answer_is_reported_as_such(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    prog = _script(tmp_path, "holder.py", "import os, subprocess, sys\n" + ANSWER + (
        "sys.stdout.flush()\n"
        "holder = subprocess.Popen(['sleep', '300'], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"open({str(pids)!r}, 'w').write(str(holder.pid))\n"))
    start = time.monotonic()
    result = evaluate(SubprocessImplementation([sys.executable, str(prog)], timeout=60.0), _case())
    recorded = _recorded(pids)
    try:
        assert time.monotonic() - start < 30  # well before the 60 s timeout
        assert [f.kind for f in result.findings] == ["bad_output"], result.findings
        assert "stdout held open" in result.findings[0].message and "sleep" in result.findings[0].message
        assert _all_gone(recorded)
    finally:
        _kill_leftovers(recorded)


def test_stderr_held_open_after_an_answer_does_not_wait_for_the_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    prog = _script(tmp_path, "holder.py", "import os, subprocess, sys\n" + ANSWER + (
        "sys.stdout.flush()\n"
        "holder = subprocess.Popen(['sleep', '300'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)\n"
        f"open({str(pids)!r}, 'w').write(str(holder.pid))\n"))
    start = time.monotonic()
    result = evaluate(SubprocessImplementation([sys.executable, str(prog)], timeout=60.0), _case())
    recorded = _recorded(pids)
    try:
        assert time.monotonic() - start < 30
        assert result.findings == () and result.judgement is not None, result.findings
        assert _all_gone(recorded)
    finally:
        _kill_leftovers(recorded)


def test_unbalanced_quote_in_cmd_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--cmd", "python 'x"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--cmd" in err and "quotation" in err, err
    with pytest.raises(InvalidArgumentError, match="command"):
        SubprocessImplementation("python 'x")
