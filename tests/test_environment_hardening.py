"""Environment hardening (issue 14): no compiler / no kernel sources is a skip of the GPU host build,
an untrusted host-build cache is never loaded from, thread-bound targets run in the calling thread,
and the symbolic compiler never evaluates strings."""
from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
import sympy as sp

from adamw_oracle.check import check_target
from adamw_oracle.cli import main
from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu import hostbuild, sources
from adamw_oracle.symbolic.compile import CompiledExpressions
from adamw_oracle.verify import NumpyImplementation
from adamw_oracle.verify.fuzz import three_way_fuzz


def test_fuzz_without_a_compiler_skips_the_host_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CXX", "/nonexistent/bin/g++")
    monkeypatch.setenv("ADAMW_ORACLE_CACHE_DIR", str(tmp_path))
    summary = three_way_fuzz(3, 0, symbolic=False)
    assert summary.passed and summary.failures == 0, summary.describe()
    assert summary.skipped["gpu-host-build"] == "no compiler (CXX=/nonexistent/bin/g++)"
    assert main(["fuzz", "--examples", "3", "--no-symbolic"]) == 0
    out = capsys.readouterr().out
    assert "1 layer skipped" in out and "skipped gpu-host-build: no compiler (CXX=/nonexistent/bin/g++)" in out, out


def test_fuzz_without_kernel_sources_skips_the_host_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sources, "KERNEL_DIR", tmp_path / "no-kernels")  # as if the sources were not installed
    monkeypatch.setenv("ADAMW_ORACLE_CACHE_DIR", str(tmp_path / "cache"))
    summary = three_way_fuzz(3, 0, symbolic=False)
    assert summary.passed, summary.describe()
    assert summary.skipped["gpu-host-build"].startswith("no kernel sources (")


def _planted(root: Path) -> Path:
    """A file named like the cached library at the exact place the cache would load it from."""
    directory = root / "host-build" / hostbuild.cache_key(hostbuild.compiler())
    directory.mkdir(parents=True)
    planted = directory / hostbuild.LIBRARY_NAME
    planted.write_bytes(b"not a library: whoever could write here chose its contents")
    return planted


@pytest.mark.parametrize("loosen", ["key directory group-writable", "cache root other-writable", "library group-writable"])
def test_untrusted_cache_is_not_loaded_but_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loosen: str) -> None:
    if shutil_which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setenv("ADAMW_ORACLE_CACHE_DIR", str(tmp_path))
    hostbuild._library_path.cache_clear()
    planted = _planted(tmp_path)
    for path in (tmp_path / "host-build", planted.parent):
        path.chmod(0o700)
    planted.chmod(0o600)
    target = {"key directory group-writable": planted.parent, "cache root other-writable": tmp_path / "host-build",
              "library group-writable": planted}[loosen]
    target.chmod(target.stat().st_mode | (stat.S_IWGRP if "group" in loosen else stat.S_IWOTH))
    try:
        path = hostbuild.library_path()
        assert path != planted and path.exists()
        hostbuild._declare(__import__("ctypes").CDLL(str(path)))  # a real, complete host build
        assert planted.read_bytes().startswith(b"not a library")  # left alone, never loaded
    finally:
        hostbuild._library_path.cache_clear()


def test_trusted_cache_is_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if shutil_which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setenv("ADAMW_ORACLE_CACHE_DIR", str(tmp_path))
    hostbuild._library_path.cache_clear()
    try:
        first = hostbuild.library_path()
        assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700
        hostbuild._library_path.cache_clear()
        assert hostbuild.library_path() == first
    finally:
        hostbuild._library_path.cache_clear()


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


class _SqliteBound:
    """A correct AdamW (numpy) that reads its inputs through a SQLite connection, which may only be used
    in the thread that created it (as tinygrad's kernel cache is)."""

    thread_bound = True

    def __init__(self) -> None:
        self.connection = sqlite3.connect(":memory:")
        self.inner = NumpyImplementation()
        self.name = "sqlite-bound numpy AdamW"

    def run(self, case: Case) -> Observation:
        self.connection.execute("SELECT 1").fetchone()
        return self.inner.run(case)


def test_thread_bound_target_runs_in_the_calling_thread() -> None:
    report = check_target(_SqliteBound(), expect="torch.AdamW", dtype="float64", examples=4, seed=0, max_steps=2,
                          case_timeout=60.0)
    assert report.finding_counts["exception"] == 0, report.describe()
    assert report.passed, report.describe()


def test_symbolic_compiler_never_evaluates_strings(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    a = sp.Symbol("a")
    with pytest.raises(InvalidArgumentError, match="sympy expression"):
        CompiledExpressions({"x": f"__import__('pathlib').Path({str(marker)!r}).touch() or a"}, [a])  # type: ignore[dict-item]
    assert not marker.exists()
    with pytest.raises(InvalidArgumentError):
        CompiledExpressions({"x": 1}, [a])  # type: ignore[dict-item]
    assert CompiledExpressions({"x": a + 1}, [a]).names == ("x",)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
