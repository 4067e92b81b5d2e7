"""The fast rounding of floats to a dtype (verify.rounding) is the contract's exact rounding, bit for bit."""
from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest

from adamw_oracle.contract.dtypes import Dtype
from adamw_oracle.verify.rounding import round_array, round_value, round_values


def _edge_values(dtype: Dtype) -> list[float]:
    """Floats where rounding is delicate for ``dtype``: exact midpoints between neighbouring values (ties,
    in the normal and the subnormal range), one float64 ulp either side of them, binade edges, the
    largest value and just below the overflow threshold, zeros."""
    fmt = dtype.format
    out = [0.0, -0.0]
    points = [fmt.smallest_subnormal * k for k in (1, 2, 3, 7)] + [fmt.smallest_normal, Fraction(1), Fraction(3, 2),
                                                                   fmt.largest / 2, fmt.largest]
    for x in points:
        q = fmt.ulp(x)
        for mid in (x + q / 2, x - fmt.ulp(x - q / 2 if x > q else x) / 2):
            if mid > Dtype.FLOAT64.format.largest:  # beyond float64 (its largest value plus half an ulp)
                continue
            m = float(mid)
            out += [m, math.nextafter(m, math.inf), math.nextafter(m, -math.inf)]
        out.append(float(x))
    below = fmt.largest + Fraction(2) ** (fmt.emax - fmt.precision)  # the overflow threshold
    if dtype is not Dtype.FLOAT64:
        out.append(math.nextafter(float(below), 0.0))
    return out + [-x for x in out]


def _random_values(count: int, seed: int) -> list[float]:
    """Floats over every binade float64 has near the formats' ranges, and random bit patterns."""
    rng = random.Random(seed)
    values = [rng.uniform(1, 2) * 2.0 ** rng.randint(-1080, 130) * rng.choice((1, -1)) for _ in range(count)]
    raw = np.random.default_rng(seed).integers(0, 2**63, count, dtype=np.uint64).view(np.float64)
    return values + [float(x) for x in raw if np.isfinite(x)]


@pytest.mark.parametrize("dtype", list(Dtype), ids=lambda d: d.value)
def test_fast_rounding_is_the_exact_rounding(dtype: Dtype) -> None:
    values = _edge_values(dtype) + _random_values(3000, 11)
    fmt = dtype.format
    expected = [fmt.round(Fraction(x)) for x in values]
    assert [round_value(x, dtype) for x in values] == expected
    assert list(round_values(values, dtype)) == expected
    finite = [i for i, e in enumerate(expected) if isinstance(e, Fraction)]
    arr = round_array(np.array([values[i] for i in finite]), dtype)
    assert [Fraction(float(x)) for x in arr] == [expected[i] for i in finite]
    assert all(isinstance(x, Fraction) for x in round_values([1.0, 0.0, -0.0], dtype))


@pytest.mark.parametrize("dtype", [Dtype.FLOAT32, Dtype.FLOAT16, Dtype.BFLOAT16], ids=lambda d: d.value)
def test_overflow_and_non_finite_follow_the_exact_rounding(dtype: Dtype) -> None:
    fmt = dtype.format
    threshold = float(fmt.largest + Fraction(2) ** (fmt.emax - fmt.precision))
    assert round_value(threshold, dtype) == math.inf
    assert round_value(-threshold, dtype) == -math.inf
    assert round_values([1.0, threshold], dtype) == (Fraction(1), math.inf)
    with pytest.raises(ValueError):
        round_array(np.array([threshold]), dtype)
    for bad, error in ((math.inf, OverflowError), (math.nan, ValueError)):  # Fraction(x) raises, as for the exact rounding
        with pytest.raises(error):
            fmt.round(Fraction(bad))
        with pytest.raises(error):
            round_value(bad, dtype)
