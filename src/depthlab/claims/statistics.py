"""The statistics of the claims that are not resampled, and the rule of a failed seed.

Accuracies are compared on replicates of the study (`claims.replicates`: seeds and test examples resampled
together). What stays here:
- the intervals of training time and throughput, one value per configuration's ensemble (its seeds share
  it), by the bootstrap (BCa, `scipy.stats.bootstrap`);
- a trend with depth: Spearman's rank correlation over every seed's value; its effect is the ratio of the
  deepest to the shallowest configuration's mean, with a bootstrap interval;
- Benjamini-Hochberg adjustment of a claim's tests together (`scipy.stats.false_discovery_control`);
- `failed`: which seeds collapsed.
Every test returns an `Effect`, so that a claim can swap one test for another without changing its rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

RESAMPLES = 2000


@dataclass(frozen=True)
class Effect:
    """A point estimate, its interval (NaN where a test has none), and the p of its test; `basis` names how a
    resampled effect was computed (kind and configurations), so what would settle it can be worked out."""

    estimate: float
    low: float
    high: float
    p: float = math.nan
    cliffs_delta: float = math.nan
    basis: tuple[str, Hashable, Hashable] | None = None


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


def _mean_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) / np.mean(b, axis=axis)


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


def ratio(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """mean(a) / mean(b) with its bootstrap interval."""
    a, b = _values(a), _values(b)
    if not len(a) or not len(b):
        return Effect(math.nan, math.nan, math.nan)
    return Effect(*bootstrap((a, b), _mean_ratio, confidence))


def failed(accuracies: np.ndarray, chance: float, margin: float) -> np.ndarray:
    """Which seeds failed, along the last axis (the seeds of one configuration): accuracy closer to chance
    (the majority class's share) than to the configuration's median seed, or below chance + margin x
    (1 - chance), a margin that scales with the classes; a seed without an accuracy failed too. A digits
    seed at 21% beside a median of 95% failed, though 11 points above chance."""
    median = np.nanmedian(accuracies, axis=-1, keepdims=True)
    closer_to_chance = accuracies - chance < median - accuracies
    return closer_to_chance | (accuracies < chance + margin * (1 - chance)) | ~np.isfinite(accuracies)


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
