"""The false-alarm campaign (benchmarks/false_alarms.py): its plan, resumption and summary on a few real
cases in the default suite, and the whole campaign (10,000 cases per dtype) under ``-m thorough``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.verify.numpy_impl import CORRECT_VARIANTS
from benchmarks import false_alarms as fa


def test_the_split_is_10000_cases_per_dtype_over_every_target():
    assert fa.NUMPY_VARIANTS == len(CORRECT_VARIANTS)
    assert sum(w for _, _, w in fa.SPLIT) == 10_000
    assert fa.shares(10_000) == [w for _, _, w in fa.SPLIT]
    assert sum(fa.shares(200)) == 200 and min(fa.shares(200)) >= 1
    targets = {t for t, kind, _ in fa.SPLIT if kind == "check"}
    assert {"torch.Adam[fused]", "torch.SGD[forloop]", "optax.adamw", "keras.Adam", "optax.sgd", "keras.SGD",
            "numpy:7", "gpu-host-build[kahan]"} <= targets
    assert {t for t, kind, _ in fa.SPLIT if kind == "loops"} == set(fa.TORCH) | {"optax.adam", "optax.adamw",
                                                                                 "keras.Adam", "keras.AdamW"}


def test_the_kahan_targets_are_checked_without_tensor_sized_cases():
    kahan = [i for i, v in enumerate(CORRECT_VARIANTS) if v.kahan]
    assert [getattr(fa.resolve(f"numpy:{i}"), "tensor_cases", True) for i in range(len(CORRECT_VARIANTS))] == \
        [i not in kahan for i in range(len(CORRECT_VARIANTS))]
    assert [getattr(fa.resolve(name), "tensor_cases", True) for name in fa.HOST_BUILDS] == [True, True, True, False]


def test_the_plan_depends_only_on_its_arguments_and_covers_every_case():
    items = fa.plan(200, seed=7, shard_size=20)
    assert items == fa.plan(200, seed=7, shard_size=20)
    assert fa.plan(200, seed=8, shard_size=20)[0].seed != items[0].seed
    for dtype in fa.DTYPES:
        assert sum(i.examples for i in items if i.dtype == dtype) == 200
    assert len({i.key for i in items}) == len(items)
    first_round = [i for i in items if i.index == 0]
    assert items[:len(first_round)] == first_round  # round by round: a partial run covers every target


# numpy (order lerp/kahan) and the host build: pure in-process targets, a few seconds
_SMALL = (("numpy:0", "check", 3), ("gpu-host-build", "check", 3))


def test_the_campaign_resumes_from_its_results_file(tmp_path: Path):
    out = tmp_path / "campaign"
    lines: list[str] = []
    first = fa.run_campaign(out, cases_per_dtype=6, seed=3, shard_size=3, dtypes=("float32",), split=_SMALL,
                            limit=1, progress=lines.append)
    assert first["shards_done"] == 1 and first["shards_planned"] == 2
    data = json.loads(out.with_suffix(".json").read_text())
    done = dict(data["items"])
    assert len(done) == 1 and not list(tmp_path.glob(".*.tmp"))
    summary = fa.run_campaign(out, cases_per_dtype=6, seed=3, shard_size=3, dtypes=("float32",), split=_SMALL,
                              progress=lines.append)
    assert summary["shards_done"] == 2 and summary["findings"] == []
    data = json.loads(out.with_suffix(".json").read_text())
    key = next(iter(done))
    assert data["items"][key] == done[key]  # the finished shard was not run again
    assert "1 of 2 shards already done" in lines[-2] or any("1 of 2 shards already done" in x for x in lines)
    per_dtype = summary["per_dtype"]["float32"]
    assert per_dtype["cases"] == 6 and per_dtype["within"] > 0
    markdown = out.with_suffix(".md").read_text()
    assert "| float32 | 6 (6) |" in markdown and "Findings to investigate" in markdown
    stopped = tmp_path / "stopped"
    with pytest.raises(fa.StopRequested, match="after 1 of 2 shards"):
        fa.run_campaign(stopped, cases_per_dtype=6, seed=3, shard_size=3, dtypes=("float32",), split=_SMALL,
                        stop=lambda: True)
    assert len(json.loads(stopped.with_suffix(".json").read_text())["items"]) == 1
    with pytest.raises(InvalidArgumentError, match="results file of this plan"):
        fa.run_campaign(out, cases_per_dtype=6, seed=4, shard_size=3, dtypes=("float32",), split=_SMALL)


def test_a_shard_is_deterministic_and_a_broken_target_is_a_finding(tmp_path: Path):
    item = fa.plan(6, seed=5, shard_size=3, dtypes=("float64",), split=_SMALL)[0]
    first, again = fa.run_item(item), fa.run_item(item)
    first.pop("seconds"), again.pop("seconds")
    assert first == again and first["cases"] == 3 and not first["findings"]
    broken = (("mutation:BiasCorrectionDropped", "check", 10),)
    summary = fa.run_campaign(tmp_path / "broken", cases_per_dtype=10, seed=1, shard_size=10, dtypes=("float32",),
                              split=broken)
    assert [f["target"] for f in summary["findings"]] == ["bias_correction_off"]
    assert summary["findings"][0]["counterexample"] is not None
    markdown = (tmp_path / "broken.md").read_text()
    assert "float32/mutation:BiasCorrectionDropped/check/0" in markdown
    assert fa.main(["--out", str(tmp_path / "broken"), "--cases-per-dtype", "10", "--seed", "2",
                    "--dtypes", "float32"]) == 2  # another plan than the file's: refused (exit 2)


@pytest.mark.thorough
def test_thorough_false_alarm_campaign(tmp_path: Path, campaign_engine):
    """The whole campaign (hours on 2 cores; spread it with ``--campaign-workers N``): every finding is a
    declared known finding."""
    summary = fa.run_campaign(tmp_path / "false_alarms", engine=campaign_engine)
    assert summary["shards_done"] == summary["shards_planned"]
    assert summary["findings"] == []
