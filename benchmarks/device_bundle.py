"""The wheels the device check carries to a machine with no network (the device tool's image).

The device image (docs/gpu.md; the device tool's KINDS.md) has numpy, torch, CuPy, pytest, mpmath,
sympy, hypothesis and ml_dtypes, but not gmpy2, and its versions are not ours. This module

* ``assemble``: downloads, here, a wheel of every core runtime dependency of pyproject.toml except
  numpy (plus their own requirements that the project needs: sortedcontainers for hypothesis), each at
  the version installed in this environment, for the image's interpreter (CPython 3.12, manylinux
  x86-64), into an ignored folder (default ``.device_bundle/``), and checks its size against the
  budget (the device tool carries at most 64 MiB with the working tree);
* ``install``: there, installs into a private target folder only the wheels whose distribution is
  missing or older than pyproject's minimum (the image's own packages win otherwise), without network,
  dependencies or bytecode compilation; the caller puts the folder first on ``sys.path``/``PYTHONPATH``.

Usage (here)::

    python benchmarks/device_bundle.py            # assemble .device_bundle/ and print its size
    python benchmarks/device_bundle.py --check    # only measure an existing bundle
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT / ".device_bundle"
BUDGET_BYTES = 48 * 2**20
"""The bundle's own limit: the tool carries 64 MiB in all, and the working tree needs a few."""
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
EXTRA = ("sortedcontainers",)
"""Requirements of the carried wheels that the image may lack (hypothesis needs sortedcontainers)."""
NOT_CARRIED = ("numpy",)
"""Binary foundations every other package of the image is built against: the image's own is used."""


def core_requirements(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``{distribution: minimum version}`` of pyproject's core ``dependencies`` ("0" where none is given)."""
    with open(pyproject, "rb") as stream:
        entries = tomllib.load(stream)["project"]["dependencies"]
    out = {}
    for entry in entries:
        match = re.match(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?", entry)
        if match:
            out[_normal(match.group(1))] = match.group(2) or "0"
    return out


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0])[:3])


def wanted() -> dict[str, str]:
    """``{distribution: version}`` to carry: the versions installed here (the tested ones)."""
    names = [n for n in core_requirements() if n not in NOT_CARRIED] + list(EXTRA)
    return {name: metadata.version(name) for name in names}


def assemble(bundle: Path = DEFAULT_BUNDLE) -> dict[str, Any]:
    """Download the wheels into ``bundle`` (replacing older versions there); return :func:`measure`."""
    bundle.mkdir(parents=True, exist_ok=True)
    pins = wanted()
    for wheel in bundle.glob("*.whl"):
        name, version = wheel_identity(wheel)
        if pins.get(name) != version:
            wheel.unlink()
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", PYTHON_VERSION, "--implementation", "cp",
               *(x for platform in PLATFORMS for x in ("--platform", platform)), "-d", str(bundle),
               *(f"{name}=={version}" for name, version in pins.items())]
    subprocess.run(command, check=True, timeout=900)
    return measure(bundle)


def wheel_identity(wheel: Path) -> tuple[str, str]:
    """(normalised distribution name, version) from a wheel's file name."""
    parts = wheel.name.split("-")
    return _normal(parts[0]), parts[1]


def measure(bundle: Path = DEFAULT_BUNDLE) -> dict[str, Any]:
    """The bundle's wheels, total size, and whether it fits :data:`BUDGET_BYTES`."""
    wheels = sorted(bundle.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels)
    return {"bundle": str(bundle), "wheels": [w.name for w in wheels], "bytes": total,
            "mib": round(total / 2**20, 2), "budget_mib": BUDGET_BYTES / 2**20, "fits": total <= BUDGET_BYTES}


def install(bundle: Path, target: Path) -> dict[str, Any]:
    """Install into ``target`` each wheel of ``bundle`` whose distribution is missing here or older
    than pyproject's minimum; returns what was installed and what the environment already had."""
    minimum = core_requirements()
    installed: list[str] = []
    present: dict[str, str] = {}
    chosen: list[Path] = []
    for wheel in sorted(bundle.glob("*.whl")):
        name, version = wheel_identity(wheel)
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have is not None and _version_tuple(have) >= _version_tuple(minimum.get(name, "0")):
            present[name] = have
            continue
        chosen.append(wheel)
        installed.append(f"{name} {version}" + (f" (image has {have}, below {minimum.get(name)})" if have else ""))
    if chosen:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", str(target), *map(str, chosen)],
                       check=True, timeout=300)
    return {"installed": installed, "already_present": present, "target": str(target)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="folder of wheels (default .device_bundle)")
    parser.add_argument("--check", action="store_true", help="only measure an existing bundle")
    args = parser.parse_args(argv)
    report = measure(args.bundle) if args.check else assemble(args.bundle)
    print(json.dumps(report, indent=2))
    return 0 if report["fits"] and report["wheels"] else 1


if __name__ == "__main__":
    sys.exit(main())
