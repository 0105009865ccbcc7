"""The statistics of the claims, none of which assumes normal errors (deep plain networks are bimodal: some
seeds train, some collapse to chance).

- An interval is a bootstrap interval (BCa, `scipy.stats.bootstrap`); an interval of accuracies stays in
  [0, 1] because every resampled mean does.
- Two configurations are compared by a permutation test of their difference in mean accuracy (no
  normality; unlike a rank test it weighs how far a collapsed seed fell), and the effect is that difference
  with a bootstrap interval, beside Cliff's delta.
- A trend with depth is Spearman's rank correlation over every seed's value; its effect is the ratio of the
  deepest to the shallowest configuration's mean, with a bootstrap interval.
- A change of spread is a permutation test of the difference in standard deviation, its effect that
  difference with a bootstrap interval.
- A seed has collapsed when its test accuracy is within `collapse_margin` of the majority-class rate; the
  collapse rate has an exact (Clopper-Pearson) binomial interval, and two rates are compared by Fisher's
  exact test.
- A claim's tests are one family: their p-values are adjusted together with Benjamini-Hochberg
  (`scipy.stats.false_discovery_control`).
Every test returns an `Effect`, so that a claim can swap one test for another without changing its rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

RESAMPLES = 2000
PERMUTATIONS = 9999


@dataclass(frozen=True)
class Effect:
    """A point estimate, its bootstrap interval (NaN where a test has none), and the p of its test."""

    estimate: float
    low: float
    high: float
    p: float = math.nan
    cliffs_delta: float = math.nan


@dataclass(frozen=True)
class Trend(Effect):
    """A measure against depth: the deepest / shallowest ratio with its interval, and Spearman's rho with
    the p of that rank correlation."""

    rho: float = math.nan


@dataclass(frozen=True)
class Collapse:
    collapsed: int
    seeds: int
    low: float
    high: float


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def _mean_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) / np.mean(b, axis=axis)


def _std_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.std(a, axis=axis, ddof=1) - np.std(b, axis=axis, ddof=1)


def bootstrap(
    samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], confidence: float
) -> tuple[float, float, float]:
    """The statistic and its BCa bootstrap interval (percentile where BCa is undefined, a point where no
    sample varies). Seeded, so a report is reproducible."""
    estimate = float(statistic(*samples))
    if any(len(s) < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        return estimate, estimate, estimate
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                samples,
                statistic,
                confidence_level=confidence,
                method=method,
                n_resamples=RESAMPLES,
                random_state=np.random.default_rng(0),
            )
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return estimate, float(low), float(high)
    return estimate, math.nan, math.nan


def _values(values: pd.Series | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def mean_interval(values: pd.Series | np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean over seeds and its bootstrap interval; NaN without values."""
    array = _values(values)
    if not len(array):
        return math.nan, math.nan, math.nan
    return bootstrap((array,), _mean, confidence)


def difference(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """mean(a) - mean(b) with its bootstrap interval, the two-sided p of a permutation test of that difference
    (exact when the relabellings are fewer than PERMUTATIONS), and Cliff's delta."""
    a, b = _values(a), _values(b)
    if len(a) < 2 or len(b) < 2:
        return Effect(math.nan, math.nan, math.nan)
    estimate, low, high = bootstrap((a, b), _mean_difference, confidence)
    if np.ptp(np.concatenate([a, b])) == 0:
        return Effect(estimate, low, high, 1.0, 0.0)
    test = stats.permutation_test(
        (a, b), _mean_difference, vectorized=True, n_resamples=PERMUTATIONS, random_state=np.random.default_rng(0)
    )
    cliffs_delta = float(np.mean(np.sign(a[:, None] - b[None, :])))  # P(a > b) - P(a < b) over all pairs
    return Effect(estimate, low, high, float(test.pvalue), cliffs_delta)


def ratio(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """mean(a) / mean(b) with its bootstrap interval."""
    a, b = _values(a), _values(b)
    if not len(a) or not len(b):
        return Effect(math.nan, math.nan, math.nan)
    return Effect(*bootstrap((a, b), _mean_ratio, confidence))


def spread_difference(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """std(a) - std(b) with its bootstrap interval and the two-sided p of a permutation test of it. Not the
    Brown-Forsythe test: centred on the median, 8 seeds collapsed to one value and 2 trained look steady
    (p = 0.54 for standard deviations of 24 and 0.4 points, digits, depth 16 vs 0)."""
    a, b = _values(a), _values(b)
    if len(a) < 2 or len(b) < 2:
        return Effect(math.nan, math.nan, math.nan)
    estimate, low, high = bootstrap((a, b), _std_difference, confidence)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Effect(estimate, low, high, 1.0)
    test = stats.permutation_test(
        (a, b), _std_difference, vectorized=True, n_resamples=PERMUTATIONS, random_state=np.random.default_rng(0)
    )
    return Effect(estimate, low, high, float(test.pvalue))


def collapse(accuracies: pd.Series, chance: float, margin: float, confidence: float) -> Collapse:
    """Seeds whose accuracy is within `margin` of the majority-class rate, with an exact binomial interval."""
    values = np.asarray(accuracies, dtype=float)
    collapsed = int(np.sum(~np.isfinite(values) | (values <= chance + margin)))
    if not len(values):
        return Collapse(0, 0, math.nan, math.nan)
    interval = stats.binomtest(collapsed, len(values)).proportion_ci(confidence_level=confidence, method="exact")
    return Collapse(collapsed, len(values), float(interval.low), float(interval.high))


def more_collapses(first: Collapse, second: Collapse) -> Effect:
    """How many more seeds collapsed in `first` than in `second` (no interval), with the p of Fisher's exact
    test of the two rates: NaN without seeds, 1 when neither collapsed."""
    more = first.collapsed - second.collapsed
    if not first.seeds or not second.seeds:
        return Effect(more, math.nan, math.nan)
    table = [[first.collapsed, first.seeds - first.collapsed], [second.collapsed, second.seeds - second.collapsed]]
    return Effect(more, math.nan, math.nan, float(stats.fisher_exact(table).pvalue))


def _spearman(depths: pd.Series, values: pd.Series) -> tuple[float, float]:
    """Spearman's rho and p of values against depth; NaN where undefined."""
    mask = np.isfinite(np.asarray(values, dtype=float))
    if depths[mask].nunique() < 2 or values[mask].nunique() < 2:
        return math.nan, math.nan
    result = stats.spearmanr(depths[mask], values[mask])
    return float(result.statistic), float(result.pvalue)


def depth_trend(depths: pd.Series, values: pd.Series, confidence: float) -> Trend:
    """Spearman's trend of every seed's value with depth, and the deepest / shallowest ratio of means."""
    rho, p = _spearman(depths, values)
    deepest = ratio(values[depths == depths.max()], values[depths == depths.min()], confidence)
    return Trend(deepest.estimate, deepest.low, deepest.high, p, rho=rho)


def adjusted(ps: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values over one claim's tests; NaN stays NaN."""
    finite = [i for i, p in enumerate(ps) if not math.isnan(p)]
    out = [math.nan] * len(ps)
    if finite:
        for i, q in zip(finite, stats.false_discovery_control([ps[i] for i in finite]), strict=True):
            out[i] = float(q)
    return out
