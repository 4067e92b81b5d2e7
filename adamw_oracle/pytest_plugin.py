"""pytest plugin: select the optimizer under test with one setting, then assert conformance in tests.

Selecting the target (like array-api-tests' ``ARRAY_API_TESTS_MODULE``), first match wins:

* ``--adamw-target NAME`` on the command line, or the ``ADAMW_ORACLE_TARGET`` environment variable:
  a built-in name (``torch.AdamW``, ``optax.adamw``, ...), an optimizer class or factory by import path
  (``torch.optim:AdamW``, ``optax:adamw``, ``keras.optimizers:AdamW``) or ``module:attribute``;
* ``--adamw-option NAME=VALUE`` (repeatable): a fixed constructor argument of an import-path optimizer
  (``--adamw-option foreach=false``);
* ``--adamw-expect PRESET`` / ``ADAMW_ORACLE_EXPECT``: the convention it must implement (default: the
  built-in target's own preset, else what ``identify`` finds);
* ``--adamw-dtype DTYPE`` / ``ADAMW_ORACLE_DTYPE``: float64, float32 (default), float16, bfloat16.

``module:attribute`` targets are imported with the rootdir and the directory pytest was started in on
``sys.path`` (as ``python -m pytest`` would have it), so ``pytest --adamw-target my_opt:fn`` finds
``my_opt.py`` next to the tests. A bad selection (unknown target, module or attribute, unknown preset,
a dtype outside the four, a dtype the target does not support, or a plain function target without
``--adamw-expect``: a function cannot be fingerprinted by ``identify`` reliably enough to be the
expectation) is a pytest usage error: one line, exit status 4.

The report header then states exactly what is tested (target, versions, convention, dtype). Fixtures:
``adamw_target`` (the Implementation; the test is skipped when no target is selected),
``adamw_expected`` and ``adamw_dtype``. :func:`selected_cases` is a hypothesis strategy of cases for the
selected target, usable in ``@given`` at import time::

    from hypothesis import given
    from adamw_oracle.check import assert_conforms
    from adamw_oracle.pytest_plugin import selected_cases

    @given(case=selected_cases())
    def test_optimizer_conforms(adamw_target, case):
        assert_conforms(adamw_target, case)
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from adamw_oracle.errors import InvalidArgumentError

ENV_TARGET = "ADAMW_ORACLE_TARGET"
ENV_EXPECT = "ADAMW_ORACLE_EXPECT"
ENV_DTYPE = "ADAMW_ORACLE_DTYPE"


@dataclass
class Selection:
    """The target selected for this session (None when nothing is selected)."""

    target: str | None = None
    expect: str | None = None
    dtype: str = "float32"
    options: tuple[str, ...] = ()
    _impl: Any = None
    _expected: Any = None

    def implementation(self) -> Any:
        if self._impl is None:
            from adamw_oracle.adapters.registry import resolve_target  # loaded only when used
            from adamw_oracle.adapters.signature import parse_options  # loaded only when used

            self._impl = resolve_target(self.target, options=parse_options(list(self.options)))
        return self._impl

    def expected(self) -> Any:
        if self._expected is None:
            from adamw_oracle.adapters.registry import builtin_preset  # loaded only when used
            from adamw_oracle.check.expected import expected_convention  # loaded only when used

            expect: Any = self.expect or builtin_preset(self.target or "")
            if expect is None:
                from adamw_oracle.check.identify import identify  # loaded only when used (keeps import and --help fast)

                expect = identify(self.implementation())
            self._expected = expected_convention(expect)
        return self._expected


_selection = Selection()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("adamw-oracle", "adamw-oracle: check an optimizer against the reference")
    group.addoption("--adamw-target", default=None, help=f"optimizer under test (or ${ENV_TARGET}): built-in name or module:attribute")
    group.addoption("--adamw-expect", default=None, help=f"expected convention preset (or ${ENV_EXPECT})")
    group.addoption("--adamw-option", action="append", default=[], metavar="NAME=VALUE",
                    help="fixed constructor argument of an import-path optimizer (repeatable), e.g. foreach=false")
    group.addoption("--adamw-dtype", default=None, help=f"dtype of the cases (or ${ENV_DTYPE}; default float32)")


def pytest_configure(config: pytest.Config) -> None:
    _selection.target = config.getoption("--adamw-target") or os.environ.get(ENV_TARGET) or None
    _selection.expect = config.getoption("--adamw-expect") or os.environ.get(ENV_EXPECT) or None
    _selection.dtype = config.getoption("--adamw-dtype") or os.environ.get(ENV_DTYPE) or "float32"
    _selection.options = tuple(config.getoption("--adamw-option") or ())
    _selection._impl = _selection._expected = None
    _validate(config)


def _usage(option: str, env: str, exc: Exception) -> pytest.UsageError:
    """A one-line pytest usage error naming the option (and its environment variable)."""
    if isinstance(exc, InvalidArgumentError):
        text = str(InvalidArgumentError(option, exc.value, exc.allowed, exc.hint))
    else:
        text = f"{option}: {type(exc).__name__}: {exc}"
    return pytest.UsageError(" ".join(text.split()) + f" (set by {option} or ${env})")


def _validate(config: pytest.Config) -> None:
    """Check the selection now, so that a mistake is a usage error and not an INTERNALERROR later."""
    from adamw_oracle.contract.dtypes import Dtype  # the plugin loads in every pytest run: import when selected

    try:
        dtype = Dtype.parse(_selection.dtype)
    except InvalidArgumentError as exc:
        raise _usage("--adamw-dtype", ENV_DTYPE, exc) from None
    _selection.dtype = dtype.value
    if _selection.expect is not None:
        from adamw_oracle.check.expected import expected_convention  # late, as the other plugin imports

        try:
            _selection._expected = expected_convention(_selection.expect)
        except InvalidArgumentError as exc:
            raise _usage("--adamw-expect", ENV_EXPECT, exc) from None
    if not _selection.target:
        return
    for directory in (config.invocation_params.dir, config.rootpath):  # `python -m pytest` has the cwd there
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
    try:
        impl = _selection.implementation()
    except Exception as exc:  # noqa: BLE001 - also a module that fails while importing: a usage error, one line
        raise _usage("--adamw-target", ENV_TARGET, exc) from None
    supported = getattr(impl, "dtypes", None)
    if supported is not None and dtype not in supported:
        allowed = ", ".join(d.value for d in supported)
        raise _usage("--adamw-dtype", ENV_DTYPE, InvalidArgumentError("dtype", dtype.value, f"one of {allowed} for {impl.name}"))
    from adamw_oracle.adapters.callable import CallableImplementation  # numpy: only when a target is selected

    if _selection.expect is None and isinstance(impl, CallableImplementation):
        raise pytest.UsageError(f"--adamw-target={_selection.target!r} is a plain function: give the convention it must "
                                f"implement with --adamw-expect PRESET (or ${ENV_EXPECT})")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not _selection.target:
        return None
    from adamw_oracle.check.runner import _versions  # loaded only when used (keeps import and --help fast)

    impl = _selection.implementation()
    versions = ", ".join(f"{k} {v}" for k, v in _versions(impl).items())
    return [
        f"adamw-oracle target: {_selection.target}" + ("" if impl.name == _selection.target else f" ({impl.name})"),
        f"adamw-oracle versions: {versions}",
        f"adamw-oracle convention: {_selection.expected().describe()}",
        f"adamw-oracle dtype: {_selection.dtype}",
    ]


def selection() -> Selection:
    """The session's selection (target, expected convention, dtype)."""
    return _selection


def selected_cases(*, max_size: int = 129, max_steps: int = 6, space: Any = None) -> Any:
    """A hypothesis strategy of cases for the selected target (resolved lazily, when first drawn): the
    case space of ``check`` (:mod:`adamw_oracle.check.cases`), restricted by ``space`` (a
    :class:`~adamw_oracle.check.space.CaseSpace` or a dict of its fields, e.g. ``{"positive_lr": True}``)."""
    from adamw_oracle.check.space import CaseSpace  # loaded only when used (keeps import and --help fast)

    restriction = CaseSpace.of(space)
    from hypothesis import strategies as st  # hypothesis loads only when cases are drawn

    def build() -> Any:
        if not _selection.target:
            pytest.skip(f"no optimizer selected (--adamw-target or ${ENV_TARGET})")
        from adamw_oracle.check.cases import target_cases  # loaded only when used (keeps import and --help fast)
        from adamw_oracle.contract.capabilities import capabilities_of  # loaded only when used
        from adamw_oracle.contract.dtypes import Dtype  # loaded only when used (keeps import and --help fast)

        impl = _selection.implementation()
        return target_cases(_selection.expected(), Dtype.parse(_selection.dtype), capabilities_of(impl),
                            max_size=max_size, max_steps=max_steps, space=restriction,
                            tensor_cases=bool(getattr(impl, "tensor_cases", True)))

    return st.deferred(build)


@pytest.fixture(scope="session")
def adamw_target() -> Any:
    """The Implementation selected by --adamw-target / $ADAMW_ORACLE_TARGET (skips when none)."""
    if not _selection.target:
        pytest.skip(f"no optimizer selected (--adamw-target or ${ENV_TARGET})")
    return _selection.implementation()


@pytest.fixture(scope="session")
def adamw_expected() -> Any:
    """The expected convention (an ExpectedConvention) of the selected target."""
    if not _selection.target:
        pytest.skip(f"no optimizer selected (--adamw-target or ${ENV_TARGET})")
    return _selection.expected()


@pytest.fixture(scope="session")
def adamw_dtype() -> str:
    """The dtype selected by --adamw-dtype / $ADAMW_ORACLE_DTYPE (default float32)."""
    return _selection.dtype
