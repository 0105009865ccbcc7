"""Claim 4: deep learning is more stable. Per family and dataset, the deepest against the shallowest
configuration: the spread of its seeds' accuracies, and how many of them collapsed (one family of tests)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import pandas as pd

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.statistics import Collapse, collapse, more_collapses, spread_difference
from depthlab.claims.study import seeds_of
from depthlab.claims.text import collapsed, p_value, pair, points


@dataclass(frozen=True)
class Spread:
    """A family on one dataset, deepest against shallowest: the difference of seed spreads, the deepest's
    collapses and how many more seeds collapsed there, and the runs that diverged at any depth."""

    dataset: str
    family: str
    shallow: pd.Series  # rows of the study's table
    deep: pd.Series
    spread: Comparison[tuple[str, str]]  # std(deepest) - std(shallowest)
    collapse: Collapse  # at the deepest
    collapses: Comparison[tuple[str, str]]  # collapsed seeds, deepest - shallowest (Fisher's exact test)
    diverged: int
    less_stable: bool
    more_stable: bool

    @property
    def more_collapses(self) -> int:
        return int(self.collapses.effect.estimate)


@dataclass(frozen=True)
class Stability:
    """Claim 4's evidence."""

    spreads: list[Spread]


def claim_stability(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> Claim:
    spreads = _measure(runs, table, settings)
    diverged = sum(s.diverged for s in spreads)
    less, more = [s.less_stable for s in spreads], [s.more_stable for s in spreads]
    grew = [pair(s.dataset, s.family) for s in spreads if s.less_stable]
    if any(less) and any(more):
        verdict, finding = (
            "depends",
            (f"seeds spread further or collapse more often at depth for {', '.join(grew)}, and less for others."),
        )
    elif any(less):
        verdict = "refuted"
        finding = (
            f"seeds spread further or collapse more often at depth for {', '.join(grew)}; {diverged} run(s) diverged."
        )
    elif any(more):
        verdict = "supported" if all(more) else "depends"
        finding = "seed-to-seed spread falls significantly with depth" + (
            " everywhere." if all(more) else " for some families."
        )
    else:
        verdict = "not supported"
        finding = "seed-to-seed spread shows no significant change with depth, and no run diverged."
    worst = max(spreads, key=lambda s: (s.more_collapses, _or_lowest(s.spread.effect.estimate)))
    effect = (
        f"{pair(worst.dataset, worst.family)}, depth {int(worst.deep.depth)} vs "
        f"{int(worst.shallow.depth)}: {collapsed(worst.collapse)} at depth {int(worst.deep.depth)} "
        f"({worst.more_collapses:+d}, Fisher adjusted p {p_value(worst.collapses.q)}); "
        f"std of test accuracy {points(worst.spread.effect)}"
    )
    return Claim(
        4,
        'Deep learning is more stable; neural networks are "fundamentally unstable".',
        verdict,
        finding,
        effect,
        Stability(spreads),
    )


def _or_lowest(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _measure(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> list[Spread]:
    ends, seeds, collapses, diverged = {}, {}, {}, {}
    for (dataset, family), group in table.groupby(["dataset", "family"]):
        group = group.sort_values("depth")
        shallow, deep = group.iloc[0], group.iloc[-1]
        chance = float(runs[runs.dataset == dataset].chance.iloc[0])
        deepest, shallowest = (seeds_of(runs, dataset, family, d) for d in (deep.depth, shallow.depth))
        key = dataset, family
        ends[key], seeds[key], diverged[key] = (shallow, deep), (deepest, shallowest), int(group.diverged.sum())
        collapses[key] = tuple(
            collapse(s, chance, settings.collapse_margin, settings.confidence) for s in (deepest, shallowest)
        )
    spread, more = compare_all(
        Pairs(partial(spread_difference, confidence=settings.confidence), seeds), Pairs(more_collapses, collapses)
    )
    alpha = settings.alpha
    return [
        Spread(
            *key,
            *ends[key],
            spread[key],
            collapses[key][0],
            more[key],
            diverged[key],
            less_stable=diverged[key] > 0 or spread[key].above(alpha) or more[key].above(alpha),
            more_stable=spread[key].below(alpha) or more[key].below(alpha),
        )
        for key in ends
    ]
