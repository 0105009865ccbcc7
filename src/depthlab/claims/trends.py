"""Claims 1 and 3, about cost: does training time grow, and does throughput fall, with depth? Each is a
trend of one measure with depth per family and dataset."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import pandas as pd

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.statistics import depth_trend
from depthlab.claims.text import pair, times


class Span(NamedTuple):
    """A family's depths on one dataset, from the shallowest to the deepest."""

    dataset: str
    family: str
    shallowest: int
    deepest: int


@dataclass(frozen=True)
class TrainingTime:
    """Claim 1's evidence: per family and dataset, the trend of training time with depth; whether it grows."""

    trends: list[Comparison[Span]]
    grows: list[bool]


@dataclass(frozen=True)
class Throughput:
    """Claim 3's evidence: per family and dataset, the trends of training and inference samples/s with depth
    (two families of tests); whether training throughput falls."""

    train: list[Comparison[Span]]
    inference: dict[Span, Comparison[Span]]
    falls: list[bool]


def depth_trends(runs: pd.DataFrame, column: str, settings: Settings) -> dict[Span, Comparison[Span]]:
    """Per (dataset, family): the trend of `column` with depth, the trends adjusted together."""
    pairs = {}
    for (dataset, family), group in runs.groupby(["dataset", "family"]):
        depths = sorted(group.depth.unique())
        pairs[Span(dataset, family, int(depths[0]), int(depths[-1]))] = (group.depth, group[column])
    (found,) = compare_all(Pairs(partial(depth_trend, confidence=settings.confidence), pairs))
    return found


def by_count(flags: list[bool], all_: str, none: str, some: str) -> str:
    if flags and all(flags):
        return all_
    if not any(flags):
        return none
    return some


def ratio_range(trends: list[Comparison[Span]], what: str) -> str:
    """The smallest and the largest deepest / shallowest ratio, and where."""
    ordered = sorted((t for t in trends if not math.isnan(t.effect.estimate)), key=lambda t: t.effect.estimate)
    if not ordered:
        return "n/a"
    low, high = ordered[0], ordered[-1]
    return (
        f"{what}, deepest / shallowest: from {times(low.effect)} ({pair(low.key.dataset, low.key.family)}) "
        f"to {times(high.effect)} ({pair(high.key.dataset, high.key.family)})"
    )


def claim_time(runs: pd.DataFrame, settings: Settings) -> Claim:
    trends = list(depth_trends(runs, "train_time_s", settings).values())
    grows = [t.effect.rho > 0 and t.significant(settings.alpha) for t in trends]
    grown = [pair(t.key.dataset, t.key.family) for t, flag in zip(trends, grows, strict=True) if flag]
    verdict = by_count(grows, "supported", "refuted", "depends")
    finding = {
        "supported": "training time grows with depth in every family on every dataset (same number of steps).",
        "refuted": "no family's training time grows significantly with depth.",
        "depends": f"training time grows significantly with depth only for {', '.join(grown)}.",
    }[verdict]
    return Claim(
        1,
        "Deeper models take more time to train.",
        verdict,
        finding,
        ratio_range(trends, "training time"),
        TrainingTime(trends, grows),
    )


def claim_rate(runs: pd.DataFrame, settings: Settings) -> Claim:
    train = list(depth_trends(runs, "train_samples_per_s", settings).values())
    inference = depth_trends(runs, "throughput_samples_per_s", settings)
    falls = [t.effect.rho < 0 and t.significant(settings.alpha) for t in train]
    verdict = by_count(falls, "refuted", "not supported", "depends")
    finding = {
        "refuted": "deeper models train on fewer samples per second in every family on every dataset.",
        "not supported": "throughput shows no significant change with depth.",
        "depends": "throughput falls significantly with depth for some families and not others.",
    }[verdict]
    return Claim(
        3,
        'Deep learning has a higher "performance rate".',
        verdict,
        finding,
        ratio_range(train, "training samples/s"),
        Throughput(train, inference, falls),
    )
