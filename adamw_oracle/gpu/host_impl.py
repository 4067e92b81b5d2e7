"""The GPU layer's stand-in in the cross-layer checks: cases run through the host build.

:class:`HostBuildImplementation` packs a :class:`~adamw_oracle.contract.case.Case` into the
batched-case layout (the one ``kernels/batched_cases.cu`` uses on the device) and runs the kernels'
own per-element arithmetic on the CPU. ``run_batch`` packs many cases into one call, as the fuzzing
kernel does.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from adamw_oracle.contract.case import Case, Observation
from adamw_oracle.contract.conventions import Family, parse_choice
from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.contract.precision import ParamRounding, ParamSummation, PrecisionModel
from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.gpu.codes import SCALAR_COUNT, flags_for
from adamw_oracle.gpu.host import host_batched_cases
from adamw_oracle.gpu.scalars import scalar_table, step_scalars
from adamw_oracle.gpu.storage import kind_of


class HostBuildImplementation:
    """Runs cases on the host build of the CUDA kernels (float64; float32; float16/bfloat16 parameters
    with float32 arithmetic and float32 state).

    * Hyperparameters are the float64 roundings of the case's exact values; per-step scalars are
      computed from them in double (:mod:`adamw_oracle.gpu.scalars`) and rounded once to float32 for
      float32 arithmetic.
    * The initial state is rounded once (to nearest even) into the state dtype.
    * ``Observation.params[k, i]`` is the stored parameter after step k+1; ``state`` holds ``m``
      (and ``v``, ``vmax`` for Adam) after the last step, as float64 values of the state dtype.
    """

    name = "gpu-host-build"

    def __init__(self, arithmetic: Dtype | str | None = None,
                 rounding: ParamRounding | str = ParamRounding.NEAREST,
                 summation: ParamSummation | str = ParamSummation.PLAIN) -> None:
        """``arithmetic="float32"``: float64 parameters are computed in float32 with float32 state
        (the kernels' ``f64c32`` instantiation); the other dtypes compute in float32 anyway.
        ``rounding="stochastic"``: bfloat16 parameters are stored by stochastic rounding (the other
        dtypes round to nearest). ``summation="kahan"``: the parameter is kept with Kahan compensation
        (the observation carries the compensation after every step)."""
        self.arithmetic = None if arithmetic is None else Dtype.parse(arithmetic, "arithmetic")
        if self.arithmetic not in (None, Dtype.FLOAT32):
            raise InvalidArgumentError("arithmetic", self.arithmetic.value, "None (the dtype's own) or float32")
        self.rounding = parse_choice(ParamRounding, rounding, "rounding")
        self.summation = parse_choice(ParamSummation, summation, "summation")
        chosen = [self.arithmetic is not None, self.rounding is not ParamRounding.NEAREST,
                  self.summation is not ParamSummation.PLAIN]
        if sum(chosen) > 1:
            raise InvalidArgumentError("HostBuildImplementation", (arithmetic, self.rounding.value, self.summation.value),
                                       "at most one of arithmetic='float32', rounding='stochastic', summation='kahan'")
        if self.arithmetic is not None:
            self.name = "gpu-host-build[float32-arithmetic]"
        elif self.rounding is ParamRounding.STOCHASTIC:
            self.name = "gpu-host-build[stochastic-rounding]"
        elif self.summation is ParamSummation.KAHAN:
            self.name = "gpu-host-build[kahan]"

    def precision_model(self, dtype: Dtype | str) -> PrecisionModel:
        """The precision model of the kernels' arithmetic for parameters of ``dtype``."""
        dtype = Dtype.parse(dtype)
        if self.arithmetic is Dtype.FLOAT32:
            return PrecisionModel.float32_arithmetic(dtype)
        if self.rounding is ParamRounding.STOCHASTIC:
            return PrecisionModel.stochastic(dtype)
        if self.summation is ParamSummation.KAHAN:
            return PrecisionModel.kahan(dtype)
        return PrecisionModel.mixed(dtype)

    def run(self, case: Case) -> Observation:
        return self.run_batch([case])[0]

    def run_batch(self, cases: Sequence[Case]) -> list[Observation]:
        """Observations of many cases; cases of one dtype and step count share one library call."""
        results: list[Observation | None] = [None] * len(cases)
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, case in enumerate(cases):
            groups[(case.dtype.value, case.run.steps)].append(index)
        for (dtype, steps), members in groups.items():
            try:
                rounding = self.rounding if dtype == Dtype.BFLOAT16.value else ParamRounding.NEAREST
                observations = _run_group([cases[i] for i in members], dtype, steps, self.arithmetic, rounding,
                                          self.summation)
            except Exception as exc:  # reported per case, as the protocol asks, never raised into the fuzz
                observations = [Observation(np.empty((0, cases[i].run.size)), error=f"{type(exc).__name__}: {exc}") for i in members]
            for i, observation in zip(members, observations):
                results[i] = observation
        return [r for r in results if r is not None]


def _run_group(cases: list[Case], dtype: str, steps: int, arithmetic: Dtype | None = None,
               rounding: ParamRounding = ParamRounding.NEAREST,
               summation: ParamSummation = ParamSummation.PLAIN) -> list[Observation]:
    kind = kind_of(dtype, arithmetic)
    sizes = [case.run.size for case in cases]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    elem_case = np.repeat(np.arange(len(cases), dtype=np.int32), sizes)
    case_flags = np.array([flags_for(case.run.config, rounding, summation) for case in cases], dtype=np.int32)
    case_scalars = np.zeros((len(cases), steps, SCALAR_COUNT), dtype=np.float64)
    p0 = np.empty(total, dtype=kind.storage)
    grads = np.empty((steps, total), dtype=kind.storage)
    m = np.empty(total, dtype=kind.compute)
    v = np.empty(total, dtype=kind.compute)
    vmax = np.empty(total, dtype=kind.compute)
    for c, case in enumerate(cases):
        lo, hi = offsets[c], offsets[c + 1]
        state = case.run.initial_state
        assert state is not None
        if case.run.schedule is None:
            case_scalars[c] = scalar_table(case.run.config, state.step + 1, steps)
        else:  # a per-step schedule: each step's scalars from its own configuration
            case_scalars[c] = np.stack([step_scalars(case.run.config_at(k), state.step + 1 + k) for k in range(steps)])
        p0[lo:hi] = kind.to_storage(case.initial_params())
        grads[:, lo:hi] = kind.to_storage(case.gradients())
        m[lo:hi] = kind.state_values(state.m)
        v[lo:hi] = kind.state_values(state.v)
        vmax[lo:hi] = kind.state_values(state.vmax)
    comp_traj = np.empty((steps, total), dtype=kind.storage)
    traj = host_batched_cases(kind.dtype, elem_case, case_flags, case_scalars, p0, grads, m, v, vmax,
                              arithmetic=arithmetic, comp_traj=comp_traj)
    params = kind.from_storage(traj)
    kahan = summation is ParamSummation.KAHAN
    compensation = kind.from_storage(comp_traj) if kahan else None
    out = []
    for c, case in enumerate(cases):
        lo, hi = offsets[c], offsets[c + 1]
        state_out = {"m": m[lo:hi].astype(np.float64)}
        if case.run.config.conventions.family is Family.ADAM:
            state_out["v"] = v[lo:hi].astype(np.float64)
            state_out["vmax"] = vmax[lo:hi].astype(np.float64)
        out.append(Observation(params[:, lo:hi].copy(), state_out,
                               compensation=None if compensation is None else compensation[:, lo:hi].copy()))
    return out
