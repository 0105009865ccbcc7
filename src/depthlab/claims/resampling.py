"""Resamples of a study's evidence: every source of variance at once, so a verdict can state its probability.

A configuration's test accuracy varies with its seeds and with the test examples it happened to be scored
on (Bouthillier et al. 2021). One resample of the study draws, per dataset, the test examples with
replacement (one draw shared by every configuration of that dataset, so comparisons stay paired by example),
and per configuration its seeds with replacement. Resample 0 is the study as measured (no resampling), so
every statistic is an array whose element 0 is the observed value and whose others are its replicates.

From the replicates:
- an interval is the percentile interval of the replicates;
- a difference is tested against zero by the bootstrap's own null distribution (Hall & Wilson 1991): the
  replicates' deviations from the estimate, |t* - t|, against the estimate's distance from zero;
- the same test applied to each replicate (its own distance from zero against the same deviations) says
  whether that replicate of the study would have found the difference: re-running a claim's whole verdict
  rule on every replicate gives the share of replicates that reach each verdict, its probability.

All of it is arithmetic on per-example results (a few hundred resamples of a study take about a second).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

Key = Hashable  # a configuration, e.g. (dataset, family, depth)


@dataclass(frozen=True)
class Evidence:
    """One configuration's reported runs: `correct[s, e]`, whether seed s classified test example e right,
    and per-seed values that have no test examples (`test_accuracy` where `correct` is not kept: runs read
    back from MLflow, whose test examples are then treated as fixed)."""

    dataset: str
    correct: np.ndarray | None  # (seeds, examples) bool
    per_seed: Mapping[str, np.ndarray]  # name -> (seeds,) float

    @property
    def seeds(self) -> int:
        return len(next(iter(self.per_seed.values()))) if self.correct is None else self.correct.shape[0]


class Resamples:
    """`count` joint resamples of a study's evidence (plus resample 0, the study itself), drawn once and
    shared by every statistic, so that the statistics of one resample describe one replicate of the study.

    `seeds=False` or `examples=False` resample one source alone: what is left of the variance when the other
    is held fixed, to tell which of the two an uncertain effect would need more of."""

    def __init__(
        self, evidence: Mapping[Key, Evidence], count: int, seed: int = 0, seeds: bool = True, examples: bool = True
    ):
        self.evidence = dict(evidence)
        self.count = count
        rng = np.random.default_rng(seed)
        self._example_weights: dict[str, np.ndarray] = {}
        for dataset in sorted({e.dataset for e in self.evidence.values() if e.correct is not None}):
            size = next(
                e.correct.shape[1] for e in self.evidence.values() if e.dataset == dataset and e.correct is not None
            )
            weights = np.ones((count + 1, size), dtype=np.float32)
            if examples:
                weights[1:] = rng.multinomial(size, np.full(size, 1 / size), size=count)
            self._example_weights[dataset] = weights  # counts: their products with 0/1 are exact in float32
        self._seed_draws = {}
        for key in sorted(self.evidence, key=repr):
            count_of_seeds = self.evidence[key].seeds
            draws = np.tile(np.arange(count_of_seeds), (count + 1, 1))
            if seeds:
                draws[1:] = rng.integers(0, count_of_seeds, size=(count, count_of_seeds))
            self._seed_draws[key] = draws
        self._seed_accuracy: dict[Key, np.ndarray] = {}

    def seed_accuracy(self, key: Key) -> np.ndarray:
        """(count + 1, seeds): the accuracy of each drawn seed on each resample's test examples."""
        if key not in self._seed_accuracy:
            evidence = self.evidence[key]
            if evidence.correct is None:
                self._seed_accuracy[key] = self.seed_values(key, "test_accuracy")
            else:
                weights = self._example_weights[evidence.dataset]
                hits = weights @ evidence.correct.T.astype(np.float32)  # (count + 1, seeds): every seed, every draw
                by_seed = hits.astype(np.float64) / evidence.correct.shape[1]
                self._seed_accuracy[key] = np.take_along_axis(by_seed, self._seed_draws[key], axis=1)
        return self._seed_accuracy[key]

    def seed_values(self, key: Key, name: str) -> np.ndarray:
        """(count + 1, seeds): a per-seed value (one without test examples) of each drawn seed."""
        return np.asarray(self.evidence[key].per_seed[name], dtype=np.float64)[self._seed_draws[key]]

    def accuracy(self, key: Key) -> np.ndarray:
        """(count + 1,): the configuration's mean test accuracy in each resample."""
        return self.seed_accuracy(key).mean(axis=1)


def interval(replicated: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """The estimate (element 0) and the percentile interval of its replicates; NaN where undefined."""
    replicates = replicated[1:][np.isfinite(replicated[1:])]
    if not math.isfinite(replicated[0]) or not len(replicates):
        return float(replicated[0]), math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(replicated[0]), float(low), float(high)


def null_p(replicated: np.ndarray, null: float = 0.0) -> np.ndarray:
    """(count + 1,): for the estimate and each replicate, the two-sided bootstrap p of "equal to `null`": the
    share of the replicates' deviations from the estimate at least as far as that value is from `null`.
    Element 0 is the study's own p; element b is the p that replicate b of the study would have found."""
    estimate, replicates = replicated[0], replicated[1:]
    if not math.isfinite(estimate):
        return np.full(len(replicated), math.nan)
    deviations = np.sort(np.abs(replicates[np.isfinite(replicates)] - estimate))
    distance = np.abs(np.nan_to_num(replicated - null, nan=0.0))
    at_least = len(deviations) - np.searchsorted(deviations, distance - 1e-12 * (1 + distance), side="left")
    return (1 + at_least) / (1 + len(deviations))


def adjusted(ps: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg over a claim's comparisons, for every resample at once: `ps` is (comparisons,
    count + 1); each column (one replicate of the study) is adjusted on its own. NaN stays NaN."""
    ps = np.atleast_2d(ps)
    out = np.full(ps.shape, math.nan)
    for column in range(ps.shape[1]):
        finite = np.isfinite(ps[:, column])
        if finite.any():
            out[finite, column] = stats.false_discovery_control(ps[finite, column])
    return out


@dataclass(frozen=True)
class VerdictShares:
    """How often each verdict came out over the replicates of a study, and the one stated."""

    measured: str  # the verdict on the study as measured
    shares: dict[str, float]  # verdict -> share of replicates, largest first
    agreement: float  # the share a verdict needs to be stated

    @property
    def leading(self) -> str:
        return next(iter(self.shares))

    @property
    def probability(self) -> float:
        return self.shares[self.leading]

    @property
    def stated(self) -> str:
        """The leading verdict where it holds in at least `agreement` of the replicates, else "inconclusive"."""
        return self.leading if self.probability >= self.agreement else "inconclusive"

    def text(self) -> str:
        """ "refuted 64% · depends 36%": every verdict the replicates reached, largest first."""
        return " · ".join(f"{verdict} {100 * share:.0f}%" for verdict, share in self.shares.items())


def verdict_shares(verdicts: list[str], agreement: float) -> VerdictShares:
    """`verdicts[0]` is the study's own, the others its replicates'."""
    replicates = verdicts[1:] or verdicts
    counts: dict[str, int] = {}
    for verdict in replicates:
        counts[verdict] = counts.get(verdict, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0] != verdicts[0], item[0]))
    return VerdictShares(verdicts[0], {v: n / len(replicates) for v, n in ordered}, agreement)


def seeds_to_settle(
    effect: float, seed_only: np.ndarray, example_only: np.ndarray, seeds: int, alpha: float, power: float = 0.8
) -> int | None:
    """Seeds per configuration at which a two-sided test at `alpha` would find `effect` with `power` (in the
    spirit of Colas et al. 2018), from its standard error split into its sources: the seeds' part shrinks as
    1/seeds, the test examples' part does not. None when the test set alone is too small to find it, or there
    is no effect to find. `seed_only` and `example_only` are replicates with only that source resampled."""
    needed_se = abs(effect) / (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    seed_var, example_var = (float(np.var(r[1:][np.isfinite(r[1:])], ddof=1)) for r in (seed_only, example_only))
    if not math.isfinite(needed_se) or needed_se == 0 or example_var >= needed_se**2:
        return None
    if seed_var == 0:
        return seeds
    return max(seeds, math.ceil(seeds * seed_var / (needed_se**2 - example_var)))
