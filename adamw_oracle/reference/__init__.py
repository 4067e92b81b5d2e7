"""The reference layer: arbitrary-precision Adam/AdamW/SGD/SGDW in private mpmath contexts.

* :func:`reference_step` -- one step over a vector from exact inputs, every intermediate returned.
* :func:`run_trajectory` -- a whole :class:`~adamw_oracle.contract.run.Run` in a chosen backend.
* :func:`certify_run` -- certified decimal digits (and float64/float32 roundings) by interval arithmetic.
"""
from adamw_oracle.reference.backends import Backend, IntervalBackend, PointBackend, mpf_to_fraction
from adamw_oracle.reference.certify import CertifiedTrajectory, CertifiedValue, certify_run
from adamw_oracle.reference.constants import StepConstants
from adamw_oracle.reference.digits import fixed, significant
from adamw_oracle.reference.records import ADAM_FIELDS, SGD_FIELDS, ElementStep
from adamw_oracle.reference.trajectory import Trajectory, reference_step, run_trajectory, step_elements

__all__ = [
    "ADAM_FIELDS", "Backend", "CertifiedTrajectory", "CertifiedValue", "ElementStep", "IntervalBackend",
    "PointBackend", "SGD_FIELDS", "StepConstants", "Trajectory", "certify_run", "fixed", "mpf_to_fraction",
    "reference_step", "run_trajectory", "significant", "step_elements",
]
