"""Reading vector files back: a vector as a :class:`~adamw_oracle.contract.case.Case`, and the verdict on
an implementation's output for it (the rule of the files' ``bound`` field, nothing else)."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from adamw_oracle.contract.case import Case
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.hyperparameters import Hyperparameters
from adamw_oracle.contract.run import Run
from adamw_oracle.contract.state import exact_state
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.vectors.bits import from_bits, to_bits, ulp_distance
from adamw_oracle.vectors.store import default_vectors_dir, file_name


@dataclass(frozen=True)
class LoadedVector:
    """One vector of a file with the group it belongs to."""

    preset: str
    dtype: Dtype
    group: Mapping[str, Any]
    vector: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.preset}.{self.dtype.value}#{self.vector['id']}"

    def case(self) -> Case:
        """The vector as a case: the group's conventions and exact hyperparameters, the vector's inputs."""
        h = self.group["hyperparameters"]
        hyper = Hyperparameters(**{k: (v if k == "nesterov" else v["decimal"]) for k, v in h.items()})
        config = OptimizerConfig(Conventions.from_dict(dict(self.group["conventions"])), hyper, name=self.preset)
        initial = self.vector["initial"]
        n = len(initial["params"])

        def values(key: str) -> list[Fraction]:
            return [Fraction(from_bits(int(b, 16), self.dtype)) for b in initial.get(key, ["0x0"] * n)]

        state = exact_state(initial["step"], values("m"), values("v"), values("vmax"))
        grads = tuple(tuple(Fraction(from_bits(int(b, 16), self.dtype)) for b in step["grads"]) for step in self.vector["steps"])
        return Case(Run(config, tuple(values("params")), grads, state, name=self.label), self.dtype)


def load_file(path: str | Path) -> dict[str, Any]:
    """A vector file as parsed JSON (refusing anything that is not one)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidArgumentError("vectors", str(path), "an existing vector file (run `adamw-oracle vectors --write`)") from exc
    if not isinstance(document, dict) or "groups" not in document or "preset" not in document:
        raise InvalidArgumentError("vectors", str(path), "an adamw-oracle vector file")
    return document


def vectors_of(preset: str, dtype: Dtype, directory: str | Path | None = None) -> Iterator[LoadedVector]:
    """Every vector of the file of ``preset`` and ``dtype``."""
    folder = Path(directory) if directory is not None else default_vectors_dir()
    document = load_file(folder / file_name(preset, dtype))
    for group in document["groups"]:
        for vector in group["vectors"]:
            yield LoadedVector(preset, dtype, group, vector)


@dataclass(frozen=True)
class Mismatch:
    """One element outside its tolerance (or non-finite where any finite value would do)."""

    step: int
    element: int
    quantity: str
    observed: float
    expected_bits: str
    expected_decimal: str
    distance: int | None
    ulps: int | None

    def describe(self) -> str:
        allowed = "any finite value (or the expected infinity)" if self.ulps is None else f"within {self.ulps} ulp"
        distance = "not a value of the dtype" if self.distance is None else f"{self.distance} ulp away"
        return (f"{self.quantity}[step {self.step}, element {self.element}] = {self.observed!r}: expected "
                f"{self.expected_decimal} ({self.expected_bits}), {allowed}; {distance}")


def check_values(vector: Mapping[str, Any], dtype: Dtype, quantity: str, step: int, observed: np.ndarray) -> list[Mismatch]:
    """Mismatches of ``observed`` (one value per element) against ``quantity`` after 1-based ``step``."""
    expected = vector["steps"][step - 1][quantity]
    out = []
    for i, (bits_text, decimal, ulps) in enumerate(zip(expected["bits"], expected["decimal"], expected["ulps"])):
        value = float(observed[i])
        if ulps is None:
            if not math.isfinite(value) and not _same_infinity(value, bits_text, dtype):
                out.append(Mismatch(step, i, quantity, value, bits_text, decimal, None, None))
            continue
        try:
            bits = to_bits(value, dtype) if not math.isnan(value) else None
        except InvalidArgumentError:
            bits = None
        expected_bits = int(bits_text, 16)
        distance = None if bits is None else ulp_distance(bits, expected_bits, dtype)
        # an infinity is one step beyond the largest finite value in the ordering: it passes only as the
        # expected value itself, never as "within ulps" of a finite one
        if distance is not None and math.isinf(value) and bits != expected_bits:
            distance = None
        if distance is None or distance > ulps:
            out.append(Mismatch(step, i, quantity, value, bits_text, decimal, distance, ulps))
    return out


def _same_infinity(value: float, bits_text: str, dtype: Dtype) -> bool:
    return math.isinf(value) and from_bits(int(bits_text, 16), dtype) == value


def check_observation(vector: Mapping[str, Any], dtype: Dtype, params: np.ndarray,
                      state: Mapping[str, np.ndarray] | None = None) -> list[Mismatch]:
    """Every mismatch of a trajectory (shape (steps, n)) and, if given, of the final m and v."""
    steps = len(vector["steps"])
    out: list[Mismatch] = []
    for k in range(steps):
        out.extend(check_values(vector, dtype, "p", k + 1, params[k]))
    for name in ("m", "v"):
        if state and name in state and name in vector["steps"][-1]:
            values = np.asarray(state[name], dtype=np.float64).reshape(-1)
            if values.shape == (len(vector["steps"][-1][name]["bits"]),):
                out.extend(check_values(vector, dtype, name, steps, values))
    return out
