"""The test-vector suite: committed files match their regeneration, validate against the schema, agree
with the reference of record and the judge, tell the presets apart, and work for outside consumers."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from adamw_oracle.cli import main
from adamw_oracle.contract.case import Observation
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.presets import PRESETS
from adamw_oracle.errors import UsageError
from adamw_oracle.reference import certify_run
from adamw_oracle.vectors import (
    SCHEMA_NAME,
    compare_suite,
    default_vectors_dir,
    file_name,
    from_bits,
    hex_bits,
    ordinal,
    suite_files,
    to_bits,
    write_suite,
)
from adamw_oracle.vectors.bits import WIDTH
from adamw_oracle.vectors.catalogue import other_config
from adamw_oracle.vectors.replay import check_observation, load_file, vectors_of
from adamw_oracle.vectors.variants import VARIANTS, VARIANTS_BY_LABEL, Variant
from adamw_oracle.verify import judge

pytest.importorskip("flint", reason="generating vectors needs python-flint (the [bench] extra)")

ROOT = Path(__file__).resolve().parents[1]
VECTORS = default_vectors_dir()
DTYPES = ("float64", "float32", "float16", "bfloat16")


def _documents() -> list[dict]:
    return [load_file(VECTORS / file_name(p, Dtype(d))) for p in PRESETS for d in DTYPES]


def _from_ordinal(position: int, dtype: Dtype) -> float:
    sign = 1 << (WIDTH[dtype] - 1)
    return from_bits(position if position >= 0 else (-position) | sign, dtype)


def _edge_verdicts(case, expected: np.ndarray, ulps: int, kind, precision) -> list[list[bool]]:
    """For each direction (+, -): does the judge pass the last step's first element moved by the
    vector's ``ulps``, and by one more? A tolerance that is the judge's own edge gives [True, False]
    in at least one direction."""
    base = ordinal(to_bits(Fraction(expected[-1, 0]), kind), kind)
    verdicts = []
    for sign in (1, -1):
        moved = []
        for extra in (0, 1):
            observed = expected.copy()
            observed[-1, 0] = _from_ordinal(base + sign * (ulps + extra), kind)
            moved.append(judge(case, Observation(observed), precision=precision).passed)
        verdicts.append(moved)
    return verdicts


# -- bit patterns (constants from IEEE 754 tables, not from the code) --------------------------------

@pytest.mark.parametrize("value, dtype, pattern", [
    (1.0, Dtype.FLOAT64, "0x3ff0000000000000"), (-2.0, Dtype.FLOAT32, "0xc0000000"),
    (1.0, Dtype.FLOAT16, "0x3c00"), (65504.0, Dtype.FLOAT16, "0x7bff"), (2.0**-24, Dtype.FLOAT16, "0x0001"),
    (1.0, Dtype.BFLOAT16, "0x3f80"), (-math.inf, Dtype.BFLOAT16, "0xff80"), (0.1015625, Dtype.BFLOAT16, "0x3dd0"),
])
def test_bit_patterns_match_ieee_tables(value: float, dtype: Dtype, pattern: str) -> None:
    assert hex_bits(Fraction(value) if math.isfinite(value) else value, dtype) == pattern
    assert from_bits(int(pattern, 16), dtype) == value


def test_ordinal_is_numeric_order() -> None:
    values = [-1.5, -2.0**-149, 0.0, 2.0**-149, 1.0, 3.0]
    ords = [ordinal(to_bits(Fraction(v), Dtype.FLOAT32), Dtype.FLOAT32) for v in values]
    assert ords == sorted(ords) and ords[2] == ordinal(0x80000000, Dtype.FLOAT32) == 0
    assert ords[3] - ords[1] == 2  # -tiny, 0, +tiny


# -- the committed suite ------------------------------------------------------------------------

def test_sample_regenerates_byte_identical_and_deterministic() -> None:
    first = suite_files(["torch.SGD", "hf.AdamW"], ["bfloat16"], jobs=1)
    second = suite_files(["torch.SGD", "hf.AdamW"], ["bfloat16"], jobs=2)
    assert [f.text for f in first] == [f.text for f in second]
    differences, count = compare_suite(VECTORS, first)
    assert not differences, "\n".join(d.describe() for d in differences)
    assert count == sum(load_file(VECTORS / f.name)["numberOfVectors"] for f in first if f.name != SCHEMA_NAME)


def test_schema_validates_every_file() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((VECTORS / SCHEMA_NAME).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    for document in _documents():
        validator.validate(document)
    broken = _documents()[0]
    broken["groups"][0]["vectors"][0]["result"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_size_count_and_coverage() -> None:
    files = [VECTORS / file_name(p, Dtype(d)) for p in PRESETS for d in DTYPES]
    assert sum(f.stat().st_size for f in files) < 20 * 2**20
    documents = _documents()
    assert sum(d["numberOfVectors"] for d in documents) >= 2000
    for document in documents:
        vectors = [v for g in document["groups"] for v in g["vectors"]]
        assert len(vectors) == document["numberOfVectors"] >= 30
        assert [v["id"] for v in vectors] == list(range(1, len(vectors) + 1))
        for vector in vectors:
            assert all(flag in document["flags"] for flag in vector["flags"])
            ill = any(u is None for s in vector["steps"] for q in ("p", "m", "v") if q in s for u in s[q]["ulps"])
            assert (vector["result"] == "acceptable") == ill and (vector["why"] is not None) == ill
    flags = {f for d in documents for g in d["groups"] for v in g["vectors"] for f in v["flags"]}
    assert {"bias_correction_t1", "eps_dominates", "amsgrad_falling_v", "decay_zero_gradient", "maximize", "lr_zero",
            "subnormal_gradients", "huge_gradients", "step_near_2^8", "step_near_2^11", "step_near_2^24", "long_run",
            "vector_tail"} <= flags


def test_each_preset_has_a_vector_every_other_preset_fails() -> None:
    """Every other preset with different conventions; keras.Adam and keras.AdamW have the same ones."""
    best: dict[str, set[str]] = {}
    for document in _documents():
        for group in document["groups"]:
            for vector in group["vectors"]:
                seen = set(vector["tellsApart"])
                if len(seen) > len(best.get(document["preset"], set())):
                    best[document["preset"]] = seen
    for name, preset in PRESETS.items():
        same = {o for o, other in PRESETS.items() if other.conventions == preset.conventions and
                other.amsgrad_form == preset.amsgrad_form and other.has_maximize == preset.has_maximize}
        assert best[name] == set(PRESETS) - same, name
    assert PRESETS["keras.Adam"].conventions == PRESETS["keras.AdamW"].conventions


def _sample(preset: str, dtype: str, ids: tuple[int, ...]) -> list:
    return [v for v in vectors_of(preset, Dtype(dtype)) if v.vector["id"] in ids]


@pytest.mark.parametrize("preset, dtype", [("torch.AdamW", "float64"), ("optax.adamw", "float32"), ("torch.SGD", "float32")])
def test_expected_bits_agree_with_the_mpmath_certification(preset: str, dtype: str) -> None:
    """The files come from arb balls; the reference of record (mpmath intervals) rounds the same way."""
    names = {"p": "p_new", "m": "m", "v": "v"}
    for loaded in _sample(preset, dtype, (1, 13, 36, 40)):
        case = loaded.case()
        quantities = [q for q in ("p", "m", "v") if q in loaded.vector["steps"][0]]
        cert = certify_run(case.run, 20, [names[q] for q in quantities])
        for k, step in enumerate(loaded.vector["steps"]):
            for q in quantities:
                for i, bits in enumerate(step[q]["bits"]):
                    value = getattr(cert.steps[k][i][names[q]], dtype)
                    assert hex_bits(Fraction(value), Dtype(dtype)) == bits, (loaded.label, k, q, i)


@pytest.mark.parametrize("preset, dtype", [("torch.AdamW", "float32"), ("hf.AdamW", "bfloat16"), ("sgdw", "float16")])
def test_tolerances_are_the_judges_bound(preset: str, dtype: str) -> None:
    """At ulps steps (on the far side) the judge passes an element; one step further it does not."""
    kind = Dtype(dtype)
    for loaded in _sample(preset, dtype, (1, 2, 25)):
        case = loaded.case()
        expected = np.array([[from_bits(int(b, 16), kind) for b in s["p"]["bits"]] for s in loaded.vector["steps"]])
        assert judge(case, Observation(expected)).passed
        ulps = loaded.vector["steps"][-1]["p"]["ulps"][0]
        if ulps is None:
            continue
        verdicts = _edge_verdicts(case, expected, ulps, kind, None)
        assert [True, False] in verdicts, (loaded.label, ulps, verdicts)


def test_tells_apart_is_what_the_other_preset_computes() -> None:
    """Recomputed with the mpmath reference: a listed preset's float32 result falls outside; keras.Adam,
    whose conventions equal keras.AdamW's, falls inside."""
    for loaded in _sample("keras.AdamW", "float32", (40,)):
        case = loaded.case()
        assert "torch.AdamW" in loaded.vector["tellsApart"] and "keras.Adam" not in loaded.vector["tellsApart"]
        mine = PRESETS["keras.AdamW"]
        for other, outside in (("torch.AdamW", True), ("keras.Adam", False)):
            config = other_config(case.run.config, mine, PRESETS[other], amsgrad=False, maximize=False)
            theirs = certify_run(case.run.replace(config=config), 12, ["p_new"])
            far = []
            for k, step in enumerate(loaded.vector["steps"]):
                for i, (bits, ulps) in enumerate(zip(step["p"]["bits"], step["p"]["ulps"])):
                    ours = ordinal(int(bits, 16), Dtype.FLOAT32)
                    got = ordinal(to_bits(Fraction(theirs.steps[k][i]["p_new"].float32), Dtype.FLOAT32), Dtype.FLOAT32)
                    far.append(abs(got - ours) > ulps)
            assert any(far) is outside, other


# -- the command line ----------------------------------------------------------------------------

def test_cli_check_prints_the_count_and_a_readable_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--check", "--preset", "sgdw", "--dtype", "float16"]) == 0
    assert capsys.readouterr().out.strip() == f"{load_file(VECTORS / 'sgdw.float16.json')['numberOfVectors']} vectors"
    shutil.copy(VECTORS / "sgdw.float16.json", tmp_path / "sgdw.float16.json")
    path = tmp_path / "sgdw.float16.json"
    lines = path.read_text().splitlines()
    index = next(k for k, line in enumerate(lines) if line.startswith('   {"id":3,'))
    lines[index] = lines[index].replace('"ulps":[', '"ulps":[9', 1)
    path.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "--check", "--dir", str(tmp_path), "--preset", "sgdw", "--dtype", "float16"]) == 1
    out = capsys.readouterr().out
    assert "sgdw.float16.json differs" in out and '{"id":3,' in out and "differs at character" in out
    committed = next(line for line in out.splitlines() if "committed:" in line)
    regenerated = next(line for line in out.splitlines() if "regenerated:" in line)
    assert '"ulps":[9' in committed and '"ulps":[9' not in regenerated
    assert f"{SCHEMA_NAME} differs" in out and "(missing" in out  # the schema was not copied


def test_cli_write_is_atomic_and_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = suite_files(["mlx.AdamW"], ["bfloat16"], jobs=1)
    assert len(write_suite(tmp_path, files)) == 2
    assert write_suite(tmp_path, files) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in files)  # no temporary left


@pytest.mark.parametrize("argv", [["vectors", "--jobs", "0"], ["vectors", "--preset", "torch.adamw2"],
                                  ["vectors", "--dtype", "float8"], ["check", "torch.AdamW", "--vectors", "nope"]])
def test_cli_bad_input_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_check_replays_vectors_against_torch(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["check", "torch.AdamW", "--vectors", "--dtype", "float32", "--quiet"]) == 0
    out = capsys.readouterr().out
    # torch takes the seeded-state vectors through load_state_dict (Capability.SEEDED_STATE): none is skipped
    assert "PASS" in out and "the case seeds a state" not in out
    assert re.search(r"vectors skipped\s+\|\s+0\s", out)
    assert main(["check", "torch.Adam", "--vectors", "torch.AdamW", "--dtype", "float32", "--quiet", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["passed"] and report["failures"][0]["vector"].startswith("torch.AdamW.float32#")


# -- consumers outside the package ---------------------------------------------------------------

def _count(output: str) -> tuple[int, int]:
    first = output.splitlines()[0].split()
    return int(first[0]), int(first[2])


@pytest.mark.parametrize("name", ["torch.AdamW.float32", "optax.adamw.bfloat16", "hf.AdamW.float16", "torch.SGD.float64"])
def test_numpy_consumer_passes_and_catches_a_bug(name: str) -> None:
    program = [sys.executable, str(ROOT / "examples" / "vectors_numpy.py"), str(VECTORS / f"{name}.json")]
    good = subprocess.run(program, capture_output=True, text=True, timeout=120)
    passed, failed = _count(good.stdout)
    assert good.returncode == 0 and failed == 0 and passed == load_file(VECTORS / f"{name}.json")["numberOfVectors"]
    if "SGD" not in name:
        bad = subprocess.run([*program, "--wrong"], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1 and _count(bad.stdout)[1] > 0


def test_c_consumer_passes_torch_vectors_and_fails_a_wrong_adamw(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    exe = tmp_path / "vectors_check"
    subprocess.run([gcc, "-O2", "-Wall", "-Werror", "-ffp-contract=off", "-o", str(exe),
                    str(ROOT / "examples" / "vectors_check.c"), "-lm"], check=True, capture_output=True, timeout=120)
    for name in ("torch.AdamW.float32", "torch.AdamW.float64", "torch.Adam.float32"):
        path = str(VECTORS / f"{name}.json")
        good = subprocess.run([str(exe), path], capture_output=True, text=True, timeout=60)
        assert good.returncode == 0, good.stdout + good.stderr
        assert _count(good.stdout) == (load_file(path)["numberOfVectors"], 0)
        bad = subprocess.run([str(exe), path, "--wrong"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and _count(bad.stdout.splitlines()[-1])[1] > 0
    refused = subprocess.run([str(exe), str(VECTORS / "torch.AdamW.float16.json")], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "float64 and float32" in refused.stderr


def test_whole_suite_matches_its_regeneration() -> None:
    """What `adamw-oracle vectors --check` does (about 12 s of CPU for the 48 files)."""
    differences, count = compare_suite(VECTORS)
    assert not differences, "\n".join(d.describe() for d in differences)
    assert count >= 2000


def test_readme_states_the_suite_as_it_is() -> None:
    section = (ROOT / "README.md").read_text().split("<!-- section: vectors -->", 1)[1].split("<!-- section:", 1)[0]
    total = sum(d["numberOfVectors"] for d in _documents())
    assert f"holds {total:,} certified test vectors" in section
    assert f"{len(PRESETS) * len(DTYPES)} files" in section
    for flag in ("bias_correction_t1", "step_near_2^24", "vector_tail"):
        assert flag.split("_")[0] in section
    variants = _variant_documents()
    assert f"Another {sum(d['numberOfVectors'] for _, _, d in variants)} vectors in {len(variants)} files" in section
    for variant in VARIANTS:
        assert f"`{variant.label}." in section


def test_write_refuses_the_installed_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import adamw_oracle.vectors.store as store

    monkeypatch.setattr(store, "inside_installed_package", lambda path: True)
    files = suite_files(["mlx.AdamW"], ["bfloat16"], jobs=1)
    with pytest.raises(UsageError, match="needs a source checkout"):
        write_suite(tmp_path, files)
    assert list(tmp_path.iterdir()) == []
    assert main(["vectors", "--write", "--dir", str(tmp_path), "--preset", "mlx.AdamW", "--dtype", "bfloat16"]) == 2
    assert "needs a source checkout" in capsys.readouterr().err


class _Float32ScalarsAdamW:
    """torch.AdamW in float64 numpy with every scalar rounded to float32 first (as Keras does), from the
    case's own state; ``declare`` says so through ``precision_model``."""

    name = "float32-scalars AdamW"

    def __init__(self, declare: bool) -> None:
        self.declare = declare

    def precision_model(self, dtype: Dtype) -> object:
        from adamw_oracle.contract.precision import PrecisionModel

        return PrecisionModel(dtype, dtype, dtype, scalars=Dtype.FLOAT32) if self.declare else None

    def run(self, case: object) -> Observation:
        h = case.hyper_floats()  # type: ignore[attr-defined]
        st = case.run.initial_state  # type: ignore[attr-defined]
        f32 = {k: float(np.float32(v)) for k, v in h.items() if isinstance(v, float)}
        p = case.initial_params()  # type: ignore[attr-defined]
        m, v = (np.array([float(x) for x in xs]) for xs in (st.m, st.v))
        out = []
        with np.errstate(over="ignore", invalid="ignore"):  # the near-overflow vectors
            for k, g in enumerate(case.gradients()):  # type: ignore[attr-defined]
                t = st.step + k + 1
                p = p * float(np.float32(1 - f32["lr"] * f32["weight_decay"]))
                m = f32["beta1"] * m + float(np.float32(1 - f32["beta1"])) * g
                v = f32["beta2"] * v + float(np.float32(1 - f32["beta2"])) * g * g
                bc1, bc2 = float(np.float32(1 - f32["beta1"] ** t)), float(np.float32(1 - f32["beta2"] ** t))
                p = p - f32["lr"] / bc1 * m / (np.sqrt(v / bc2) + f32["eps"])
                out.append(p)
        return Observation(np.array(out))


def test_replay_counts_passes_under_a_declared_precision_apart() -> None:
    from adamw_oracle.check.vectors import replay_vectors

    plain = [v for v in vectors_of("torch.AdamW", Dtype.FLOAT64) if v.group["name"] == "defaults"]
    undeclared = replay_vectors(_Float32ScalarsAdamW(False), "torch.AdamW", dtypes=["float64"])
    assert not undeclared.passed and len(undeclared.failures) >= len(plain) // 2
    declared = replay_vectors(_Float32ScalarsAdamW(True), "torch.AdamW", dtypes=["float64"])
    assert declared.within_declared >= len(plain) // 2 and "float32 scalars" in declared.describe()
    assert declared.run == undeclared.run


# -- variants: conventions and precision models no preset has (vectors/variants.py) ----------------

def _variant_documents() -> list[tuple[Variant, Dtype, dict]]:
    return [(v, d, load_file(VECTORS / file_name(v.label, d))) for v in VARIANTS for d in v.dtypes]


def test_variant_files_validate_and_state_their_model() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads((VECTORS / SCHEMA_NAME).read_text()))
    documents = _variant_documents()
    assert {v.name for v, _, _ in documents} == {"eps_floor", "float32_arithmetic", "kahan", "stochastic_rounding"}
    for variant, dtype, document in documents:
        validator.validate(document)
        model = variant.model(dtype)
        assert document["preset"] == variant.base and document["variant"]["label"] == variant.label
        assert document["variant"]["precisionModel"] == model.describe()
        assert document["numberOfVectors"] >= 40
        for group in document["groups"]:
            assert (group["conventions"]["eps_placement"] == "floor") == (variant.name == "eps_floor")
            for vector in group["vectors"]:
                for step in vector["steps"]:
                    assert ("highPrecision" in step) == (variant.name == "kahan")
                    assert ("m" in step) == (variant.name == "eps_floor")
    floor = [d for v, _, d in documents if v.name == "eps_floor"]
    apart = {name for d in floor for g in d["groups"] for vec in g["vectors"] for name in vec["tellsApart"]}
    assert "torch.AdamW" in apart  # eps as a floor is not eps after the root


@pytest.mark.parametrize("label, dtype", [("torch.AdamW+eps_floor", "float32"), ("torch.AdamW+float32_arithmetic", "float64"),
                                          ("torch.AdamW+kahan", "bfloat16"), ("torch.AdamW+stochastic_rounding", "bfloat16")])
def test_variant_expected_bits_agree_with_the_mpmath_certification(label: str, dtype: str) -> None:
    """The exact parameters (bits and decimals) are the mpmath reference's, whatever the precision model."""
    for loaded in _sample(label, dtype, (1, 13, 36)):
        cert = certify_run(loaded.case().run, 20, ["p_new"])
        for k, step in enumerate(loaded.vector["steps"]):
            for i, bits in enumerate(step["p"]["bits"]):
                value = cert.steps[k][i]["p_new"]
                exact = Fraction(value.decimal)  # 20 certified digits: rounds like the exact value to 8..53 bits here
                assert hex_bits(Dtype(dtype).format.round(exact), Dtype(dtype)) == bits, (loaded.label, k, i)
                assert abs(Fraction(step["p"]["decimal"][i]) - exact) <= abs(exact) / 10**19, (loaded.label, k, i)


@pytest.mark.parametrize("label, dtype", [("torch.AdamW+eps_floor", "float32"), ("torch.AdamW+float32_arithmetic", "float64"),
                                          ("torch.AdamW+stochastic_rounding", "bfloat16")])
def test_variant_tolerances_are_the_judges_bound_under_its_model(label: str, dtype: str) -> None:
    """At ulps steps (on the far side) the judge passes an element under the variant's model; one step
    further it does not."""
    kind = Dtype(dtype)
    model = VARIANTS_BY_LABEL[label].model(kind)
    for loaded in _sample(label, dtype, (1, 2, 25)):
        case = loaded.case()
        expected = np.array([[from_bits(int(b, 16), kind) for b in s["p"]["bits"]] for s in loaded.vector["steps"]])
        assert judge(case, Observation(expected), precision=model).passed
        ulps = loaded.vector["steps"][-1]["p"]["ulps"][0]
        assert ulps is not None
        verdicts = _edge_verdicts(case, expected, ulps, kind, model)
        assert [True, False] in verdicts, (loaded.label, ulps, verdicts)


def test_kahan_high_precision_bound_is_the_judges_bound() -> None:
    """p + c at the highPrecision bound from the exact value passes the Kahan judge; 2**-20 beyond it fails."""
    kind = Dtype.BFLOAT16
    model = VARIANTS_BY_LABEL["torch.AdamW+kahan"].model(kind)
    for loaded in _sample("torch.AdamW+kahan", "bfloat16", (1, 2, 25)):
        case = loaded.case()
        steps = loaded.vector["steps"]
        params = np.array([[from_bits(int(b, 16), kind) for b in s["p"]["bits"]] for s in steps])
        exact = [[Fraction(d) for d in s["highPrecision"]["decimal"]] for s in steps]
        bound = Fraction(steps[-1]["highPrecision"]["bound"][0])
        verdicts = []
        for factor in (Fraction(1) - Fraction(1, 2**20), Fraction(1) + Fraction(1, 2**20)):
            comp = np.array([[float(e - Fraction(p)) for e, p in zip(row, prow)] for row, prow in zip(exact, params)])
            comp[-1, 0] = float(exact[-1][0] + factor * bound - Fraction(params[-1, 0]))
            verdicts.append(judge(case, Observation(params, compensation=comp), precision=model).passed)
        assert verdicts == [True, False], (loaded.label, verdicts)


def test_kernel_host_build_passes_the_variant_files() -> None:
    """The GPU layer's host build, in each variant's form (eps floor convention, float32 arithmetic,
    Kahan summation, stochastic rounding), meets every valid vector: p within ulps and, for Kahan,
    p + c within the highPrecision bound (its compensation starts at 0, as the files say)."""
    from adamw_oracle.gpu import HostBuildImplementation

    builds = {"eps_floor": HostBuildImplementation(), "float32_arithmetic": HostBuildImplementation(arithmetic="float32"),
              "kahan": HostBuildImplementation(summation="kahan"),
              "stochastic_rounding": HostBuildImplementation(rounding="stochastic")}
    checked = 0
    for variant in VARIANTS:
        for dtype in variant.dtypes:
            if variant.name == "eps_floor" and dtype in (Dtype.FLOAT16, Dtype.BFLOAT16):
                continue  # the host build's half formats compute in float32: judged by the conservative bound anyway
            for loaded in vectors_of(variant.label, dtype):
                if loaded.vector["result"] != "valid":
                    continue
                observation = builds[variant.name].run(loaded.case())
                assert observation.error is None
                assert not check_observation(loaded.vector, dtype, observation.params), loaded.label
                if variant.name == "kahan":
                    assert observation.compensation is not None
                    for k, step in enumerate(loaded.vector["steps"]):
                        for i, (decimal, bound) in enumerate(zip(step["highPrecision"]["decimal"], step["highPrecision"]["bound"])):
                            high = Fraction(observation.params[k, i]) + Fraction(observation.compensation[k, i])
                            assert abs(high - Fraction(decimal)) <= Fraction(bound) * (1 + Fraction(1, 10**15)), loaded.label
                checked += 1
    assert checked >= 5 * 40


def test_numpy_consumer_runs_the_eps_floor_file() -> None:
    name = "torch.AdamW+eps_floor.float32"
    program = [sys.executable, str(ROOT / "examples" / "vectors_numpy.py"), str(VECTORS / f"{name}.json")]
    good = subprocess.run(program, capture_output=True, text=True, timeout=120)
    passed, failed = _count(good.stdout)
    assert good.returncode == 0 and failed == 0 and passed == load_file(VECTORS / f"{name}.json")["numberOfVectors"]
    bad = subprocess.run([*program, "--wrong"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and _count(bad.stdout)[1] > 0
