"""The symbolic one-step update turned into mpmath-evaluable functions of exact inputs.

``lambdified_step(config)`` is the second, independently written formulation of the step (built from
:mod:`adamw_oracle.symbolic.step`, never from the reference code) that the cross-layer fuzz compares
with :func:`adamw_oracle.reference.reference_step`::

    fn = lambdified_step(config)
    out = fn(p, g, m, v, vmax, t, prec=256)   # t: the 1-based number of the step being taken
    out["p_new"], out["m"], ...               # mpmath mpf values, keys = ADAM_FIELDS or SGD_FIELDS

Every evaluation runs in a private mpmath context at ``prec`` bits. :func:`interval_step` evaluates the
same expressions in interval arithmetic, giving enclosures of the exact values.
"""
from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import Conventions, Family
from adamw_oracle.contract.exact import to_exact
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.symbolic.compile import CompiledExpressions
from adamw_oracle.symbolic.numbers import IntervalNumbers, PointNumbers, check_prec
from adamw_oracle.symbolic.step import adam_step, sgd_step
from adamw_oracle.symbolic.symbols import HYPER, STATE

_HYPER_FIELDS = ("lr", "beta1", "beta2", "eps", "eps_root", "weight_decay", "momentum", "dampening", "schedule")
_NUMERIC_ARGS = (STATE.p, STATE.g, STATE.m, STATE.v, STATE.vmax) + tuple(getattr(HYPER, f) for f in _HYPER_FIELDS)


@cache
def compiled_step(conv: Conventions, has_momentum: bool = False, nesterov: bool = False, first_step: bool = False) -> CompiledExpressions:
    """The compiled step of ``conv`` (SGD: one branch of momentum / Nesterov / first step)."""
    if conv.family is Family.ADAM:
        exprs = adam_step(conv)
    else:
        exprs = sgd_step(conv, has_momentum=has_momentum, nesterov=nesterov, first_step=first_step)
    return CompiledExpressions(exprs, _NUMERIC_ARGS, (STATE.t,))


class StepFunction:
    """One configuration's step: ``fn(p, g, m, v, vmax, t, *, prec=256) -> dict[str, mpf]``.

    * inputs ``p, g, m, v, vmax`` are exact (Fraction, int, binary float; g may be inf/nan);
    * ``t`` >= 1 is the number of the step being taken (the SGD buffer is initialised at t == 1);
    * SGD ignores ``v`` and ``vmax``; keys are those of ``ADAM_FIELDS`` or ``SGD_FIELDS``.
    """

    def __init__(self, config: OptimizerConfig, *, interval: bool = False) -> None:
        if not isinstance(config, OptimizerConfig):
            raise InvalidArgumentError("config", config, "an OptimizerConfig (e.g. adamw_oracle.preset('torch.AdamW'))")
        self.config = config
        self.interval = interval
        hyper = config.hyper
        self._hyper_exact = tuple(
            hyper.schedule_multiplier if name == "schedule" else getattr(hyper, name) for name in _HYPER_FIELDS
        )
        self._has_momentum = config.conventions.family is Family.SGD and hyper.momentum != 0
        self._nesterov = config.conventions.family is Family.SGD and hyper.nesterov
        self._numbers: dict[int, tuple[Any, tuple[Any, ...]]] = {}

    def _system(self, prec: int) -> tuple[Any, tuple[Any, ...]]:
        if prec not in self._numbers:
            numbers = IntervalNumbers(prec) if self.interval else PointNumbers(prec)
            self._numbers[prec] = (numbers, tuple(numbers.convert(x) for x in self._hyper_exact))
        return self._numbers[prec]

    def __call__(self, p: Any, g: Any, m: Any, v: Any, vmax: Any, t: int, *, prec: int = 256) -> dict[str, Any]:
        check_prec(prec)
        if not isinstance(t, int) or isinstance(t, bool) or t < 1:
            raise InvalidArgumentError("t", t, "an int >= 1 (the 1-based number of the step being taken)")
        state = []
        for name, value in (("p", p), ("g", g), ("m", m), ("v", v), ("vmax", vmax)):
            exact = to_exact(value, name, allow_nonfinite=not self.interval)
            if name in ("v", "vmax") and isinstance(exact, Fraction) and exact < 0:
                raise InvalidArgumentError(name, str(exact), "a number >= 0")
            state.append(exact)
        numbers, hyper_values = self._system(prec)
        compiled = compiled_step(
            self.config.conventions, self._has_momentum, self._nesterov, self._has_momentum and t == 1
        )
        values = tuple(numbers.convert(x) for x in state) + hyper_values
        return compiled(numbers, values, (t,))


def lambdified_step(config: OptimizerConfig) -> StepFunction:
    """The symbolic step of ``config`` as a function of exact inputs, evaluated at ``prec`` bits.

    Example:
        >>> from fractions import Fraction as F
        >>> from adamw_oracle import preset
        >>> fn = lambdified_step(preset("torch.AdamW", lr="0.001", weight_decay="0.01"))
        >>> out = fn(F(4, 5), F(-3, 10), 0, 0, 0, 1)
        >>> str(out["p_new"])[:12]
        '0.8009919999'
    """
    return StepFunction(config)


def interval_step(config: OptimizerConfig) -> StepFunction:
    """As :func:`lambdified_step`, in interval arithmetic: each value is an enclosure (``ivmpf``)."""
    return StepFunction(config, interval=True)
