"""Claim 6: the key uses differ. Per dataset, the best deep configuration against the best shallow one;
depth should pay on signals and images and not on tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.replicates import Key, Overall, View, most_accurate
from depthlab.claims.text import p_value, points

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
    over its datasets; `interaction`: depth's mean gain on the perception datasets minus its mean gain on the
    tabular ones (None unless the study has both), the test the verdict rests on."""

    datasets: list[DeepVsShallow]
    overall: dict[str, Overall] = field(default_factory=dict)
    interaction: Comparison[str] | None = None


def claim_uses(view: View, settings: Settings) -> Claim:
    """Supported where depth's gain (best deep minus best shallow configuration, per dataset) is significantly
    larger on perception data (signals and images) than on tables: the interaction, one test with its interval
    over the replicates, not a count of datasets won on each side; refuted otherwise (the gains do not differ,
    or differ the other way), as the rule before the interaction refuted it where deep models won nowhere."""
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
    overall = {kind: o for kind, o in ((k, view.overall(p)) for k, p in sorted(by_kind.items())) if o is not None}
    perception = [f for f in found if f.kind in PERCEPTION]
    tabular = [f for f in found if f.kind == "tabular"]
    kinds_text = _kinds_text(perception, tabular)
    if not perception or not tabular:
        evidence = Uses(found, overall)
        effect = "; ".join(f"deep - shallow on {f.dataset}: {points(f.difference.effect)}" for f in found) or "n/a"
        return Claim(
            6,
            STATEMENT,
            "untested",
            f"needs at least one signal or image dataset and one tabular dataset with both shallow and deep models; "
            f"this study has {kinds_text}.",
            effect,
            evidence,
            tuple(differences.values()),
        )
    terms = [(1 / len(perception), pairs[f.dataset]) for f in perception]
    terms += [(-1 / len(tabular), pairs[f.dataset]) for f in tabular]
    contrast = view.contrast(terms)
    interaction = Comparison("perception - tabular", contrast, contrast.p)  # one test: nothing to adjust
    gains = {
        side: sum(f.difference.effect.estimate for f in group) / len(group)
        for side, group in (("perception", perception), ("tabular", tabular))
    }
    if interaction.above(settings.alpha):
        verdict, finding = "supported", "depth gains significantly more on signals and images than on tables"
    elif interaction.below(settings.alpha):
        verdict, finding = "refuted", "depth gains significantly more on tables than on signals and images"
    else:
        verdict, finding = "refuted", "depth's gain does not differ significantly between perception and tables"
    rests_on = (
        f"{finding}; judged on the interaction over {kinds_text}: a mean gain of "
        f"{100 * gains['perception']:+.1f} pts on perception minus {100 * gains['tabular']:+.1f} on tables "
        f"(deep = depth >= {deep_from})."
    )
    effect = (
        f"interaction (perception - tabular): {points(interaction.effect)}, p {p_value(interaction.q)}; "
        + "; ".join(f"deep - shallow on {f.dataset}: {points(f.difference.effect)}" for f in found)
    )
    evidence = Uses(found, overall, interaction)
    return Claim(6, STATEMENT, verdict, rests_on, effect, evidence, (interaction, *differences.values()))


PERCEPTION = ("sequence", "image")  # signals and images: the article's vision / speech / language


def _kinds_text(perception: list[DeepVsShallow], tabular: list[DeepVsShallow]) -> str:
    """ "2 perception datasets (mnist1d: sequence, digits: image) and 1 tabular (breast_cancer)"."""
    perceived = ", ".join(f"{f.dataset}: {f.kind}" for f in perception)
    tables = ", ".join(f.dataset for f in tabular)
    return (
        f"{len(perception)} perception dataset{'s' * (len(perception) != 1)}{f' ({perceived})' if perceived else ''}"
        f" and {len(tabular)} tabular{f' ({tables})' if tables else ''}"
    )
