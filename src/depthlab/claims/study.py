"""The study's configurations, (dataset, family, depth), and the view of them that claim 5 compares."""

from __future__ import annotations

import math
import statistics
from typing import Any

KEYS = ["dataset", "family", "depth"]


def matched_configurations(rows: list[Any]) -> list[Any]:
    """Per dataset, each family's depth >= 1 configuration closest (in log scale) to a common parameter budget,
    the median parameter count of all depth >= 1 configurations on that dataset; by dataset, then the most
    accurate first. `rows`: the study's table as rows (claims.replicates.View.rows)."""
    by_dataset: dict[str, list[Any]] = {}
    for row in rows:
        if row.depth >= 1:
            by_dataset.setdefault(row.dataset, []).append(row)
    picked = []
    for dataset in sorted(by_dataset):
        candidates = by_dataset[dataset]
        budget = math.log(statistics.median(row.param_count for row in candidates))
        closest: dict[str, Any] = {}
        for row in sorted(candidates, key=lambda r: abs(math.log(r.param_count) - budget)):
            closest.setdefault(row.family, row)
        picked += sorted(closest.values(), key=lambda r: -r.accuracy)
    return picked
