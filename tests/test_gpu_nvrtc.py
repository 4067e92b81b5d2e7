"""Every kernel compiles with NVRTC to PTX for sm_80 and sm_90 (no device needed), and the PTX has
the floating-point semantics the design relies on: IEEE round-to-nearest division and square root,
no fused multiply-add, every multiply/add pinned to .rn (so ptxas cannot contract it either)."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("cupy")

from adamw_oracle.errors import InvalidArgumentError  # noqa: E402
from adamw_oracle.gpu import compile_all_ptx  # noqa: E402
from adamw_oracle.gpu.codes import compile_definitions  # noqa: E402
from adamw_oracle.gpu.nvrtc import compile_ptx, nvrtc_options  # noqa: E402
from adamw_oracle.gpu.ptx import entry_names, float_instructions, fused_multiply_adds, inexact_divisions_and_roots  # noqa: E402
from adamw_oracle.gpu.sources import HEADER, KERNEL_DIR, KERNEL_FILES, KERNEL_SUFFIXES, kernel_names  # noqa: E402

ARCHS = ("sm_80", "sm_90")


@pytest.fixture(scope="module", params=ARCHS)
def ptx_by_file(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    return request.param, compile_all_ptx(request.param)


def test_every_kernel_file_compiles_and_defines_one_kernel_per_dtype(ptx_by_file: tuple[str, dict[str, str]]) -> None:
    arch, ptx = ptx_by_file
    assert set(ptx) == set(KERNEL_FILES)
    for source, text in ptx.items():
        assert f".target {arch}" in text
        assert sorted(entry_names(text)) == sorted(kernel_names(source))
        assert len(entry_names(text)) == len(KERNEL_SUFFIXES)  # one per dtype, plus float64 in float32


def test_division_and_sqrt_are_ieee_round_to_nearest(ptx_by_file: tuple[str, dict[str, str]]) -> None:
    _, ptx = ptx_by_file
    for source, text in ptx.items():
        ops = float_instructions(text)
        assert inexact_divisions_and_roots(text) == [], source
        assert ".approx" not in text and ".full" not in text, source
        # the Adam path divides and takes roots in both compute precisions
        for op in ("div.rn.f64", "sqrt.rn.f64", "div.rn.f32", "sqrt.rn.f32"):
            assert ops[op] > 0, (source, op)


def test_no_contraction_every_mul_add_sub_is_pinned_rn(ptx_by_file: tuple[str, dict[str, str]]) -> None:
    _, ptx = ptx_by_file
    for source, text in ptx.items():
        assert fused_multiply_adds(text) == [], source
        for op in float_instructions(text):
            if op.split(".")[0] in ("mul", "add", "sub"):
                assert op.split(".")[1] == "rn", (source, op)
        # no flush-to-zero anywhere: subnormals behave as on the host
        assert not any(".ftz" in op for op in float_instructions(text)), source


def test_half_conversions_are_the_headers_integer_code_not_hardware_cvt(ptx_by_file: tuple[str, dict[str, str]]) -> None:
    _, ptx = ptx_by_file
    for text in ptx.values():
        ops = float_instructions(text)
        assert not any(op.startswith("cvt") and (".f16" in op or ".bf16" in op) for op in ops)


def test_inspection_detects_contraction_and_approximations_when_they_are_present() -> None:
    # negative controls: the same kernel with the semantics the design forbids
    fast = compile_ptx("fused_step.cu", "sm_80", float_semantics=("--use_fast_math",))
    assert "div.approx.ftz.f32" in inexact_divisions_and_roots(fast)
    assert fused_multiply_adds(fast)
    contracted = compile_ptx("fused_step.cu", "sm_80", float_semantics=("--fmad=true",))
    assert "fma.rn.f64" in fused_multiply_adds(contracted)


def test_options_fix_float_semantics() -> None:
    options = nvrtc_options("sm_90")
    for option in ("--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--ftz=false", "--gpu-architecture=compute_90"):
        assert option in options


def test_header_uses_only_codes_defined_in_python() -> None:
    header = (KERNEL_DIR / HEADER).read_text()
    used = set(re.findall(r"\bAO_(?:S|WD|EPS|AMS|TARGET|FAMILY|ROUND|SUM)_[A-Z0-9_]+\b", header))
    used |= {f"AO_FLAG_{name}_{part}" for name in re.findall(r"AO_FIELD\(\w+, ([A-Z]+)\)", header) for part in ("SHIFT", "MASK")}
    defined = set(compile_definitions())
    assert used - defined == set()
    assert "AO_S_COUNT" in used


def test_bad_arch_and_source_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="arch='sm_5'"):
        compile_all_ptx("sm_5")
    with pytest.raises(InvalidArgumentError, match="source='nope.cu'"):
        compile_ptx("nope.cu")
