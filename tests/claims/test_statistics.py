import math

import numpy as np
import pandas as pd
import pytest

from depthlab.claims import statistics


def test_accuracy_intervals_stay_inside_0_and_1_even_for_bimodal_seeds():
    collapsed_and_trained = pd.Series([0.1] * 6 + [0.97] * 4)
    mean, low, high = statistics.mean_interval(collapsed_and_trained, 0.95)
    assert mean == pytest.approx(0.448) and 0.1 <= low < mean < high <= 0.97
    assert statistics.mean_interval(pd.Series([1.0, 1.0, 1.0]), 0.95) == (1.0, 1.0, 1.0)
    assert all(np.isnan(statistics.mean_interval(pd.Series([], dtype=float), 0.95)))


def test_collapse_rate_has_the_exact_binomial_interval():
    found = statistics.collapse(pd.Series([0.1, 0.12, 0.9, 0.95, 0.11]), chance=0.1, margin=0.05, confidence=0.95)
    assert (found.collapsed, found.seeds) == (3, 5)
    assert (found.low, found.high) == pytest.approx((0.1466, 0.9473), abs=1e-3)  # Clopper-Pearson for 3 of 5
    none = statistics.collapse(pd.Series([0.9] * 10), chance=0.1, margin=0.05, confidence=0.95)
    assert none.low == 0 and none.high == pytest.approx(0.3085, abs=1e-3)


def test_a_difference_has_a_permutation_test_and_an_interval_of_the_right_sign():
    effect = statistics.difference(
        pd.Series([0.9, 0.91, 0.92, 0.93, 0.94]), pd.Series([0.5, 0.52, 0.54, 0.56, 0.58]), 0.95
    )
    assert effect.estimate == pytest.approx(0.38) and 0.3 < effect.low < effect.estimate < effect.high < 0.45
    assert effect.p == pytest.approx(2 / 252) and effect.cliffs_delta == 1.0  # exact: 252 relabellings of 5 vs 5


def test_benjamini_hochberg_adjusts_a_claims_tests_together():
    assert statistics.adjusted([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.04, math.nan, 0.04], nan_ok=True)
