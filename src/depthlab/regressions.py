"""A scheduled run's regression: a dataset whose best mean test accuracy dropped by more than the allowed
amount since the previous scheduled run. The scheduler alerts on it, and the report keeps the dataset's
champion where it is; both count it here, in the same way."""

from __future__ import annotations

import pandas as pd

BEST_ACCURACY = "best_accuracy."


def best_accuracies(table: pd.DataFrame) -> dict[str, float]:
    """`best_accuracy.<dataset>`: the metrics a scheduled run compares with the previous one's."""
    return {f"{BEST_ACCURACY}{dataset}": float(rows.accuracy.max()) for dataset, rows in table.groupby("dataset")}


def regressions(now: dict[str, float], before: dict[str, float], max_drop: float) -> dict[str, str]:
    """{metric: how far it dropped} for each best accuracy that dropped more than `max_drop`."""
    return {
        key: f"{key}: {before[key]:.4f} -> {value:.4f} (drop {before[key] - value:.4f} > {max_drop})"
        for key, value in sorted(now.items())
        if key in before and before[key] - value > max_drop
    }


def dataset_of(metric: str) -> str:
    return metric.removeprefix(BEST_ACCURACY)
