"""``adamw-oracle traces`` and ``adamw-oracle trace`` from the command line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adamw_oracle.cli import main
from adamw_oracle.traces import default_traces_dir


def test_traces_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces"]) == 0
    assert "matches" in capsys.readouterr().out


def test_traces_reports_a_hand_edit_and_does_not_write_without_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "traces"
    shutil.copytree(default_traces_dir(), copy)
    path = copy / "08_sgd_family.md"
    edited = path.read_text().replace("| 1 |", "| 9 |", 1)
    path.write_text(edited)
    assert main(["traces", "--dir", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "08_sgd_family.md line" in out and "| 9 |" in out
    assert path.read_text() == edited
    assert main(["traces", "--dir", str(copy), "--write"]) == 0
    assert "08_sgd_family.md" in capsys.readouterr().out
    assert main(["traces", "--dir", str(copy)]) == 0


def test_trace_prints_the_seed_anchor_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["trace", "--preset", "torch.AdamW", "--lr", "0.001", "--weight-decay", "0.01", "--params", "0.8",
            "--grads=-0.3", "--steps", "5", "--digits", "12"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    row5 = [line for line in out.splitlines() if line.startswith("| 5 |")]
    assert len(row5) == 1 and row5[0].rstrip(" |").endswith("0.804959900634")


def test_trace_json_with_explicit_conventions_and_state(capsys: pytest.CaptureFixture[str]) -> None:
    # seed 000's L2 mechanism probe: state.step=1000, v=1e-4, zero gradient -> factor 0.924126481...
    argv = ["trace", "--conventions", "family=adam,weight_decay=coupled_l2", "--lr", "0.1", "--weight-decay", "0.1",
            "--params", "1", "--grads", "0", "--state-step", "1000", "--m", "0", "--v", "0.0001", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    step = doc["runs"][0]["steps"][0]
    assert step["t"] == 1001
    assert step["elements"][0]["p_new"]["decimal"].startswith("9.2412648146")


@pytest.mark.parametrize(
    ("extra", "argument"),
    [
        (["--lr", "-1"], "lr='-1'"),
        (["--preset", "torch.Adamm"], "preset='torch.Adamm'"),
        (["--steps", "0"], "--steps=0"),
        (["--beta1", "1"], "beta1='1'"),
        (["--eps", "nan"], "eps='nan'"),
        (["--digits", "0"], "--digits=0"),
        (["--conventions", "family=adamax"], "family='adamax'"),
    ],
)
def test_bad_input_is_one_line_naming_the_argument_with_exit_2(extra: list[str], argument: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--params", "0.8", "--grads=-0.3", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and argument in err and "expected" in err


def test_console_script_exit_status_and_no_traceback() -> None:
    result = subprocess.run([sys.executable, "-m", "adamw_oracle", "trace", "--params", "abc", "--grads", "0.1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--params='abc'" in result.stderr
