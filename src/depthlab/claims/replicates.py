"""The study seen one replicate at a time: what a claim's rule reads, and the tests it runs.

`Replicates` resamples a study once (`claims.resampling`: seeds and test examples together, and each alone);
`Replicates.at(i)` is replicate i as a `View` (0: the study as measured). A claim judged on a view reads that
replicate's table of configurations (its selections, such as which depth is best, are made again) and tests
pairs of configurations by key; a test's interval always comes from every replicate, its p is the one that
replicate would have found. Judging every view re-runs a claim's whole rule on each replicate of the study.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from depthlab.claims.claim import Settings
from depthlab.claims.resampling import Evidence, Resamples, interval, null_p, seeds_to_settle
from depthlab.claims.statistics import Collapse, Effect, failed, mean_interval
from depthlab.claims.study import KEYS

Key = tuple[Hashable, ...]  # a configuration: its values of the key columns
CHANGING = ("accuracy", "accuracy_std", "collapsed", "diverged")  # the table's columns a replicate draws again
PLATEAU = 0.95  # a training loss at 95% or more of the class shares' loss never left its start


class Replicates:
    """A study's reported runs (one row per configuration and seed; a `correct` column, where present, holds
    each run's right/wrong per test example), resampled `settings.resamples` times."""

    def __init__(self, runs: pd.DataFrame, settings: Settings, keys: Sequence[str] = KEYS):
        self.runs, self.settings, self.keys = runs, settings, list(keys)
        evidence, chance = {}, {}
        for key, group in runs.groupby(self.keys, sort=True) if not runs.empty else ():
            group = group.sort_values("seed")
            kept = "correct" in group and all(isinstance(c, np.ndarray) for c in group.correct)
            diverged = group.diverged.to_numpy(float) if "diverged" in group else np.zeros(len(group))
            evidence[key] = Evidence(
                str(group.dataset.iloc[0]),
                np.stack(group.correct.to_list()) if kept else None,
                {"test_accuracy": group.test_accuracy.to_numpy(float), "diverged": diverged},
            )
            chance[key] = float(group.chance.iloc[0]) if "chance" in group else math.nan
        self.chance = chance
        self.examples_kept = all(e.correct is not None for e in evidence.values())
        count = settings.resamples
        self.every_source = Resamples(evidence, count, seed=0)
        self.seeds_alone = Resamples(evidence, count, seed=1, examples=False)
        self.examples_alone = Resamples(evidence, count, seed=2, seeds=False)
        self.count = count
        self.configurations = list(evidence)

    def at(self, index: int) -> View:
        return View(self, index)

    @functools.cached_property
    def table(self) -> pd.DataFrame:
        """Per configuration as measured: accuracy with its interval over every source, spread, collapses,
        times. The replicates' tables differ only in the columns the resamples change (`View.table`)."""
        rows = []
        for key, group in self.runs.groupby(self.keys, sort=True):
            accuracy, low, high = interval(self.every_source.accuracy(key), self.settings.confidence)
            time, time_low, time_high = mean_interval(group.train_time_s, self.settings.confidence)
            collapsed = self.collapse(key, 0)
            rows.append(
                {
                    **dict(zip(self.keys, key, strict=True)),
                    "param_count": int(group.param_count.iloc[0]),
                    "lr": float(group.lr.iloc[0]) if "lr" in group else math.nan,
                    "seeds": len(group),
                    "diverged": int(group.diverged.sum()),
                    "collapsed": collapsed.collapsed,
                    "accuracy": accuracy,
                    "accuracy_low": low,
                    "accuracy_high": high,
                    "accuracy_std": _std(self.every_source.seed_accuracy(key)[0]),
                    "train_time_s": time,
                    "train_time_low": time_low,
                    "train_time_high": time_high,
                    "train_samples_per_s": float(group.train_samples_per_s.mean()),
                    "inference_samples_per_s": float(group.throughput_samples_per_s.mean()),
                }
            )
        return pd.DataFrame(rows)

    @functools.cached_property
    def rows(self) -> list[Any]:
        """The table as named tuples, in its order."""
        return list(self.table.itertuples(index=False, name="Configuration"))

    @functools.cache  # noqa: B019 - one Replicates per report, kept for its whole life
    def groups(self, columns: tuple[str, ...]) -> dict[tuple[Any, ...], list[int]]:
        """Row indices of the table grouped by `columns`, in key order."""
        grouped: dict[tuple[Any, ...], list[int]] = {}
        for index, row in enumerate(self.rows):
            grouped.setdefault(tuple(getattr(row, c) for c in columns), []).append(index)
        return dict(sorted(grouped.items()))

    @functools.cache  # noqa: B019
    def column(self, name: str) -> np.ndarray:
        """(configurations, count + 1): a table column in every replicate, in the table's order."""
        by_key = {
            "accuracy": lambda key: self.every_source.accuracy(key),
            "accuracy_std": lambda key: _std(self.every_source.seed_accuracy(key), axis=1),
            "collapsed": lambda key: self.collapsed(key).astype(int),
            "diverged": lambda key: self.every_source.seed_values(key, "diverged").sum(axis=1).astype(int),
        }[name]
        return np.stack([by_key(key) for key in self.configurations])

    @functools.cache  # noqa: B019
    def collapsed(self, key: Key, source: str = "every_source") -> np.ndarray:
        """(count + 1,): how many of the drawn seeds failed in each replicate (statistics.failed)."""
        accuracies = getattr(self, source).seed_accuracy(key)
        return failed(accuracies, self.chance[key], self.settings.collapse_margin).sum(axis=1).astype(float)

    def plateaued(self, key: Key) -> int | None:
        """The seeds as measured whose training loss never left its start: their last epochs' loss no lower
        than PLATEAU of the loss of always predicting the class shares (None where losses were not kept)."""
        runs = self.runs
        for column, value in zip(self.keys, key, strict=True):
            runs = runs[runs[column] == value]
        if "train_loss" not in runs or "prior_loss" not in runs or runs.train_loss.isna().all():
            return None
        return int((runs.train_loss >= PLATEAU * runs.prior_loss).sum())

    def collapse(self, key: Key, index: int) -> Collapse:
        counts = self.collapsed(key)
        seeds = self.every_source.evidence[key].seeds
        _, low, high = interval(counts / seeds, self.settings.confidence)
        return Collapse(int(counts[index]), seeds, low, high)

    @functools.cache  # noqa: B019
    def replicated(self, kind: str, a: Key, b: Key, source: str = "every_source") -> np.ndarray:
        """(count + 1,): a statistic of two configurations in every replicate: `difference` of mean accuracy,
        `spread` (difference of the seeds' standard deviations) or `collapses` (difference of collapsed seeds)."""
        resamples: Resamples = getattr(self, source)
        if kind == "difference":
            return resamples.accuracy(a) - resamples.accuracy(b)
        if kind == "spread":
            return _std(resamples.seed_accuracy(a), axis=1) - _std(resamples.seed_accuracy(b), axis=1)
        return self.collapsed(a, source) - self.collapsed(b, source)

    @functools.cache  # noqa: B019
    def p(self, kind: str, a: Key, b: Key) -> np.ndarray:
        return null_p(self.replicated(kind, a, b))

    def effect(self, kind: str, a: Key, b: Key, index: int) -> Effect:
        values = self.replicated(kind, a, b)
        _, low, high = interval(values, self.settings.confidence)
        delta = math.nan
        if kind == "difference":
            first, second = (self.every_source.seed_accuracy(k)[index] for k in (a, b))
            delta = float(np.mean(np.sign(first[:, None] - second[None, :])))  # P(a > b) - P(a < b), seed pairs
        return Effect(float(values[index]), low, high, float(self.p(kind, a, b)[index]), delta, (kind, a, b))

    def contrast(self, terms: Sequence[tuple[float, tuple[Key, Key]]], index: int) -> Effect:
        """A weighted sum of differences of mean accuracy, sum of weight x (a - b) over `terms` (claim 6's
        interaction: the mean gain on one kind of data minus the mean gain on another), with its interval over
        every replicate and the p that replicate `index` would find."""
        values = sum(weight * self.replicated("difference", a, b) for weight, (a, b) in terms)
        _, low, high = interval(values, self.settings.confidence)
        return Effect(float(values[index]), low, high, float(null_p(values)[index]))

    def overall(self, pairs: Sequence[tuple[Key, Key]]) -> Overall:
        """Over several tasks (a pair of configurations each, a against b): the interquartile mean of every a
        seed's and every b seed's normalized score, (accuracy - chance) / (1 - chance), and the probability
        that an a seed beats a b seed of its task, averaged over tasks (Agarwal et al. 2021), with intervals
        over the replicates, which resample within each task (a stratified bootstrap)."""
        scores = {}
        for key in {k for pair in pairs for k in pair}:
            chance = self.chance[key]
            scores[key] = (self.every_source.seed_accuracy(key) - chance) / (1 - chance)
        wins = [
            (
                (scores[a][:, :, None] > scores[b][:, None, :]) + 0.5 * (scores[a][:, :, None] == scores[b][:, None, :])
            ).mean(axis=(1, 2))
            for a, b in pairs
        ]
        iqm = [
            stats.trim_mean(np.concatenate([scores[pair[side]] for pair in pairs], axis=1), 0.25, axis=1)
            for side in (0, 1)
        ]
        confidence = self.settings.confidence
        return Overall(len(pairs), *(Effect(*interval(values, confidence)) for values in (*iqm, np.mean(wins, axis=0))))

    def seeds_to_settle(self, basis: tuple[str, Key, Key]) -> int | None:
        """Seeds per configuration that would find this effect with 80% power (None: the test set is too
        small for it); see resampling.seeds_to_settle."""
        kind, a, b = basis
        seeds = self.every_source.evidence[a].seeds
        return seeds_to_settle(
            float(self.replicated(kind, a, b)[0]),
            self.replicated(kind, a, b, "seeds_alone"),
            self.replicated(kind, a, b, "examples_alone"),
            seeds,
            self.settings.alpha,
        )


@dataclass(frozen=True)
class Overall:
    """A claim about depth in general, over `tasks` pairs of configurations: each side's interquartile mean of
    normalized scores, and the probability that the first side's seed beats the second's."""

    tasks: int
    first_iqm: Effect
    second_iqm: Effect
    improvement: Effect


@dataclass(frozen=True)
class View:
    """One replicate of the study: its configurations as rows of the table (named tuples: a rule reads a few
    hundred replicates, and pandas' per-call cost would dominate), grouped as a rule needs them, and tests of
    two configurations (by key) as this replicate would find them."""

    replicates: Replicates
    index: int

    @property
    def runs(self) -> pd.DataFrame:
        """The runs as measured: which configurations exist, their chance level; not their accuracies."""
        return self.replicates.runs

    @functools.cached_property
    def rows(self) -> list[Any]:
        """Every configuration in the table's order (by key): the table's columns as attributes."""
        measured = self.replicates.rows
        if self.index == 0:
            return measured
        changed = {name: self.replicates.column(name)[:, self.index] for name in CHANGING}
        return [row._replace(**{name: values[i] for name, values in changed.items()}) for i, row in enumerate(measured)]

    def groups(self, *columns: str) -> dict[tuple[Any, ...], list[Any]]:
        """The rows grouped by these columns, in key order; within a group, in the table's order (depth last)."""
        return {group: [self.rows[i] for i in indices] for group, indices in self.replicates.groups(columns).items()}

    def key(self, row: Any) -> Key:
        """The key of a row of the table."""
        return tuple(getattr(row, column) for column in self.replicates.keys)

    def difference(self, a: Key, b: Key) -> Effect:
        """Mean test accuracy of a minus b, paired by test example, with Cliff's delta over seed pairs."""
        return self.replicates.effect("difference", a, b, self.index)

    def spread_difference(self, a: Key, b: Key) -> Effect:
        """The standard deviation of a's seeds' accuracies minus b's."""
        return self.replicates.effect("spread", a, b, self.index)

    def contrast(self, terms: Sequence[tuple[float, tuple[Key, Key]]]) -> Effect:
        """Replicates.contrast, as this replicate would find it."""
        return self.replicates.contrast(terms, self.index)

    def more_collapses(self, a: Key, b: Key) -> Effect:
        """How many more of a's seeds collapsed than b's."""
        return self.replicates.effect("collapses", a, b, self.index)

    def collapse(self, key: Key) -> Collapse:
        return self.replicates.collapse(key, self.index)

    def plateaued(self, key: Key) -> int | None:
        return self.replicates.plateaued(key)

    def overall(self, pairs: Sequence[tuple[Key, Key]]) -> Overall | None:
        """Replicates.overall, shown beside the study as measured: None on the other replicates, whose rules
        do not read it."""
        return self.replicates.overall(pairs) if self.index == 0 and pairs else None


def _std(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """The seeds' standard deviation (0 for a single seed)."""
    if values.shape[axis] < 2:
        return np.zeros(values.shape[:axis] + values.shape[axis + 1 :]) if values.ndim > 1 else 0.0
    result = np.std(values, axis=axis, ddof=1)
    return float(result) if np.ndim(result) == 0 else result


def most_accurate(rows: list[Any]) -> Any:
    """The first row of the highest mean accuracy (as pandas' idxmax: a NaN never wins)."""
    return max(rows, key=lambda row: -math.inf if math.isnan(row.accuracy) else row.accuracy)
