"""The study's table: one row per trained configuration (dataset, family, depth), summarising its seeds;
and the views of it the claims compare."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from depthlab.claims.claim import Settings
from depthlab.claims.statistics import collapse, mean_interval

KEYS = ["dataset", "family", "depth"]


def configurations(runs: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per (dataset, family, depth): mean accuracy with its bootstrap interval, spread, collapses, times."""
    rows = []
    for (dataset, family, depth), group in runs.groupby(KEYS):
        accuracy, low, high = mean_interval(group.test_accuracy, settings.confidence)
        time, time_low, time_high = mean_interval(group.train_time_s, settings.confidence)
        collapsed = collapse(group.test_accuracy, group.chance.iloc[0], settings.collapse_margin, settings.confidence)
        rows.append(
            {
                "dataset": dataset,
                "family": family,
                "depth": int(depth),
                "param_count": int(group.param_count.iloc[0]),
                "lr": float(group.lr.iloc[0]) if "lr" in group else math.nan,
                "seeds": len(group),
                "diverged": int(group.diverged.sum()),
                "collapsed": collapsed.collapsed,
                "accuracy": accuracy,
                "accuracy_low": low,
                "accuracy_high": high,
                "accuracy_std": float(group.test_accuracy.std()) if len(group) > 1 else 0.0,
                "train_time_s": time,
                "train_time_low": time_low,
                "train_time_high": time_high,
                "train_samples_per_s": float(group.train_samples_per_s.mean()),
                "inference_samples_per_s": float(group.throughput_samples_per_s.mean()),
            }
        )
    return pd.DataFrame(rows)


def seeds_of(runs: pd.DataFrame, dataset: str, family: str, depth: int, column: str = "test_accuracy") -> pd.Series:
    chosen = runs[(runs.dataset == dataset) & (runs.family == family) & (runs.depth == depth)]
    return chosen[column].astype(float)


def matched_configurations(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, each family's depth >= 1 configuration closest (in log scale) to a common parameter budget:
    the median parameter count of all depth >= 1 configurations on that dataset."""
    picked = []
    for _, group in table[table.depth >= 1].groupby("dataset"):
        budget = float(np.median(group.param_count))
        distance = (np.log(group.param_count) - math.log(budget)).abs()
        picked.append(group.assign(distance=distance).sort_values("distance").groupby("family").head(1))
    return pd.concat(picked).sort_values(["dataset", "accuracy"], ascending=[True, False]) if picked else table.iloc[:0]
