"""Mann-Kendall, Theil-Sen and the bootstrap: a worked example by hand, and SciPy as an independent
implementation (kendalltau, theilslopes) on random series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from greenwatch.services.trend import bootstrap_se_median, mann_kendall, theil_sen


def test_mann_kendall_by_hand() -> None:
    # x = 1 3 2 5 4 at t = 1..5: 8 concordant, 2 discordant pairs -> S = 6; Var(S) = 5*4*15/18;
    # Z = (6 - 1) / sqrt(16.667) = 1.2247; p = erfc(1.2247 / sqrt 2) = 0.2207; tau = 6 / 10.
    # Pairwise slopes sorted: -1 -1 1/3 1/2 3/4 1 1 4/3 2 3 -> Theil-Sen 0.875, intercept 3 - 0.875 * 3.
    mk = mann_kendall([1, 2, 3, 4, 5], [1, 3, 2, 5, 4])
    assert (mk.n, mk.s) == (5, 6)
    assert mk.var_s == pytest.approx(16.6667, abs=1e-4)
    assert mk.z == pytest.approx(1.2247, abs=1e-4)
    assert mk.p == pytest.approx(0.2207, abs=1e-4)
    assert mk.tau == pytest.approx(0.6)
    assert (mk.slope, mk.intercept) == (pytest.approx(0.875), pytest.approx(0.375))
    assert mk.trend == "no trend"


def test_mann_kendall_ties_and_a_significant_decrease() -> None:
    # 8 strictly falling values: S = -28, Var = 8*7*21/18 = 65.33, Z = -27/8.083 = -3.340, p = 0.00084
    mk = mann_kendall(list(range(2024, 2032)), [1000 - 0.5 * i for i in range(8)], alpha=0.05)
    assert mk.s == -28 and mk.z == pytest.approx(-3.3404, abs=1e-4) and mk.p == pytest.approx(0.000837, abs=1e-5)
    assert mk.trend == "decreasing" and mk.slope == pytest.approx(-0.5)
    # ties: two values of 1000 form a tie group (t = 2): Var = (1176 - 2*1*9) / 18
    tied = mann_kendall(list(range(8)), [1000, 990, 980, 975, 972, 971, 1000, 1001])
    assert tied.s == -3 and tied.var_s == pytest.approx(1158 / 18)
    assert tied.trend == "no trend"
    flat = mann_kendall([1, 2, 3], [5, 5, 5])
    assert (flat.s, flat.z, flat.p, flat.slope) == (0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="length"):
        mann_kendall([1, 2], [1.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3)), min_size=3, max_size=25))
def test_against_scipy(values: list[float]) -> None:
    t = list(range(2024, 2024 + len(values)))
    mk = mann_kendall([float(y) for y in t], values)
    ref_slope, ref_icpt, _, _ = stats.theilslopes(values, t)
    assert mk.slope == pytest.approx(ref_slope, rel=1e-9, abs=1e-9)
    assert mk.intercept == pytest.approx(ref_icpt, rel=1e-6, abs=1e-3)
    if len(set(values)) == len(values):  # no ties: tau-a == tau-b and S = tau * n(n-1)/2
        tau, _ = stats.kendalltau(t, values)
        assert mk.s == round(tau * len(values) * (len(values) - 1) / 2)
        # SciPy's asymptotic p has no continuity correction: undo ours to compare
        z_raw = mk.s / math.sqrt(mk.var_s)
        assert stats.norm.sf(abs(z_raw)) * 2 == pytest.approx(stats.kendalltau(t, values, method="asymptotic")[1])


def test_theil_sen_skips_equal_times_and_resists_an_outlier() -> None:
    assert theil_sen([1, 1], [2, 4]) == (0.0, 3.0)
    slope, _ = theil_sen([0, 1, 2, 3, 4, 5], [0, 1, 2, 300, 4, 5])
    assert slope == pytest.approx(1.0)


def test_bootstrap_standard_error_of_the_median() -> None:
    assert bootstrap_se_median([5.0]) == 0.0 and bootstrap_se_median([3.0, 3.0, 3.0]) == 0.0
    values = [float(v) for v in np.random.default_rng(7).normal(100.0, 10.0, 400)]
    se = bootstrap_se_median(values)
    assert se == bootstrap_se_median(list(values)), "the same values give the same figure"
    assert se == pytest.approx(1.2533 * 10.0 / math.sqrt(400), rel=0.3)  # asymptotic SE of a median
    assert bootstrap_se_median(values[:100]) > se  # fewer observations, more uncertainty
