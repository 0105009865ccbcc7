"""Each claim's evidence as Markdown: its typed rows, one table row each, in the words of `claims.text`."""

from __future__ import annotations

import functools

import pandas as pd

from depthlab.claims.accuracy import Accuracy, DepthCurve
from depthlab.claims.machines import Machines
from depthlab.claims.network_types import NetworkTypes
from depthlab.claims.replicates import Overall
from depthlab.claims.stability import Stability
from depthlab.claims.statistics import Effect
from depthlab.claims.text import collapsed, p_value, percent, points, times
from depthlab.claims.trends import Throughput, TrainingTime
from depthlab.claims.uses import Uses

ENSEMBLE_TIME = (
    "The seeds of a configuration train as one ensemble and each is given the ensemble's time divided by "
    "its seeds, so they share one time: a ratio without an interval is exact, not uncertain."
)
DEGRADATION = "Plain vs residual at the largest common depth (He et al. 2016 degradation):"


def table(rows: list[dict[str, object]]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False) if rows else "_no data_"


@functools.singledispatch
def as_markdown(evidence: object) -> str:
    raise TypeError(f"no Markdown for {type(evidence).__name__}")


@as_markdown.register
def _training_time(evidence: TrainingTime) -> str:
    rows = [
        {
            "dataset": t.key.dataset,
            "family": t.key.family,
            "depths": f"{t.key.shallowest}-{t.key.deepest}",
            "Spearman rho": f"{t.effect.rho:.2f}",
            "adjusted p": p_value(t.q),
            "deepest / shallowest time [95% CI]": times(t.effect),
            "grows with depth": grows,
        }
        for t, grows in zip(evidence.trends, evidence.grows, strict=True)
    ]
    return f"{table(rows)}\n\n{ENSEMBLE_TIME}"


@as_markdown.register
def _throughput(evidence: Throughput) -> str:
    rows = []
    for t, falls in zip(evidence.train, evidence.falls, strict=True):
        inference = evidence.inference[t.key]
        rows.append(
            {
                "dataset": t.key.dataset,
                "family": t.key.family,
                "train samples/s, deepest / shallowest [95% CI]": times(t.effect),
                "train rho (adjusted p)": f"{t.effect.rho:.2f} ({p_value(t.q)})",
                "inference samples/s, deepest / shallowest [95% CI]": times(inference.effect),
                "inference rho (adjusted p)": f"{inference.effect.rho:.2f} ({p_value(inference.q)})",
                "falls with depth": falls,
            }
        )
    return table(rows)


def _shape(curve: DepthCurve) -> str:
    if not curve.rises:
        return "no significant gain over the shallowest"
    if curve.worse_past_peak:
        return f"rises to depth {int(curve.best.depth)}, then significantly worse"
    if curve.peaks_deepest:
        return "rises to the deepest"
    return f"rises to depth {int(curve.best.depth)}; deeper is not significantly different"


@as_markdown.register
def _accuracy(evidence: Accuracy) -> str:
    curves = [
        {
            "dataset": c.dataset,
            "family": c.family,
            "peak depth": int(c.best.depth),
            "acc at shallowest": percent(c.shallow.accuracy),
            "acc at peak": percent(c.best.accuracy),
            "acc at deepest": percent(c.deep.accuracy),
            "failed at deepest": f"{int(c.deep.collapsed)}/{int(c.deep.seeds)}",
            "peak - shallowest [95% CI]": points(c.gain.effect),
            "adj. p": p_value(c.gain.q),
            "deepest - peak [95% CI]": points(c.drop.effect),
            "adj. p ": p_value(c.drop.q),
            "shape": _shape(c),
        }
        for c in evidence.curves
    ]
    residual = [
        {
            "dataset": r.dataset,
            "depth": r.depth,
            "plain - residual [95% CI]": points(r.difference.effect),
            "Cliff's delta": f"{r.difference.effect.cliffs_delta:+.2f}",
            "adjusted p": p_value(r.difference.q),
            "plain seeds": collapsed(r.plain),
        }
        for r in evidence.plain_vs_residual
    ]
    overall = _overall({"every family's deepest vs its shallowest": evidence.overall}, "deepest", "shallowest")
    return f"{table(curves)}\n\n{overall}{DEGRADATION}\n\n{table(residual)}"


def _overall(found: dict[str, Overall | None], first: str, second: str) -> str:
    """Aggregates over tasks (Agarwal et al. 2021): interquartile means of normalized scores and the probability
    of improvement, each with its interval over the study's replicates; empty where there is none."""
    rows = [
        {
            "over": what,
            "tasks": o.tasks,
            f"IQM {first} [95% CI]": _score(o.first_iqm),
            f"IQM {second} [95% CI]": _score(o.second_iqm),
            f"P({first} seed beats {second}) [95% CI]": _score(o.improvement),
        }
        for what, o in found.items()
        if o is not None
    ]
    if not rows:
        return ""
    return (
        f"Over the tasks, normalized score (accuracy - chance) / (1 - chance): interquartile means and the "
        f"probability of improvement (Agarwal et al. 2021):\n\n{table(rows)}\n\n"
    )


def _score(effect: Effect) -> str:
    return f"{effect.estimate:.2f} [{effect.low:.2f}, {effect.high:.2f}]"


@as_markdown.register
def _stability(evidence: Stability) -> str:
    return table(
        [
            {
                "dataset": s.dataset,
                "family": s.family,
                "depths": f"{int(s.shallow.depth)} vs {int(s.deep.depth)}",
                "std at shallowest (pts)": percent(s.shallow.accuracy_std),
                "std at deepest (pts)": percent(s.deep.accuracy_std),
                "deepest - shallowest std [95% CI]": points(s.spread.effect),
                "adjusted p": p_value(s.spread.q),
                "failed at deepest [95% CI]": collapsed(s.collapse),
                "more failed than at shallowest, adjusted p": p_value(s.collapses.q),
                "diverged runs": s.diverged,
                "loss never left its start (shallowest / deepest)": " / ".join(
                    "n/a" if n is None else str(n) for n in s.plateaued
                ),
            }
            for s in evidence.spreads
        ]
    )


@as_markdown.register
def _network_types(evidence: NetworkTypes) -> str:
    rows = []
    for m in evidence.matched:
        config, versus = m.configuration, m.behind_best
        rows.append(
            {
                "dataset": config.dataset,
                "type": m.network_type,
                "article's group": m.group,
                "family": config.family,
                "depth": int(config.depth),
                "parameters": int(config.param_count),
                "accuracy [95% CI]": (
                    f"{percent(config.accuracy)} [{percent(config.accuracy_low)}, {percent(config.accuracy_high)}]"
                ),
                "best - this [95% CI]": points(versus.effect) if versus else "best",
                "adjusted p": p_value(versus.q) if versus else "n/a",
            }
        )
    return table(rows)


@as_markdown.register
def _uses(evidence: Uses) -> str:
    overall = _overall({f"{kind} datasets": o for kind, o in evidence.overall.items()}, "deep", "shallow")
    return overall + table(
        [
            {
                "dataset": u.dataset,
                "kind": u.kind,
                "best deep": f"{u.deep.family}-d{int(u.deep.depth)} {percent(u.deep.accuracy)}",
                "best shallow": f"{u.shallow.family}-d{int(u.shallow.depth)} {percent(u.shallow.accuracy)}",
                "deep - shallow [95% CI]": points(u.difference.effect),
                "adjusted p": p_value(u.difference.q),
                "deep significantly better": u.deep_wins,
            }
            for u in evidence.datasets
        ]
    )


@as_markdown.register
def _machines(evidence: Machines) -> str:
    parts = [table([{"machine": name, "runs": runs} for name, runs in evidence.runs.items()])]
    for pair in evidence.pairs:
        rows = [
            {
                "configuration": c.configuration,
                "time B / A [95% CI]": times(c.time),
                "accuracy B - A [95% CI, seeds]": points(c.accuracy.effect),
                "adjusted p": p_value(c.accuracy.q),
            }
            for c in pair.compared
        ]
        parts.append(f"Protocol {pair.protocol}: A = {pair.first}, B = {pair.second}\n\n{table(rows)}")
    if evidence.left_out:
        parts.append("Not compared (left out): " + "; ".join(evidence.left_out) + ".")
    return "\n\n".join(parts)
