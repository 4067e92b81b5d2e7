"""The subprocess adapter: JSON case in, trajectory out; misbehaving programs become findings and no
process is ever left behind."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adamw_oracle import Dtype, Run, constant_gradients, preset
from adamw_oracle.adapters import Case, SubprocessImplementation
from adamw_oracle.check import check_target, evaluate, identify
from adamw_oracle.errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "subprocess_adamw.py"


def _case(dtype: Dtype = Dtype.FLOAT32) -> Case:
    return Case(Run(preset("torch.AdamW", lr=0.01, weight_decay=0.1), (0.5, -1.0), constant_gradients([0.25, -0.5], 3)), dtype)


def _program(tmp_path: Path, body: str) -> SubprocessImplementation:
    script = tmp_path / "prog.py"
    script.write_text("import json, sys\ncase = json.load(sys.stdin)\n" + body)
    return SubprocessImplementation([sys.executable, str(script)], timeout=5.0, name="prog")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_example_program_conforms_to_torch_adamw(dtype: str) -> None:
    impl = SubprocessImplementation([sys.executable, str(EXAMPLE)])
    report = check_target(impl, expect="torch.AdamW", dtype=dtype, examples=4, seed=0, max_steps=3)
    assert report.passed, report.describe()


@pytest.mark.parametrize("body, kind, text", [
    ("sys.exit(3)\n", "exception", "exit status 3"),
    ("print('not json')\n", "bad_output", "bad output"),
    ("json.dump({'params': [[0.5]]}, sys.stdout)\n", "bad_output", "shape"),
    ("json.dump({'params': [[0.1, 0.2]] * len(case['gradients'])}, sys.stdout)\n", "bad_output", "not a float32 value"),
    ("json.dump({'params': [[float('nan'), 0.5]] * len(case['gradients'])}, sys.stdout)\n", "nonfinite", "nan"),
])
def test_misbehaving_program_is_a_clear_finding(tmp_path: Path, body: str, kind: str, text: str) -> None:
    result = evaluate(_program(tmp_path, body), _case())
    assert [f.kind for f in result.findings][:1] == [kind], result.findings
    assert text in result.findings[0].message


def test_hang_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    impl = _program(tmp_path, (
        "import os, subprocess\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "import time; time.sleep(300)\n"
    ))
    impl.timeout = 2.0
    start = time.monotonic()
    result = evaluate(impl, _case())
    assert time.monotonic() - start < 30
    assert [f.kind for f in result.findings] == ["timeout"]
    program, child = (int(x) for x in pids.read_text().split())
    deadline = time.monotonic() + 10
    while (_alive(program) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(program) and not _alive(child)


def test_missing_command_is_reported_not_raised() -> None:
    result = evaluate(SubprocessImplementation(["/nonexistent/optimizer"]), _case())
    assert result.findings[0].kind == "exception" and "cannot start" in result.findings[0].message


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="timeout"):
        SubprocessImplementation("python x.py", timeout=0)
    with pytest.raises(InvalidArgumentError, match="command"):
        SubprocessImplementation("")


@pytest.fixture(scope="module")
def c_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    exe = tmp_path_factory.mktemp("c") / "adamw_c"
    subprocess.run([gcc, "-O2", "-Wall", "-Werror", "-o", str(exe), str(ROOT / "examples" / "subprocess_adamw.c"), "-lm"],
                   check=True, capture_output=True, timeout=120)
    return exe


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_c_example_conforms_to_torch_adamw(c_program: Path, dtype: str) -> None:
    report = check_target(SubprocessImplementation([str(c_program)]), expect="torch.AdamW", dtype=dtype,
                          examples=6, seed=4, max_steps=4)
    assert report.passed, report.describe()


def test_c_example_is_identified_and_refuses_half(c_program: Path) -> None:
    impl = SubprocessImplementation([str(c_program)], capabilities={"weight_decay", "amsgrad", "maximize"})
    assert identify(impl).presets == ("torch.AdamW",)
    result = evaluate(impl, _case(Dtype.FLOAT16))
    assert result.findings[0].kind == "exception" and "exit status 2" in result.findings[0].message
