"""Public hypothesis strategies for Adam/AdamW/SGD/SGDW cases (re-exports; see docs/strategies.md).

Example::

    from hypothesis import given
    from adamw_oracle.strategies import cases
    from adamw_oracle.verify import judge

    @given(cases(dtypes_=["float32"]))
    def test_my_adam(case):
        assert judge(case, my_implementation.run(case)).passed
"""
from adamw_oracle.verify.strategies import (
    BETA1S,
    BETA2S,
    EPSILONS,
    GRADIENT_PATTERNS,
    LEARNING_RATES,
    LONG_RUN_LENGTHS,
    SEEDED_STEPS,
    SIZES,
    WEIGHT_DECAYS,
    LabelledCase,
    cases,
    configs,
    convention_choices,
    describe_case,
    dtypes,
    gradient_sequences,
    huge_magnitude,
    hyperparameters,
    magnitudes,
    parameter_vectors,
    seeded_states,
    sizes,
)

__all__ = [
    "BETA1S", "BETA2S", "EPSILONS", "GRADIENT_PATTERNS", "LEARNING_RATES", "LONG_RUN_LENGTHS", "SEEDED_STEPS",
    "SIZES", "WEIGHT_DECAYS", "LabelledCase", "cases", "configs", "convention_choices", "describe_case",
    "dtypes", "gradient_sequences", "huge_magnitude", "hyperparameters", "magnitudes", "parameter_vectors",
    "seeded_states", "sizes",
]
