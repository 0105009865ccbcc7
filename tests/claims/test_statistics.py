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


def test_a_failed_seed_is_closer_to_chance_than_to_its_median_seed_or_under_a_margin_scaled_to_the_classes():
    # Ten classes (chance 10%), median seed 95%: a seed at 21% failed though 11 points above chance.
    digits = np.array([0.21, 0.5, 0.6, 0.94, 0.95, 0.95, 0.96, math.nan])
    failed = statistics.failed(digits, chance=0.1, margin=0.1)
    assert failed.tolist() == [True, True, False, False, False, False, False, True]
    # Two classes, majority 63%: every seed at 65% failed, though none is far from its median (margin: 66.7%).
    assert statistics.failed(np.full(5, 0.65), chance=0.63, margin=0.1).all()
    assert not statistics.failed(np.full(5, 0.70), chance=0.63, margin=0.1).any()


def test_benjamini_hochberg_adjusts_a_claims_tests_together():
    assert statistics.adjusted([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.04, math.nan, 0.04], nan_ok=True)
