"""The judge judged: hunt each deliberately broken step with the fuzz's strategies.

For a mutation, cases are drawn from :func:`adamw_oracle.strategies.cases` restricted to the
conventions where the mutation changes the result (``mutation.applies``); the hunt stops at the first
case the judge rejects and shrinks nothing (the case is printed as drawn).
"""
from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adamw_oracle.contract.conventions import AmsGrad, all_conventions
from adamw_oracle.contract.presets import PRESETS
from adamw_oracle.verify.distributed import draws_independent_of_imports
from adamw_oracle.verify.judge import Judgement, judge
from adamw_oracle.verify.mutations import MUTATIONS, Mutation

if TYPE_CHECKING:
    from adamw_oracle.verify.distributed import Engine


@dataclass(frozen=True)
class Hunt:
    """Outcome of hunting one mutation."""

    mutation: Mutation
    caught: bool
    examples: int
    seconds: float
    case: object | None = None
    verdict: Judgement | None = None

    def describe(self) -> str:
        head = (f"{'caught' if self.caught else 'MISSED'} {self.mutation.name} after {self.examples} case(s) "
                f"in {self.seconds:.1f} s -- models {self.mutation.models}")
        if self.verdict is not None and self.verdict.first_failure is not None:
            head += "\n  " + self.verdict.first_failure.describe()
        return head


def expected_preset(mutation: Mutation) -> str | None:
    """The first preset whose conventions (plain, with its AMSGrad form, maximized) the bug affects: what
    ``check`` is told to expect when it hunts the mutation (the contract lists the Adam-family presets
    first, so an SGD-only mutation gets ``torch.SGD``); None when no preset exposes it."""
    for name, spec in PRESETS.items():
        variants = [spec.conventions]
        if spec.amsgrad_form is not None and spec.amsgrad_form is not AmsGrad.OFF:
            variants.append(spec.conventions.replace(amsgrad=spec.amsgrad_form))
        variants += [v.replace(maximize=True) for v in list(variants)]
        if any(mutation.applies(conv) for conv in variants):
            return name
    return None


def hunt(mutation: Mutation, *, max_examples: int = 300, seed: int = 0) -> Hunt:
    """Draw up to ``max_examples`` applicable cases until the judge rejects the mutation.

    The draws depend only on ``seed`` (never on which modules are imported), as on the engine's shards."""
    from hypothesis import HealthCheck, Phase, find, settings  # hypothesis loads only when cases are drawn
    from hypothesis.errors import NoSuchExample  # hypothesis loads only when cases are drawn

    from adamw_oracle.verify.strategies import cases  # heavy or optional

    conventions = [c for c in all_conventions() if mutation.applies(c)]
    counter = [0]

    def rejected(case: object) -> bool:
        counter[0] += 1
        return not judge(case, mutation.run(case)).passed  # type: ignore[arg-type]

    start = time.perf_counter()
    config = settings(max_examples=max_examples, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
    try:
        # the same seed draws the same cases whichever modules happen to be imported (see distributed.py)
        with draws_independent_of_imports():
            found = find(cases(conventions), rejected, settings=config, random=random.Random(seed))
    except NoSuchExample:
        return Hunt(mutation, False, counter[0], time.perf_counter() - start)
    return Hunt(mutation, True, counter[0], time.perf_counter() - start, found, judge(found, mutation.run(found)))


def hunt_all(*, max_examples: int = 300, seed: int = 0, engine: Engine | None = None) -> list[Hunt]:
    """:func:`hunt` every mutation of :data:`~adamw_oracle.verify.mutations.MUTATIONS`, one task per
    mutation on ``engine`` (an open :class:`~adamw_oracle.verify.distributed.Engine`; default serial)."""
    task = functools.partial(hunt, max_examples=max_examples, seed=seed)
    if engine is None:
        return [task(m) for m in MUTATIONS]
    return engine.run(task, MUTATIONS)
