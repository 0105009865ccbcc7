"""Claim 6: the key uses differ. Per dataset, the best deep configuration against the best shallow one;
depth should pay on signals and images and not on tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pandas as pd

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.statistics import difference
from depthlab.claims.study import seeds_of
from depthlab.claims.text import points

STATEMENT = (
    "Key uses differ: deep learning for vision / speech / language, "
    "plain networks for classification and predictive analytics."
)


@dataclass(frozen=True)
class DeepVsShallow:
    """One dataset's best deep and best shallow configurations (rows of the study's table), deep - shallow."""

    dataset: str
    kind: str
    deep: pd.Series
    shallow: pd.Series
    difference: Comparison[str]
    deep_wins: bool  # significantly better


@dataclass(frozen=True)
class Uses:
    """Claim 6's evidence."""

    datasets: list[DeepVsShallow]


def claim_uses(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> Claim:
    kinds, deep_from = settings.kinds, settings.deep_from
    ends, pairs = {}, {}
    for dataset, group in table.groupby("dataset"):
        deep, shallow = group[group.depth >= deep_from], group[group.depth < deep_from]
        if deep.empty or shallow.empty:
            continue
        ends[dataset] = deep.loc[deep.accuracy.idxmax()], shallow.loc[shallow.accuracy.idxmax()]
        pairs[dataset] = tuple(seeds_of(runs, dataset, c.family, c.depth) for c in ends[dataset])
    (differences,) = compare_all(Pairs(partial(difference, confidence=settings.confidence), pairs))
    found = [DeepVsShallow(d, kinds.get(d, "?"), *ends[d], c, c.above(settings.alpha)) for d, c in differences.items()]
    evidence = Uses(found)
    effect = "; ".join(f"deep - shallow on {f.dataset}: {points(f.difference.effect)}" for f in found) or "n/a"
    deep_wins = {f.dataset: f.deep_wins for f in found}
    perceptual = [d for d in deep_wins if kinds.get(d) in ("sequence", "image")]
    tabular = [d for d in deep_wins if kinds.get(d) == "tabular"]
    if not perceptual or not tabular:
        return Claim(
            6,
            STATEMENT,
            "untested",
            "needs at least one signal or image dataset and one tabular dataset with both shallow and deep models.",
            effect,
            evidence,
        )
    perceptual_wins = [deep_wins[d] for d in perceptual]
    tabular_wins = [deep_wins[d] for d in tabular]
    if all(perceptual_wins) and not any(tabular_wins):
        verdict, finding = "supported", "depth pays on signals and images, not on the tabular data."
    elif not any(perceptual_wins) and not any(tabular_wins):
        verdict, finding = "refuted", "shallow models are as good as deep ones on every dataset."
    else:
        verdict = "depends"
        won = [d for d, w in deep_wins.items() if w]
        finding = f"deep models are significantly better on {', '.join(won) or 'no dataset'}, not on the others."
    return Claim(6, STATEMENT, verdict, finding + f" (deep = depth >= {deep_from})", effect, evidence)
