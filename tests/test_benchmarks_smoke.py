"""A tiny run of every benchmark code path (no timing assertions: sizes here say nothing about speed)."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from benchmarks.naive_steps import naive_arb, naive_mpmath, task
from benchmarks.run import BENCHMARKS, main, results_markdown


def test_naive_baselines_compute_the_reference_result() -> None:
    """The baselines must do the real work: their p after step 3 agrees with the certified reference."""
    pytest.importorskip("flint")
    from adamw_oracle import Run, preset
    from adamw_oracle.reference import certify_run, mpf_to_fraction
    from adamw_oracle.reference.arb_backend import ball_ends

    params, grads = task(2, 3)
    for mode, name in (("Adam+L2", "torch.Adam"), ("AdamW", "torch.AdamW")):
        run = Run(preset(name, lr="0.001", weight_decay="0.01"), tuple(params), tuple(tuple(r) for r in grads))
        certified = certify_run(run, 40, quantities=["p_new"]).final()
        for value, arb_ball, mpf in zip(certified, naive_arb(mode, params, grads, 50)[-1], naive_mpmath(mode, params, grads, 50)[-1]):
            assert abs(value.midpoint - mpf_to_fraction(mpf)) < abs(value.midpoint) * Fraction(1, 10**45)
            low, high = ball_ends(arb_ball)  # the naive arb ball encloses the exact value too
            assert low <= value.upper and value.lower <= high


def test_tiny_run_writes_json_and_markdown_with_the_machine(tmp_path: Path) -> None:
    assert main(["--size", "tiny", "--out", str(tmp_path), "--only", ",".join(map(str, sorted(BENCHMARKS)))]) == 0
    document = json.loads((tmp_path / "results.json").read_text())
    numbers = [r["number"] for r in document["results"]]
    assert sorted(set(numbers)) == sorted(BENCHMARKS) and numbers == sorted(numbers)
    assert numbers.count(9) == 2  # benchmark 9: the default space (the headline) and the small-case subset
    assert document["machine"]["logical_cpus"] and document["machine"]["cpu"]
    for result in document["results"]:
        assert result["target_met"] is None  # a smoke run never claims a target
    text = (tmp_path / "results.md").read_text()
    assert text.startswith("# Benchmark results") and "## Machine" in text and "| 6 |" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]
    assert results_markdown(document) == text


def test_bad_only_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--only='99'"):
        main(["--size", "tiny", "--out", str(tmp_path), "--only", "99"])


def test_only_replaces_its_rows_and_keeps_the_others(tmp_path: Path) -> None:
    from benchmarks.run import merged_into_previous

    def row(number: int, gap: str) -> dict:
        return {"number": number, "name": f"b{number}", "gap": gap}

    previous = {"size": "full", "results": [row(1, "old"), row(2, "old"), row(3, "old")]}
    (tmp_path / "results.json").write_text(json.dumps(previous))
    new = {"size": "full", "seconds": 1.0, "results": [row(2, "new")]}
    merged = merged_into_previous(new, tmp_path / "results.json")
    assert [(r["number"], r["gap"]) for r in merged["results"]] == [(1, "old"), (2, "new"), (3, "old")]
    # a number with two rows: the new run's rows replace both old ones, in their order
    (tmp_path / "results.json").write_text(json.dumps({"size": "full", "results": [row(1, "old"), row(9, "old a"),
                                                                                 row(9, "old b")]}))
    twice = {"size": "full", "seconds": 1.0, "results": [row(9, "new a"), row(9, "new b")]}
    assert [(r["number"], r["gap"]) for r in merged_into_previous(twice, tmp_path / "results.json")["results"]] == [
        (1, "old"), (9, "new a"), (9, "new b")]
    (tmp_path / "results.json").write_text(json.dumps(previous))
    # a smoke run never mixes with full-size rows, and a missing or broken file keeps the new rows alone
    assert merged_into_previous({**new, "size": "tiny"}, tmp_path / "results.json")["results"] == new["results"]
    (tmp_path / "results.json").write_text("{not json")
    assert merged_into_previous(new, tmp_path / "results.json") == new
