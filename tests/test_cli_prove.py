"""``adamw-oracle prove``: lines per theorem, exit status, document writing and the CI docs check."""
from __future__ import annotations

import subprocess
import sys

import pytest
import sympy as sp

import adamw_oracle.symbolic.catalog as catalog
from adamw_oracle.cli import main
from adamw_oracle.symbolic import THEOREMS, Claim, Derivation, Theorem
from adamw_oracle.symbolic.render import default_docs_dir


def test_prove_lists_every_theorem_as_held(capsys) -> None:
    assert main(["prove"]) == 0
    out = capsys.readouterr().out.splitlines()
    theorem_lines = [line for line in out if line.startswith("T")]
    assert len(theorem_lines) == len(THEOREMS) == 12
    for theorem, line in zip(THEOREMS, theorem_lines):
        assert line.startswith(theorem.name + ": " + theorem.statement) and line.endswith("-- held")
    assert out[-1] == "12/12 theorems held"


def test_a_failing_theorem_exits_1_with_its_residual(monkeypatch, capsys) -> None:
    x = sp.Symbol("x", real=True)
    false = Theorem("F1 false", "(x + 1)^2 = x^2 + 1", ("x real",),
                    lambda: Derivation((), (Claim("zero", (x + 1) ** 2 - (x**2 + 1), "binomial"),)))
    monkeypatch.setattr(catalog, "THEOREMS", catalog.THEOREMS[:1] + (false,))
    assert main(["prove"]) == 1
    out = capsys.readouterr().out
    assert "F1 false: (x + 1)^2 = x^2 + 1 -- FAILED (residual: 2*x)" in out
    assert "1/2 theorems held" in out


@pytest.mark.parametrize("fmt, name, marker", [("markdown", "proofs.md", "# Proofs"), ("latex", "proofs.tex", r"\documentclass")])
def test_format_writes_the_document(tmp_path, capsys, fmt: str, name: str, marker: str) -> None:
    target = tmp_path / name
    assert main(["prove", "--format", fmt, "--output", str(target)]) == 0
    assert target.read_text().startswith(marker)
    assert f"wrote {target}" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp"))


def test_output_dash_prints_the_document_and_reports_on_stderr(capsys) -> None:
    assert main(["prove", "--format", "markdown", "--output", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (default_docs_dir() / "proofs.md").read_text()
    assert "12/12 theorems held" in captured.err


def test_check_docs_passes_on_the_committed_documents(capsys) -> None:
    assert main(["prove", "--check-docs"]) == 0
    assert "documents are current" in capsys.readouterr().out


def test_check_docs_fails_on_stale_or_missing_documents(tmp_path, capsys) -> None:
    (tmp_path / "proofs.md").write_text("old\n")
    assert main(["prove", "--check-docs", "--docs-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"stale: {tmp_path / 'proofs.md'}" in out and f"stale: {tmp_path / 'proofs.tex'}" in out


def test_output_without_a_document_format_is_a_usage_error(capsys) -> None:
    assert main(["prove", "--output", "x.md"]) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "x.md" in err and err.count("\n") == 1


def test_unknown_format_is_rejected_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["prove", "--format", "pdf"])
    assert info.value.code == 2


def test_console_script_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "adamw_oracle", "prove"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("12/12 theorems held")
