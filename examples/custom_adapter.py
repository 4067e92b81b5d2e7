"""A custom adapter written from scratch against the Implementation protocol (no helper used).

An adapter is any object with a ``name`` and ``run(case) -> Observation``. This one wraps a small
stateful optimizer class with a ``step(grad)`` method, the shape most training-loop optimizers have::

    python -m adamw_oracle check examples.custom_adapter:StepAdamWImplementation --dtype float64
    # or, from Python:  check_target(StepAdamWImplementation(), expect="torch.AdamW")
"""
from __future__ import annotations

import numpy as np

from adamw_oracle.adapters import Case, Observation
from adamw_oracle.contract import Dtype


class StepAdamW:
    """A user's optimizer: AdamW with torch's conventions, one ``step(grad)`` call per step (float64)."""

    def __init__(self, params, lr, betas, eps, weight_decay):
        self.p, self.lr, (self.b1, self.b2), self.eps, self.wd = params, lr, betas, eps, weight_decay
        self.m, self.v, self.t = np.zeros_like(params), np.zeros_like(params), 0

    def step(self, grad):
        self.t += 1
        self.p *= 1 - self.lr * self.wd
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad * grad
        denom = np.sqrt(self.v / (1 - self.b2 ** self.t)) + self.eps
        self.p -= self.lr / (1 - self.b1 ** self.t) * self.m / denom


class StepAdamWImplementation:
    """The adapter: feeds a case to StepAdamW and records the parameters after every step."""

    name = "StepAdamW"
    capabilities = frozenset({"weight_decay"})  # it has no amsgrad, maximize or eps_root option
    dtypes = (Dtype.FLOAT64,)  # it computes in float64 only

    def run(self, case: Case) -> Observation:
        h = case.hyper_floats()
        opt = StepAdamW(case.initial_params(), h["lr"], (h["beta1"], h["beta2"]), h["eps"], h["weight_decay"])
        rows = []
        for grad in case.gradients():
            opt.step(grad.copy())
            rows.append(opt.p.copy())
        params = np.array(rows).reshape(case.run.steps, case.run.size)
        return Observation(params, {"m": opt.m, "v": opt.v})


if __name__ == "__main__":
    from adamw_oracle.check import check_target

    print(check_target(StepAdamWImplementation(), expect="torch.AdamW", dtype="float64", examples=20).describe())
