"""The shared contract: one description of a run for every layer and for the checking harness."""
from adamw_oracle.contract.config import OptimizerConfig
from adamw_oracle.contract.conventions import (
    AmsGrad,
    BiasCorrection,
    Conventions,
    DecayTarget,
    EpsPlacement,
    Family,
    WeightDecay,
    all_conventions,
)
from adamw_oracle.contract.dtypes import Dtype, FloatFormat
from adamw_oracle.contract.exact import to_exact
from adamw_oracle.contract.hyperparameters import Hyperparameters, exact_str
from adamw_oracle.contract.presets import PRESETS, Preset, get_preset, preset
from adamw_oracle.contract.run import Run, constant_gradients
from adamw_oracle.contract.scalars import (
    STEP_SCALARS,
    WEIGHT_DECAY_RULES,
    bias_corrected,
    decay_coefficient,
    decay_rule,
)
from adamw_oracle.contract.state import OptimizerState, exact_state, zero_state

__all__ = [
    "AmsGrad", "BiasCorrection", "Conventions", "DecayTarget", "Dtype", "EpsPlacement", "Family",
    "FloatFormat", "Hyperparameters", "OptimizerConfig", "OptimizerState", "PRESETS", "Preset", "Run",
    "STEP_SCALARS", "WEIGHT_DECAY_RULES", "WeightDecay", "all_conventions", "bias_corrected",
    "constant_gradients", "decay_coefficient", "decay_rule", "exact_state", "exact_str", "get_preset",
    "preset", "to_exact", "zero_state",
]
