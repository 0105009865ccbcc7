"""Claim 6: the key uses differ. Per dataset, the best deep configuration against the best shallow one;
depth should pay on signals and images and not on tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.replicates import Key, Overall, View, most_accurate
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
    deep: Any  # rows of the study's table (claims.replicates.View.rows)
    shallow: Any
    difference: Comparison[str]
    deep_wins: bool  # significantly better


@dataclass(frozen=True)
class Uses:
    """Claim 6's evidence; `overall`: per kind of data, the best deep against the best shallow configuration
    over its datasets."""

    datasets: list[DeepVsShallow]
    overall: dict[str, Overall] = field(default_factory=dict)


def claim_uses(view: View, settings: Settings) -> Claim:
    kinds, deep_from = settings.kinds, settings.deep_from
    ends, pairs = {}, {}
    for (dataset,), rows in view.groups("dataset").items():
        deep, shallow = [r for r in rows if r.depth >= deep_from], [r for r in rows if r.depth < deep_from]
        if not deep or not shallow:
            continue
        ends[dataset] = most_accurate(deep), most_accurate(shallow)
        pairs[dataset] = tuple(view.key(c) for c in ends[dataset])
    (differences,) = compare_all(Pairs(view.difference, pairs))
    found = [DeepVsShallow(d, kinds.get(d, "?"), *ends[d], c, c.above(settings.alpha)) for d, c in differences.items()]
    by_kind: dict[str, list[tuple[Key, Key]]] = {}
    for d in found:
        by_kind.setdefault(d.kind, []).append((view.key(d.deep), view.key(d.shallow)))
    overall = {kind: view.overall(pairs) for kind, pairs in sorted(by_kind.items())}
    evidence = Uses(found, {kind: o for kind, o in overall.items() if o is not None})
    tests = tuple(differences.values())
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
            tests,
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
    return Claim(6, STATEMENT, verdict, finding + f" (deep = depth >= {deep_from})", effect, evidence, tests)
