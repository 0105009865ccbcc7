"""Resamples of seeds and test examples: intervals, the bootstrap test, verdict shares, seeds needed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from depthlab.claims.resampling import Evidence, Resamples, adjusted, interval, null_p, seeds_to_settle, verdict_shares

EXAMPLES = 114  # breast_cancer's test split


def identical_seeds(wrong: list[int], seeds: int = 10) -> Evidence:
    """Every seed right on every test example but `wrong`: no seed variance at all."""
    correct = np.ones((seeds, EXAMPLES), dtype=bool)
    correct[:, wrong] = False
    return Evidence("breast_cancer", correct, {})


def difference_p(evidence: dict, examples: bool) -> tuple[float, float, float, float]:
    resamples = Resamples(evidence, count=2000, seed=1, examples=examples)
    difference = resamples.accuracy("a") - resamples.accuracy("b")
    return (*interval(difference, 0.95), float(null_p(difference)[0]))


@pytest.mark.parametrize(("differing", "significant"), [(2, False), (30, True)])
def test_two_configurations_differing_on_few_test_rows_are_not_significant_on_many_they_are(differing, significant):
    evidence = {"a": identical_seeds([]), "b": identical_seeds(list(range(differing)))}
    estimate, low, _, p = difference_p(evidence, examples=True)
    assert estimate == pytest.approx(differing / EXAMPLES)
    assert (p < 0.05) == significant and (low > 0) == significant
    # Over seeds alone, the same two rows would read as certain: the interval has no width.
    _, low_seeds, high_seeds, p_seeds = difference_p(evidence, examples=False)
    assert low_seeds == high_seeds == pytest.approx(differing / EXAMPLES) and p_seeds < 0.001


def test_resample_zero_is_the_study_as_measured_and_examples_are_paired_across_configurations():
    rng = np.random.default_rng(3)
    correct = rng.random((10, EXAMPLES)) < 0.8
    resamples = Resamples({"a": Evidence("d", correct, {}), "b": Evidence("d", correct.copy(), {})}, count=50)
    assert resamples.accuracy("a")[0] == pytest.approx(correct.mean())
    # The same examples for both (paired); their seeds drawn apart, so the two differ only through seeds.
    seeds_only = Resamples({"a": Evidence("d", correct, {})}, count=50, examples=False)
    assert np.allclose(seeds_only.seed_accuracy("a")[0], correct.mean(axis=1))
    same_seed = Evidence("d", correct[:1], {})
    pair = Resamples({"a": same_seed, "b": same_seed}, count=50)
    assert np.array_equal(pair.accuracy("a"), pair.accuracy("b"))


def test_per_seed_values_follow_the_seed_draws():
    evidence = Evidence("d", np.ones((3, 5), dtype=bool), {"train_time_s": np.array([1.0, 2.0, 3.0])})
    resamples = Resamples({"a": evidence}, count=20)
    times = resamples.seed_values("a", "train_time_s")
    assert times.shape == (21, 3) and np.array_equal(times[0], [1.0, 2.0, 3.0]) and set(times.ravel()) <= {1, 2, 3}


def test_a_verdict_share_matches_its_known_probability():
    """5 of 10 seeds collapsed: a replicate draws Binomial(10, 1/2) collapsed seeds, so a rule on "more than 5"
    / "fewer than 5" / "exactly 5" comes out 37.7% / 37.7% / 24.6%."""
    correct = np.zeros((10, EXAMPLES), dtype=bool)
    correct[5:] = True  # seeds 5-9 right everywhere, seeds 0-4 wrong everywhere
    resamples = Resamples({"a": Evidence("d", correct, {})}, count=4000, seed=7)
    collapsed = (resamples.seed_accuracy("a") < 0.5).sum(axis=1)
    rule = ["refuted" if n > 5 else "supported" if n < 5 else "depends" for n in collapsed]
    shares = verdict_shares(rule, agreement=0.9)
    assert shares.measured == "depends"
    tail = float(stats.binom.sf(5, 10, 0.5))
    assert shares.shares["refuted"] == pytest.approx(tail, abs=0.025)
    assert shares.shares["supported"] == pytest.approx(tail, abs=0.025)
    assert shares.shares["depends"] == pytest.approx(stats.binom.pmf(5, 10, 0.5), abs=0.025)
    assert shares.stated == "inconclusive" and shares.text().count("%") == 3


def test_a_verdict_is_stated_only_above_the_agreement():
    assert verdict_shares(["refuted"] + ["refuted"] * 91 + ["depends"] * 9, 0.9).stated == "refuted"
    held = verdict_shares(["refuted"] + ["refuted"] * 64 + ["depends"] * 36, 0.9)
    assert held.stated == "inconclusive" and held.text() == "refuted 64% · depends 36%"


def test_each_replicate_gets_the_p_it_would_have_found():
    replicated = np.array([0.1, 0.0, 0.2, 0.1, 0.3, 0.1])  # deviations from 0.1: 0.1, 0.1, 0, 0.2, 0
    p = null_p(replicated)
    assert p[0] == pytest.approx((1 + 3) / 6)  # three deviations are at least 0.1
    assert p[1] == pytest.approx(1.0) and p[4] == pytest.approx((1 + 0) / 6)


def test_adjustment_is_per_replicate():
    ps = np.array([[0.01, 0.5], [0.04, 0.01], [math.nan, 0.03]])
    out = adjusted(ps)
    assert np.allclose(out[:2, 0], stats.false_discovery_control([0.01, 0.04]))
    assert np.allclose(out[:, 1], stats.false_discovery_control([0.5, 0.01, 0.03])) and math.isnan(out[2, 0])


def test_seeds_to_settle_an_effect():
    rng = np.random.default_rng(0)
    seed_noise = np.concatenate([[0.0], rng.normal(0, 0.02, 4000)])  # se 0.02 at 10 seeds, from seeds only
    no_noise = np.zeros(4001)
    # An effect of 0.02 needs se 0.02 / 2.80: (2.80)^2 = 7.8 times the variance: 79 seeds.
    assert seeds_to_settle(0.02, seed_noise, no_noise, 10, 0.05) == pytest.approx(79, abs=4)
    assert seeds_to_settle(0.2, seed_noise, no_noise, 10, 0.05) == 10  # already settled
    example_noise = np.concatenate([[0.0], rng.normal(0, 0.02, 4000)])
    assert seeds_to_settle(0.02, seed_noise, example_noise, 10, 0.05) is None  # the test set is too small
