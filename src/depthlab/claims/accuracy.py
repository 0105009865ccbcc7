"""Claim 2: deeper models are more accurate. Per family and dataset, the peak's gain over the shallowest
depth and the deepest's drop from the peak; and plain against residual MLPs at their largest common depth
(He et al. 2016's degradation). All of them one family of tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.replicates import Overall, View, most_accurate
from depthlab.claims.statistics import Collapse, Effect
from depthlab.claims.text import pair, points

NO_DIFFERENCE = Effect(0.0, 0.0, 0.0)  # the peak is the shallowest (or the deepest) depth: nothing to test


@dataclass(frozen=True)
class DepthCurve:
    """A family on one dataset: its shallowest, peak (most accurate) and deepest configurations, rows of the
    study's table; the peak's gain over the shallowest; the deepest's drop from the peak."""

    dataset: str
    family: str
    shallow: Any  # rows of the study's table (claims.replicates.View.rows)
    best: Any
    deep: Any
    gain: Comparison[tuple[str, str]]
    drop: Comparison[tuple[str, str]]
    rises: bool  # the gain is significant and positive
    worse_past_peak: bool  # the drop is significant and negative

    @property
    def peaks_deepest(self) -> bool:
        return self.best.depth == self.deep.depth


@dataclass(frozen=True)
class PlainVsResidual:
    dataset: str
    depth: int  # the largest depth both families trained
    difference: Comparison[tuple[str, int]]  # plain - residual
    plain: Collapse  # the plain seeds' collapses


@dataclass(frozen=True)
class Accuracy:
    """Claim 2's evidence; `overall`: every family's deepest against its shallowest over every dataset."""

    curves: list[DepthCurve]
    plain_vs_residual: list[PlainVsResidual]
    overall: Overall | None = None


def claim_accuracy(view: View, settings: Settings) -> Claim:
    evidence = _measure(view, settings)
    curves, residual = evidence.curves, evidence.plain_vs_residual
    if all(c.rises and c.peaks_deepest for c in curves):
        verdict, finding = "supported", "accuracy rises significantly with depth up to the deepest model everywhere."
    elif not any(c.rises for c in curves):
        verdict, finding = "refuted", "no family gains significant accuracy from depth on any dataset."
    else:
        peaked = [
            f"{pair(c.dataset, c.family)} (depth {int(c.deep.depth)} vs {int(c.best.depth)}: {points(c.drop.effect)})"
            for c in curves
            if c.rises and c.worse_past_peak
        ]
        flat = [pair(c.dataset, c.family) for c in curves if not c.rises]
        parts = [
            f"deeper is significantly worse past the peak for {', '.join(peaked)}" if peaked else "",
            f"depth buys nothing significant for {', '.join(flat)}" if flat else "",
        ]
        verdict = "depends"
        finding = (
            "depth helps up to a point, which depends on family and data: " + "; ".join(p for p in parts if p) + "."
        )
    biggest_gain = max(curves, key=lambda c: c.gain.effect.estimate)
    effect = (
        f"largest gain: {pair(biggest_gain.dataset, biggest_gain.family)}, depth "
        f"{int(biggest_gain.best.depth)} vs {int(biggest_gain.shallow.depth)}: {points(biggest_gain.gain.effect)}"
    )
    if residual:
        worst = min(residual, key=lambda r: r.difference.effect.estimate)
        effect += (
            f"; depth {worst.depth} plain vs residual on {worst.dataset}: {points(worst.difference.effect)}, "
            f"{worst.plain.collapsed} of {worst.plain.seeds} plain seeds failed"
        )
    tests = [c.gain for c in curves] + [c.drop for c in curves] + [r.difference for r in residual]
    return Claim(2, "Deeper models are more accurate.", verdict, finding, effect, evidence, tuple(tests))


def _measure(view: View, settings: Settings) -> Accuracy:
    ends, gains, drops = {}, {}, {}
    for (dataset, family), rows in view.groups("dataset", "family").items():
        shallow, best, deep = rows[0], most_accurate(rows), rows[-1]
        ends[dataset, family] = (shallow, best, deep)
        if best.depth != shallow.depth:
            gains[dataset, family] = (view.key(best), view.key(shallow))
        if best.depth != deep.depth:
            drops[dataset, family] = (view.key(deep), view.key(best))
    runs = view.runs
    plain_and_residual = {}
    for dataset in sorted(set(runs.dataset)):
        common = sorted(
            set(runs[(runs.dataset == dataset) & (runs.family == "mlp")].depth)
            & set(runs[(runs.dataset == dataset) & (runs.family == "resmlp")].depth)
        )
        if common:
            depth = int(common[-1])
            plain_and_residual[dataset, depth] = ((dataset, "mlp", depth), (dataset, "resmlp", depth))
    gain, drop, plain_minus_residual = compare_all(
        Pairs(view.difference, gains), Pairs(view.difference, drops), Pairs(view.difference, plain_and_residual)
    )
    alpha = settings.alpha
    curves = []
    for key, (shallow, best, deep) in ends.items():
        up, down = (found.get(key, Comparison(key, NO_DIFFERENCE)) for found in (gain, drop))
        curves.append(DepthCurve(*key, shallow, best, deep, up, down, up.above(alpha), down.below(alpha)))
    residual = [
        PlainVsResidual(dataset, depth, compared, view.collapse(plain_and_residual[dataset, depth][0]))
        for (dataset, depth), compared in plain_minus_residual.items()
    ]
    overall = view.overall([(view.key(c.deep), view.key(c.shallow)) for c in curves if c.deep is not c.shallow])
    return Accuracy(curves, residual, overall)
