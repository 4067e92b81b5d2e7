"""Issue 14, "Output and files": strict JSON, unwritable outputs, the shared atomic writer, and a
``traces/`` folder left in a bad state (a directory for a file, extra files, a killed ``--write``)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import adamw_oracle.atomic as atomic
import adamw_oracle.symbolic.catalog as catalog
import adamw_oracle.traces.store as store
from adamw_oracle.cli import main
from adamw_oracle.traces import catalogue
from adamw_oracle.traces.store import JOURNAL_NAME

NAN_TARGET = '''
import numpy as np


def nan_optimizer(params, grads, hyper):
    return np.full((grads.shape[0], params.shape[0]), np.nan, dtype=params.dtype)
'''


def _refuse_constant(token: str) -> None:
    raise ValueError(f"not JSON: {token}")


@pytest.fixture()
def nan_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hb_nan_target.py").write_text(NAN_TARGET)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "hb_nan_target:nan_optimizer"


@pytest.mark.parametrize("command", ["check", "identify"])
def test_json_output_is_strict_when_a_target_returns_nan(command: str, nan_target: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # 5 cases: the first draws of a seed can be empty runs (nothing returned, nothing to be NaN)
    extra = ["--expect", "torch.AdamW", "--examples", "5", "--quiet"] if command == "check" else []
    assert main([command, nan_target, "--dtype", "float64", "--json", *extra]) == 1
    out = capsys.readouterr().out
    document = json.loads(out, parse_constant=_refuse_constant)  # NaN/Infinity tokens would raise here
    assert '"NaN"' in out  # the non-finite values are kept, as the documented strings
    assert document["target"]


@pytest.fixture()
def one_theorem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "THEOREMS", catalog.THEOREMS[:1])  # keep the proofs short


def test_prove_to_an_unwritable_path_is_a_usage_error(one_theorem: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--format", "markdown", "--output", "/proc/x.md"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--output='/proc/x.md'" in err and "writable" in err


def test_prove_keeps_the_documents_mode_and_fsyncs(one_theorem: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "proofs.md"
    target.write_text("old\n")
    target.chmod(0o644)
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(atomic.os, "fsync", recording_fsync)
    assert main(["prove", "--format", "markdown", "--output", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text().startswith("#") and synced  # the file's data reached the disk
    assert [p.name for p in tmp_path.iterdir()] == ["proofs.md"]  # no temporary file left


def test_a_missing_docs_dir_says_no_such_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nowhere")
    assert main(["prove", "--check-docs", "--docs-dir", missing]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--docs-dir={missing!r}" in err and "no such directory" in err


def test_a_missing_traces_dir_says_no_such_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nowhere")
    assert main(["traces", "--dir", missing]) == 2
    assert main(["traces", "--dir", missing, "--write"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(f"--dir={missing!r}" in e and "no such directory" in e for e in errors)
    assert not Path(missing).exists()


@pytest.fixture(scope="module")
def small_golden() -> list[store.GoldenFile]:
    return store.golden_files(catalogue()[:2])  # two traces: four files (the logic is per file)


@pytest.fixture()
def folder(tmp_path: Path, small_golden: list[store.GoldenFile], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(store, "golden_files", lambda: small_golden)
    directory = tmp_path / "traces"
    directory.mkdir()
    for golden in small_golden:
        (directory / golden.name).write_text(golden.text)
    return directory


def test_a_directory_in_place_of_a_trace_is_reported(folder: Path, small_golden: list[store.GoldenFile],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    name = small_golden[1].name
    (folder / name).unlink()
    (folder / name).mkdir()
    assert main(["traces", "--dir", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"{name}: is a directory, not a file" in out
    assert main(["traces", "--dir", str(folder), "--write"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err and "Traceback" not in err


def test_an_extra_file_is_reported(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "notes.txt").write_text("mine\n")
    assert main(["traces", "--dir", str(folder)]) == 1
    assert "notes.txt: extra file" in capsys.readouterr().out
    assert main(["traces", "--dir", str(folder), "--write"]) == 0
    assert "notes.txt is not a golden file (left in place)" in capsys.readouterr().out
    assert (folder / "notes.txt").read_text() == "mine\n"


def test_leftover_temporary_files_are_reported_and_removed(folder: Path, small_golden: list[store.GoldenFile],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    leftover = folder / f".{small_golden[0].name}.k3j9x_a2.tmp"  # what a SIGKILL between write and rename leaves
    leftover.write_text(small_golden[0].text[:100])
    assert main(["traces", "--dir", str(folder)]) == 0
    assert f"removed {leftover.name}" in capsys.readouterr().out
    assert not leftover.exists()


def test_an_interrupted_write_is_reported_with_the_files_it_replaced(
        folder: Path, small_golden: list[store.GoldenFile], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for golden in small_golden:
        (folder / golden.name).write_text("stale\n")
    real_write = store.write_atomically
    calls = [0]

    def killed_after_two_files(path: Path, text: str) -> None:
        calls[0] += 1
        if calls[0] == 4:  # the journal, two trace files, then the process dies
            raise SystemExit("killed")
        real_write(path, text)

    monkeypatch.setattr(store, "write_atomically", killed_after_two_files)
    with pytest.raises(SystemExit):
        main(["traces", "--dir", str(folder), "--write"])
    out = capsys.readouterr().out.splitlines()
    names = [golden.name for golden in small_golden]
    assert out == [f"wrote {folder / names[0]}", f"wrote {folder / names[1]}"]
    assert (folder / JOURNAL_NAME).exists()
    monkeypatch.setattr(store, "write_atomically", real_write)
    assert main(["traces", "--dir", str(folder), "--write"]) == 0
    report = capsys.readouterr().out
    assert (f"of 4 file(s) it was replacing, replaced: {names[0]}, {names[1]}; "
            f"not replaced: {names[2]}, {names[3]}") in report
    assert not (folder / JOURNAL_NAME).exists()
    assert main(["traces", "--dir", str(folder)]) == 0


KILLED_WRITE = '''
import os, signal, sys
import adamw_oracle.atomic as atomic
import adamw_oracle.traces.store as store
from adamw_oracle.cli import main
from adamw_oracle.traces import catalogue

small = store.golden_files(catalogue()[:2])
store.golden_files = lambda: small
real_replace, calls = os.replace, [0]

def replace_then_die(source, destination):
    calls[0] += 1
    if calls[0] == 3:  # journal, first file, then SIGKILL with the second file's temporary written
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, destination)

atomic.os.replace = replace_then_die
main(["traces", "--dir", sys.argv[1], "--write"])
'''


def test_a_sigkilled_write_is_tidied_and_reported_by_the_next_run(
        folder: Path, small_golden: list[store.GoldenFile], capsys: pytest.CaptureFixture[str]) -> None:
    import signal
    import subprocess
    import sys

    for golden in small_golden:
        (folder / golden.name).write_text("stale\n")
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(folder)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    names = [golden.name for golden in small_golden]
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{names[1]}.")
    assert main(["traces", "--dir", str(folder), "--write"]) == 0
    out = capsys.readouterr().out
    assert f"removed {leftovers[0]}" in out
    assert f"replaced: {names[0]}; not replaced: {', '.join(names[1:])}" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
