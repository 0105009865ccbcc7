"""Claim 5: the article's types of network differ. Per dataset, each family at a matched parameter count,
compared with the dataset's best."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.replicates import View
from depthlab.claims.study import matched_configurations
from depthlab.claims.text import points

STATEMENT = (
    "Types differ: deep (recurrent, unsupervised pre-trained, convolutional) and plain (feed-forward, "
    "recurrent, symmetrically connected) networks."
)
# The article's taxonomy: "deep" types and "plain" types (recurrent networks are in both lists).
DEEP_TYPES = ("recurrent", "unsupervised pre-trained", "convolutional")
PLAIN_TYPES = ("feed-forward", "recurrent", "symmetrically connected")


@dataclass(frozen=True)
class Matched:
    """One family's configuration at its dataset's matched parameter count (a row of the study's table), its
    type and the article's group of that type, and the dataset's best minus it (None for the best)."""

    configuration: Any  # a row of the study's table (claims.replicates.View.rows)
    network_type: str
    group: str  # the article's: deep, plain, or both
    behind_best: Comparison[tuple[str, str]] | None


@dataclass(frozen=True)
class NetworkTypes:
    """Claim 5's evidence: per dataset, best first."""

    matched: list[Matched]


def article_group(network_type: str) -> str:
    groups = [
        name
        for name, types in (("deep", DEEP_TYPES), ("plain", PLAIN_TYPES))
        if any(network_type.startswith(t) for t in types)
    ]
    return " and ".join(groups) or "-"


def claim_types(view: View, settings: Settings) -> Claim:
    matched = matched_configurations(view.rows)
    families = sorted({row.family for row in matched})
    if len(families) < 2:
        return Claim(5, STATEMENT, "untested", "the sweep trains fewer than two families.", "n/a", NetworkTypes([]))
    types = {family: settings.types.get(family, family) for family in families}
    by_dataset: dict[str, list[Any]] = {}
    for row in matched:
        by_dataset.setdefault(row.dataset, []).append(row)
    best, pairs = {}, {}
    for dataset, rows in by_dataset.items():
        best[dataset] = rows[0]
        for config in rows[1:]:
            pairs[dataset, config.family] = (view.key(best[dataset]), view.key(config))
    (behind,) = compare_all(Pairs(view.difference, pairs))
    alpha = settings.alpha
    differs = [c for c in behind.values() if c.significant(alpha)]
    winners = sorted({f"{types[best[d].family]} ({best[d].family}) on {d}" for d, _ in behind})
    lagging = sorted({f"{types[family]} on {dataset}" for dataset, family in (c.key for c in differs)})
    verdict = "supported" if differs else "not supported"
    finding = (
        f"at matched parameter counts the types differ significantly; best: {', '.join(winners)}; "
        f"significantly behind it: {', '.join(lagging)}."
        if differs
        else "at matched parameter counts no type is significantly better than another."
    )
    runner_up = {}
    for c in behind.values():  # the closest rival of each dataset's best family
        runner_up.setdefault(c.key[0], c)
    effect = "; ".join(f"{best[d].family} vs {c.key[1]} on {d}: {points(c.effect)}" for d, c in runner_up.items())
    evidence = NetworkTypes(
        [
            Matched(config, types[config.family], article_group(types[config.family]), behind.get((d, config.family)))
            for d, rows in by_dataset.items()
            for config in rows
        ]
    )
    return Claim(5, STATEMENT, verdict, finding, effect, evidence, tuple(behind.values()))
