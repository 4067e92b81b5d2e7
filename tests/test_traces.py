"""Golden traces: byte-identical regeneration, readable first differences, atomic writes, errata.

Independent values: the seed anchor and the lambda sweep follow the closed form derived in
tests/test_reference.py (m^ = -0.3 and v^ = 0.09 exactly for a constant gradient, so
w_t = w_{t-1}(1 - lr*wd) + 0.0003/0.30000001); the mechanism factors are recomputed with mpmath.
"""
from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest

from adamw_oracle import PRESETS, atomic
from adamw_oracle.reference.digits import fixed, significant
from adamw_oracle.traces import catalogue, compare_all, default_traces_dir, golden_files, write_all
from adamw_oracle.traces.errata import errata_document
from adamw_oracle.traces.generate import certify_trace
from adamw_oracle.traces.seed_numbers import printed_numbers

COMMITTED = default_traces_dir()


def sweep_closed_form(wd: str) -> Fraction:
    w = Fraction("0.8")
    for _ in range(5):
        w = w * (1 - Fraction("0.001") * Fraction(wd)) + Fraction("0.0003") / Fraction("0.30000001")
    return w


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    return {g.name: g.text for g in golden_files()}


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "traces"
    shutil.copytree(COMMITTED, target)
    return target


def test_every_committed_trace_regenerates_byte_identically(fresh: dict[str, str]) -> None:
    assert sorted(fresh) == sorted(p.name for p in COMMITTED.iterdir() if p.is_file())
    for name, text in fresh.items():
        assert (COMMITTED / name).read_bytes() == text.encode("utf-8"), name
    assert compare_all() == []


def test_seed_anchor_values_in_the_committed_trace() -> None:
    doc = json.loads((COMMITTED / "01_seed001_anchor_adamw.json").read_text())
    steps = doc["runs"][0]["steps"]
    w5 = steps[4]["elements"][0]["p_new"]
    assert w5["decimal"].startswith("8.0495990063")
    assert w5["decimal"] == significant(sweep_closed_form("0.01"), 30)
    assert w5["float64"] == float(Fraction(w5["decimal"]))  # 30 digits pin the float64 rounding here
    assert [s["elements"][0]["m_hat"]["decimal"] for s in steps] == ["-3.00000000000000000000000000000e-01"] * 5
    for step in steps:  # every stored decimal has >= 30 significant digits (or is an exact 0)
        for entry in step["elements"][0].values():
            digits = entry["decimal"].split("e")[0].replace("-", "").replace(".", "")
            assert entry["decimal"] == "0" or len(digits) >= 30


def test_lambda_sweep_matches_the_closed_form() -> None:
    doc = json.loads((COMMITTED / "03_seed001_lambda_sweep.json").read_text())
    finals = [run["steps"][4]["elements"][0]["p_new"]["decimal"] for run in doc["runs"]]
    assert finals == [significant(sweep_closed_form(wd), 30) for wd in ("0", "0.01", "0.1", "1")]
    assert [fixed(sweep_closed_form(wd), 6) for wd in ("0", "0.01", "0.1", "1")] == ["0.805000", "0.804960", "0.804599", "0.800998"]


def test_mechanism_factors_use_step_1001() -> None:
    doc = json.loads((COMMITTED / "04_seed000_mechanism.json").read_text())
    l2 = doc["runs"][0]
    assert l2["steps"][0]["t"] == 1001
    with mpmath.workdps(60):
        bc1, bc2 = 1 - mpmath.mpf("0.9") ** 1001, 1 - mpmath.mpf("0.999") ** 1001
        for element, v0 in zip(l2["steps"][0]["elements"], ("1", "0.0001")):
            v = mpmath.mpf("0.999") * mpmath.mpf(v0) + mpmath.mpf("0.00001")
            factor = 1 - mpmath.mpf("0.001") / bc1 / (mpmath.sqrt(v / bc2) + mpmath.mpf("1e-8"))
            assert mpmath.nstr(factor, 20, strip_zeros=False) == mpmath.nstr(mpmath.mpf(element["p_new"]["decimal"]), 20, strip_zeros=False)
    assert [e["p_new"]["decimal"][:8] for e in doc["runs"][1]["steps"][0]["elements"]] == ["9.900000"] * 2


def test_catalogue_covers_the_required_traces() -> None:
    specs = {s.name: s for s in catalogue()}
    llm = specs["06_llm_style_adamw"].runs[0].run
    hyper = llm.config.hyper
    assert (llm.steps, hyper.beta1, hyper.beta2, hyper.lr, hyper.weight_decay) == (1000, Fraction("0.9"), Fraction("0.95"), Fraction("0.0003"), Fraction("0.1"))
    assert llm.size >= 3
    assert {r.label for r in specs["07_every_preset"].runs} == set(PRESETS)
    sgd_labels = {r.label for r in specs["08_sgd_family"].runs}
    assert {"SGD, momentum=0", "SGD+L2, momentum=0.9", "SGDW, momentum=0", "SGDW, momentum=0.9"} <= sgd_labels
    checks = certify_trace(specs["05_seed000_checks"])
    l2, adamw = checks.runs[3], checks.runs[4]  # check 6: with wd=0 the two modes coincide exactly
    assert [[e["p_new"].decimal for e in row] for row in l2.certified.steps] == [[e["p_new"].decimal for e in row] for row in adamw.certified.steps]
    assert checks.runs[1].value(1, 0, "p_new").decimal == "2.98500000000000000000000000000e+00"  # check 4: 3*(1-0.005)


def test_hand_edited_trace_is_reported_with_file_and_field(copy: Path) -> None:
    path = copy / "01_seed001_anchor_adamw.json"
    text = path.read_text()
    edited = text.replace("8.04959900634328667228787680374e-01", "8.04959900634328667228787680375e-01", 1)
    assert edited != text
    path.write_text(edited)
    differences = compare_all(copy)
    assert len(differences) == 1
    d = differences[0]
    assert d.file == "01_seed001_anchor_adamw.json" and d.kind == "differs"
    assert d.field == "runs[0].steps[4].elements[0].p_new.decimal"
    assert "8.04959900634328667228787680375e-01" in d.describe()
    assert path.read_text() == edited  # compare never writes


def test_truncated_and_missing_files_are_reported(copy: Path) -> None:
    path = copy / "06_llm_style_adamw.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    (copy / "errata.md").unlink()
    found = {d.file: d for d in compare_all(copy)}
    assert set(found) == {"06_llm_style_adamw.json", "errata.md"}
    truncated = found["06_llm_style_adamw.json"]
    assert truncated.kind == "truncated" and truncated.field and truncated.field.startswith("runs[0]")
    assert "06_llm_style_adamw.json line" in truncated.describe()
    assert found["errata.md"].kind == "missing"


def test_write_all_restores_only_changed_files(copy: Path) -> None:
    (copy / "02_seed001_anchor_adam_l2.md").write_text("edited\n")
    untouched = copy / "01_seed001_anchor_adamw.json"
    before = untouched.stat().st_mtime_ns
    written = write_all(copy)
    assert [p.name for p in written] == ["02_seed001_anchor_adam_l2.md"]
    assert untouched.stat().st_mtime_ns == before
    assert compare_all(copy) == []
    assert oct((copy / "02_seed001_anchor_adam_l2.md").stat().st_mode & 0o777) == oct((COMMITTED / "02_seed001_anchor_adam_l2.md").stat().st_mode & 0o777)


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "trace.json"
    target.write_text("old\n")

    def interrupted(source: str, destination: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomically(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["trace.json"]


def test_errata_are_computed_from_the_transcribed_numbers() -> None:
    traces = {spec.name: certify_trace(spec) for spec in catalogue()}
    doc = errata_document(traces)
    wrong = {(e["seed"], e["where"]): (e["printed"], e["certified"]) for e in doc["errata"]}
    assert wrong == {
        ("001", "Lambda sensitivity output, lambda=0.00: final w"): ("0.804960", "0.805000"),
        ("001", "Lambda sensitivity output, lambda=0.10: final w"): ("0.804956", "0.804599"),
        ("001", "Lambda sensitivity output, lambda=1.00: final w"): ("0.804921", "0.800998"),
        ("000", "mechanism demo, observed output, mode L2, v=1e-04: effective decay factor"): ("0.924127", "0.924126"),
    }
    assert doc["compared"] == len(printed_numbers()) >= 80
    explained = {e["printed"]: e["explanation"] for e in doc["errata"]}
    assert "float32" in explained["0.924127"] and "weight_decay=0.01" in explained["0.804960"]
    claims = {c["where"]: c for c in doc["claims"]}
    exercise1 = claims["Test Your Understanding, exercise 1"]
    assert not exercise1["holds"] and "3.333333" in exercise1["computed"]
    assert claims["check 3"]["holds"]
    assert json.loads((COMMITTED / "errata.json").read_text()) == json.loads(json.dumps(doc))


# -- traces of the conventions and precision models added with issue 13 --------------------------------

def _committed_run(name: str, label: str) -> dict:
    document = json.loads((COMMITTED / f"{name}.json").read_text())
    return next(r for r in document["runs"] if r["label"] == label)


def test_new_convention_traces_regenerate_byte_identically() -> None:
    """What `adamw-oracle traces` checks, for the two traces of the eps floor and the precision models."""
    specs = tuple(s for s in catalogue() if s.name in ("09_eps_floor", "10_precision_models"))
    assert len(specs) == 2
    for golden in golden_files(specs):
        assert (COMMITTED / golden.name).read_text() == golden.text, golden.name


def test_eps_floor_trace_first_step_by_hand() -> None:
    """Step 1 from a zero state: m-hat = g and v-hat = g*g exactly, so update = lr*g / max(|g|, eps)
    (0.001 for g = 0.3; 0.001*0.001/0.01 = 1e-4 for g = 0.001, where eps is the floor), decay = lr*wd*p."""
    run = _committed_run("09_eps_floor", "eps floor")
    assert run["config"]["conventions"]["eps_placement"] == "floor"
    lr, wd, eps = Fraction("0.001"), Fraction("0.01"), Fraction("0.01")
    for element, p, g in zip(run["steps"][0]["elements"], (Fraction("0.8"), Fraction("-1.5")), (Fraction("0.3"), Fraction("0.001"))):
        denominator = max(abs(g), eps)
        assert Fraction(element["denom"]["decimal"]) == denominator
        assert Fraction(element["p_new"]["decimal"]) == p - lr * wd * p - lr * g / denominator
    # element 1 stays below the floor for the whole run: its denominator is eps at every step
    assert all(Fraction(s["elements"][1]["denom"]["decimal"]) == eps for s in run["steps"])
    contrast = _committed_run("09_eps_floor", "torch.AdamW (eps after the root)")
    assert contrast["steps"][-1]["elements"][1]["p_new"]["decimal"] != run["steps"][-1]["elements"][1]["p_new"]["decimal"]


def test_precision_model_traces_show_what_each_model_tracks() -> None:
    """Kahan / stochastic runs: p after step k is 1 - k*2**-10 to within 2**-45 (each update is lr within
    2**-50); rounding to nearest in bfloat16 gives 1 for the first step (what a plain implementation keeps
    for ever), and the listed neighbours bracket the exact value. Float32 arithmetic: the float32 and
    float64 roundings of the parameters differ."""
    quarter = Fraction(1, 2**10)
    for label in ("Kahan summation, bfloat16: a quarter-spacing step", "stochastic rounding, bfloat16: a quarter-spacing step"):
        run = _committed_run("10_precision_models", label)
        assert run["dtype"] == "bfloat16" and run["precision_model"]
        for k, step in enumerate(run["steps"], start=1):
            entry = step["elements"][0]["p_new"]
            exact = Fraction(entry["decimal"])
            assert abs(exact - (1 - k * quarter)) <= Fraction(1, 2**45)
            near = entry["bfloat16"]
            assert Fraction(near["down"]) <= exact <= Fraction(near["up"]) and Fraction(near["up"]) - Fraction(near["down"]) == Fraction(1, 2**8)
        assert run["steps"][0]["elements"][0]["p_new"]["bfloat16"]["nearest"] == 1.0
    f64 = _committed_run("10_precision_models", "float32 arithmetic for float64 parameters")
    assert f64["dtype"] == "float64" and "float32 arithmetic" in f64["precision_model"]
    assert all(e["p_new"]["float32"] != e["p_new"]["float64"] for s in f64["steps"] for e in s["elements"])
