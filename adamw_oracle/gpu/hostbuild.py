"""Compile the kernels' header with the host C++ compiler into a shared library, cached, and load it.

The library is ``kernels/host_build.cpp`` (which includes ``kernels/ao_element.cuh``) compiled with
:data:`HOST_FLAGS` plus the ``-D`` codes of :mod:`adamw_oracle.gpu.codes`: ``-O3 -ffp-contract=off``
(no fused multiply-add contraction, matching NVRTC's ``--fmad=false``), no ``-ffast-math``, and
``-fno-math-errno`` (only lets ``sqrt`` compile to the bare instruction; results are unchanged).

Cache: ``$ADAMW_ORACLE_CACHE_DIR`` or ``$XDG_CACHE_HOME/adamw-oracle`` or ``~/.cache/adamw-oracle``,
under ``host-build/<key>/``, where the key hashes the sources, the flags, the compiler's version and
the CPU model (``-march=native`` code is only reused on the same kind of CPU). The library is written
to a temporary file in the same directory and moved into place with ``os.replace``, so two processes
compiling at once both end with a complete library and never load a half-written one.

A cached library is loaded only from a cache the user alone controls: the cache directory, the key
directory and the library must be owned by the user and not writable by group or others
(:func:`trusted_path`). Otherwise nothing is loaded from it or written to it: the library is rebuilt
in a fresh private temporary directory. Cache directories are created with mode 700.
"""
from __future__ import annotations

import ctypes
import functools
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

from adamw_oracle.errors import AdamwOracleError
from adamw_oracle.gpu import sources
from adamw_oracle.gpu.codes import compile_options
from adamw_oracle.gpu.sources import HEADER, HOST_SOURCE, KERNEL_SUFFIXES, sources_digest

HOST_FLAGS: tuple[str, ...] = (
    "-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-march=native",
    "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
)
LIBRARY_NAME = "libao_host.so"

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}
_by_settings: dict[tuple[str | None, ...], ctypes.CDLL] = {}


class HostBuildError(AdamwOracleError, RuntimeError):
    """The host C++ compiler is missing or failed on the kernels' header."""


class NoCompilerError(HostBuildError):
    """No host C++ compiler: ``$CXX`` (default ``g++``) is not found. ``name`` is what was looked up."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"the host build needs a C++ compiler: {name!r} was not found (set CXX)")


class MissingSourcesError(HostBuildError):
    """The kernel sources the host build compiles are not installed (``missing`` lists them)."""

    def __init__(self, missing: list[Path]) -> None:
        self.missing = missing
        super().__init__("the host build needs the kernel sources: " + ", ".join(str(m) for m in missing) + " not found")


def compiler() -> str:
    """The host C++ compiler: ``$CXX`` or ``g++``."""
    name = os.environ.get("CXX", "g++")
    path = shutil.which(name)
    if path is None:
        raise NoCompilerError(name)
    return path


def require_sources() -> None:
    """Raise :class:`MissingSourcesError` when a file the host build compiles is absent."""
    missing = [sources.KERNEL_DIR / name for name in (HEADER, HOST_SOURCE) if not (sources.KERNEL_DIR / name).is_file()]
    if missing:
        raise MissingSourcesError(missing)


def trusted_path(path: Path) -> bool:
    """``path`` exists, is owned by the current user and is not writable by group or others (so no
    other user can have placed or replaced what it holds)."""
    try:
        info = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode):
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cache_root() -> Path:
    """Per-user cache directory of compiled host libraries."""
    explicit = os.environ.get("ADAMW_ORACLE_CACHE_DIR")
    if explicit:
        return Path(explicit) / "host-build"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "adamw-oracle" / "host-build"


def _compiler_identity(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise HostBuildError(f"cannot run the host C++ compiler {cxx!r}: {exc}") from exc


def _cpu_identity() -> str:
    """Model name and feature flags of the first CPU (a VM may mask features of a known model)."""
    found: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip()
            if key in ("model name", "flags") and key not in found:
                found[key] = line
    except OSError:
        pass
    return "\n".join(found.values()) or platform.processor() or platform.machine()


def compile_command(cxx: str, output: Path) -> list[str]:
    """The full compiler command line of the host build."""
    kernels = sources.KERNEL_DIR
    return [cxx, *HOST_FLAGS, *compile_options(), f"-I{kernels}", str(kernels / HOST_SOURCE), "-o", str(output)]


def library_path() -> Path:
    """Path of the cached library, compiling it first if it is not there yet."""
    cxx = compiler()
    require_sources()
    return _library_path(cxx, cache_root())


def cache_key(cxx: str) -> str:
    """The cache key: sources, flags, the compiler's version and the CPU."""
    key_parts = [*HOST_FLAGS, *compile_options(), _compiler_identity(cxx), _cpu_identity(), platform.machine()]
    return sources_digest([HEADER, HOST_SOURCE], key_parts)


@functools.cache
def _library_path(cxx: str, root: Path) -> Path:
    # cached per process: the key needs the compiler's --version (a subprocess), and the sources
    # cannot change under a running process that has already loaded them
    directory = root / cache_key(cxx)
    target = directory / LIBRARY_NAME
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, exist_ok=True)
    if not all(trusted_path(p) for p in (root, directory)) or (target.exists() and not trusted_path(target)):
        # someone else could have put or replaced the library here: build a private one instead
        directory = Path(tempfile.mkdtemp(prefix="adamw-oracle-host-build-"))
        target = directory / LIBRARY_NAME
    if target.exists():
        return target
    fd, temporary = tempfile.mkstemp(prefix=".compiling-", suffix=".so", dir=directory)
    os.close(fd)
    try:
        result = subprocess.run(compile_command(cxx, Path(temporary)), capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise HostBuildError(f"host build failed ({' '.join(compile_command(cxx, target))}):\n{result.stderr}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def load_library() -> ctypes.CDLL:
    """The host build, compiled if needed and loaded once per process, with argument types declared."""
    settings = (os.environ.get("CXX"), os.environ.get("ADAMW_ORACLE_CACHE_DIR"), os.environ.get("XDG_CACHE_HOME"))
    lib = _by_settings.get(settings)
    if lib is not None:
        return lib
    with _lock:
        path = str(library_path())
        if path not in _loaded:
            _loaded[path] = _declare(ctypes.CDLL(path))
        _by_settings[settings] = _loaded[path]
        return _loaded[path]


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    ptr, ll, i32 = ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int
    for suffix in KERNEL_SUFFIXES:
        fused = getattr(lib, f"ao_host_fused_step_{suffix}")
        fused.argtypes = [ll, i32, ptr, ptr, ptr, ptr, ptr, ptr]
        fused.restype = None
        multi = getattr(lib, f"ao_host_multi_tensor_step_{suffix}")
        multi.argtypes = [i32, i32, ptr, ptr, ptr, ptr, ptr, ptr, ptr]
        multi.restype = None
        batched = getattr(lib, f"ao_host_batched_cases_{suffix}")
        batched.argtypes = [ll, i32, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr]
        batched.restype = None
    lib.ao_host_flt_eval_method.restype = ctypes.c_int
    lib.ao_host_test_set_ftz_daz.argtypes = [ctypes.c_int]
    lib.ao_host_test_set_ftz_daz.restype = None
    for name in ("ao_host_float_to_f16", "ao_host_float_to_bf16", "ao_host_f16_to_float", "ao_host_bf16_to_float"):
        getattr(lib, name).argtypes = [ll, ptr, ptr]
        getattr(lib, name).restype = None
    return lib
