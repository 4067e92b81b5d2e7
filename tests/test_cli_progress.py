"""Progress of ``check`` and ``fuzz`` (issue 14): a bar with rate and ETA on a terminal, a few summary
lines on a pipe, nothing with --quiet or --json."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from adamw_oracle.cli import main
from adamw_oracle.cli.progress import ProgressReporter, choose_mode

CHECK = ["check", "adamw_oracle.verify:NumpyImplementation", "--expect", "torch.AdamW", "--dtype", "float64",
         "--max-steps", "2"]
FUZZ = ["fuzz", "--no-symbolic"]


def test_piped_check_prints_a_few_summary_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CHECK, "--examples", "16"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert 2 <= len(lines) <= 5, lines  # not one line per case
    assert all(line.startswith("check: ") and "cases/s" in line for line in lines), lines
    assert "ETA" in lines[0] and lines[-1].startswith("check: 16/16 cases (100%)")
    assert "passed" in captured.out.lower() or "PASS" in captured.out


def test_piped_fuzz_prints_a_few_summary_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FUZZ, "--examples", "12"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert 2 <= len(lines) <= 5 and all(line.startswith("fuzz: ") for line in lines), lines
    assert "ETA" in lines[0] and lines[-1].startswith("fuzz: 12/12 cases (100%)")


@pytest.mark.parametrize("argv", [[*CHECK, "--examples", "4", "--quiet"], [*CHECK, "--examples", "4", "--json"],
                                  [*FUZZ, "--examples", "4", "--quiet"]])
def test_quiet_and_json_print_no_progress(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run the console script with stderr on a pseudo-terminal; its exit status and what the terminal got."""
    script = Path(sys.executable).parent / "adamw-oracle"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "import sys; from adamw_oracle.cli import main; sys.exit(main())"]
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen([*command, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    received = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            received += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), received.decode("utf-8", "replace")


@pytest.mark.parametrize("argv, total", [([*CHECK, "--examples", "12"], 12), ([*FUZZ, "--examples", "12"], 12)])
def test_terminal_gets_a_bar_with_rate_and_eta(argv: list[str], total: int) -> None:
    status, screen = _on_a_terminal(argv)
    assert status == 0, screen
    assert f"{total}/{total}" in screen and "cases/s" in screen and "ETA" in screen, screen
    assert "\r" in screen or "\x1b[" in screen  # redrawn in place, not a line per case
    assert "[1/" not in screen


def test_modes() -> None:
    assert choose_mode(quiet=True) == "off" and choose_mode(json=True) == "off"

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert choose_mode(stream=Pipe()) == "lines"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ProgressReporter("x", 1, mode="fancy")
