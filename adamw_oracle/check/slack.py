"""Measure the slack: the largest error / (running bound) over correct implementations.

The running bound follows the reference's order of operations; a correct implementation that orders
them differently may exceed it by a small factor. :func:`measure_slack` draws cases from the public
strategies restricted to the conventions an implementation declares and records, per implementation
and dtype, the largest observed ratio ``|observed - exact| / bound`` (no slack applied). The judge's
:data:`~adamw_oracle.verify.judge.SLACK` must stay above every measured value; docs/error-model.md
records the measurements. Run as ``python -m adamw_oracle.check.slack [examples] [seed]``.
"""
from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from adamw_oracle.adapters.registry import BUILTIN_TARGETS, installed_targets, resolve_target
from adamw_oracle.contract.case import Case, Implementation
from adamw_oracle.contract.conventions import AmsGrad, Conventions
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import PrecisionModel
from adamw_oracle.contract.presets import get_preset
from adamw_oracle.verify.judge import judge
from adamw_oracle.verify.numpy_impl import correct_implementations


@dataclass
class SlackMeasurement:
    """Largest error/bound per (implementation, dtype), with the number of cases judged."""

    ratios: dict[tuple[str, str], float] = field(default_factory=dict)
    cases: dict[tuple[str, str], int] = field(default_factory=dict)
    rejected: dict[tuple[str, str], int] = field(default_factory=dict)
    unsupported: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def largest(self) -> float:
        return max(self.ratios.values(), default=0.0)

    def table(self) -> str:
        rows = ["| implementation | dtype | cases | rejected | largest error/bound |", "|---|---|---|---|---|"]
        for key in sorted(self.ratios):
            rows.append(f"| {key[0]} | {key[1]} | {self.cases[key]} | {self.rejected.get(key, 0)} | {self.ratios[key]:.3f} |")
        return "\n".join(rows)


def preset_conventions(preset_name: str) -> list[Conventions]:
    """The conventions a preset can produce (plain, AMSGrad and maximize when it has them)."""
    p = get_preset(preset_name)
    out = [p.conventions]
    if p.amsgrad_form is not None and p.amsgrad_form is not AmsGrad.OFF:
        out.append(p.conventions.replace(amsgrad=p.amsgrad_form))
    if p.has_maximize:
        out.extend(c.replace(maximize=True) for c in list(out))
    return out


Target = tuple[Implementation, "Iterable[Conventions] | None", "PrecisionModel | Callable[[Dtype], PrecisionModel] | None", bool]


def measure_slack(targets: Sequence[Target],
                  dtypes: Sequence[Dtype], *, examples: int = 200, seed: int = 0) -> SlackMeasurement:
    """Judge each target on ``examples`` cases per dtype and record the largest error/bound ratio.

    ``targets``: (implementation, conventions it declares or None for all, precision model factory
    ``f(dtype)`` or None for the judge's default conservative model, whether to draw schedule
    multipliers other than 1).
    """

    from hypothesis import HealthCheck, Phase, find, settings  # hypothesis loads only when cases are drawn
    from hypothesis.errors import NoSuchExample  # hypothesis loads only when cases are drawn

    from adamw_oracle.verify.strategies import cases  # heavy or optional

    out = SlackMeasurement()
    start = time.perf_counter()
    for impl, conventions, model, schedules in targets:
        for dtype in dtypes:
            key = (impl.name, dtype.value)
            out.ratios.setdefault(key, 0.0)
            out.cases.setdefault(key, 0)

            def record(case: Case) -> bool:
                observation = impl.run(case)
                if observation.error is not None and "unsupported" in observation.error.lower():
                    out.unsupported[impl.name] = out.unsupported.get(impl.name, 0) + 1
                    return False
                verdict = judge(case, observation, precision=model(case.dtype) if callable(model) else model)
                out.cases[key] += 1
                out.ratios[key] = max(out.ratios[key], verdict.max_fraction_of_bound * verdict.slack)
                if not verdict.passed:
                    out.rejected[key] = out.rejected.get(key, 0) + 1
                return False  # never stop: we want every example

            config = settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
                              suppress_health_check=list(HealthCheck))
            try:
                find(cases(list(conventions) if conventions is not None else None, [dtype], schedules=schedules), record,
                     settings=config, random=random.Random(seed))
            except NoSuchExample:
                pass
    out.seconds = time.perf_counter() - start
    return out


def default_targets() -> list[Target]:
    """Correct numpy variants, the GPU host build and every installed torch/optax/Keras optimizer."""

    targets: list[Target] = []
    for impl in correct_implementations():
        storage = impl.variant.half_arithmetic == "storage"
        targets.append((impl, None, PrecisionModel.conservative if storage else PrecisionModel.mixed, True))
    try:
        from adamw_oracle.gpu import HostBuildImplementation  # heavy or optional

        targets.append((HostBuildImplementation(), None, PrecisionModel.mixed, True))
    except Exception:  # pragma: no cover - reported by the fuzz instead
        pass
    for name in installed_targets():
        # frameworks take one learning rate (lr_t): no separate schedule multiplier
        targets.append((resolve_target(name), preset_conventions(BUILTIN_TARGETS[name].preset), None, False))
    return targets


def main(argv: Sequence[str]) -> int:
    examples = int(argv[0]) if argv else 100
    seed = int(argv[1]) if len(argv) > 1 else 0
    names = set(argv[2].split(",")) if len(argv) > 2 else None
    targets = [t for t in default_targets() if names is None or t[0].name in names]
    total = SlackMeasurement()
    for target in targets:  # one target at a time, so a long measurement reports as it goes
        part = measure_slack([target], list(Dtype), examples=examples, seed=seed)
        for key in part.ratios:
            total.ratios[key], total.cases[key] = part.ratios[key], part.cases[key]
            if key in part.rejected:
                total.rejected[key] = part.rejected[key]
        total.unsupported.update(part.unsupported)
        total.seconds += part.seconds
        print(part.table().split("\n", 2)[-1], flush=True)
    print(total.table())
    print(f"largest: {total.largest():.3f}; unsupported cases: {total.unsupported}; {total.seconds:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
