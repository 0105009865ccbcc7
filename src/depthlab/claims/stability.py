"""Claim 4: deep learning is more stable. Per family and dataset, the deepest against the shallowest
configuration: the spread of its seeds' accuracies, and how many of them failed (statistics.failed), one
family of tests; and the runs that diverged at any depth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.replicates import View
from depthlab.claims.statistics import Collapse
from depthlab.claims.text import collapsed, p_value, pair, points


@dataclass(frozen=True)
class Spread:
    """A family on one dataset, deepest against shallowest: the difference of seed spreads, the deepest's
    collapses and how many more seeds collapsed there, and the runs that diverged at any depth."""

    dataset: str
    family: str
    shallow: Any  # rows of the study's table (claims.replicates.View.rows)
    deep: Any
    spread: Comparison[tuple[str, str]]  # std(deepest) - std(shallowest)
    collapse: Collapse  # at the deepest
    collapses: Comparison[tuple[str, str]]  # collapsed seeds, deepest - shallowest
    diverged: int
    plateaued: tuple[int | None, int | None]  # seeds whose training loss never left its start: shallowest, deepest
    less_stable: bool
    more_stable: bool

    @property
    def more_collapses(self) -> int:
        return int(self.collapses.effect.estimate)


@dataclass(frozen=True)
class Stability:
    """Claim 4's evidence."""

    spreads: list[Spread]


def claim_stability(view: View, settings: Settings) -> Claim:
    spreads = _measure(view, settings)
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
        f"({worst.more_collapses:+d}, adjusted p {p_value(worst.collapses.q)}); "
        f"std of test accuracy {points(worst.spread.effect)}"
    )
    return Claim(
        4,
        'Deep learning is more stable; neural networks are "fundamentally unstable".',
        verdict,
        finding,
        effect,
        Stability(spreads),
        tuple(test for s in spreads for test in (s.spread, s.collapses)),
    )


def _or_lowest(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _measure(view: View, settings: Settings) -> list[Spread]:
    ends, pairs, diverged = {}, {}, {}
    for key, rows in view.groups("dataset", "family").items():
        shallow, deep = rows[0], rows[-1]
        ends[key], pairs[key] = (shallow, deep), (view.key(deep), view.key(shallow))
        diverged[key] = sum(int(row.diverged) for row in rows)
    spread, more = compare_all(Pairs(view.spread_difference, pairs), Pairs(view.more_collapses, pairs))
    alpha = settings.alpha
    return [
        Spread(
            *key,
            *ends[key],
            spread[key],
            view.collapse(pairs[key][0]),
            more[key],
            diverged[key],
            (view.plateaued(pairs[key][1]), view.plateaued(pairs[key][0])) if view.index == 0 else (None, None),
            less_stable=diverged[key] > 0 or spread[key].above(alpha) or more[key].above(alpha),
            more_stable=spread[key].below(alpha) or more[key].below(alpha),
        )
        for key in ends
    ]
