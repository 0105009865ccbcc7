"""The article's seven claims about depth, each turned into a measured verdict with its effect and interval.

Input: one row per trained (dataset, family, depth, seed) from the evaluate stage. Deep plain networks are
bimodal (some seeds train, some collapse to chance), so nothing here assumes normal errors:
- an interval is a bootstrap interval (BCa, `scipy.stats.bootstrap`); an interval of accuracies stays in
  [0, 1] because every resampled mean does;
- two configurations are compared by a permutation test of their difference in mean accuracy (no
  normality; unlike a rank test it weighs how far a collapsed seed fell), and the effect is that
  difference with a bootstrap interval, beside Cliff's delta;
- a trend with depth is Spearman's rank correlation over every seed's value; its effect is the ratio of
  the deepest to the shallowest configuration's mean, with a bootstrap interval;
- a change of spread is a permutation test of the difference in standard deviation, its effect that
  difference with a bootstrap interval;
- a seed has collapsed when its test accuracy is within `collapse_margin` of the majority-class rate; the
  collapse rate has an exact (Clopper-Pearson) binomial interval, and two rates are compared by Fisher's
  exact test.
Each claim's tests are one family: their p-values are adjusted with Benjamini-Hochberg
(`scipy.stats.false_discovery_control`), and a difference counts when the adjusted p < 1 - confidence.
A verdict is then recomputed on two disjoint halves of the seeds; where the halves disagree, the verdict
is "unstable at this seed count" instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["dataset", "family", "depth"]
RESAMPLES = 2000
PERMUTATIONS = 9999
UNSTABLE = "unstable at this seed count"
MIN_SEEDS_FOR_HALVES = 4


@dataclass(frozen=True)
class Settings:
    confidence: float
    collapse_margin: float
    deep_from: int
    kinds: dict[str, str]
    hardware_summary: str
    types: dict[str, str] = field(default_factory=dict)  # family -> the article's type of network

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


@dataclass(frozen=True)
class Claim:
    number: int
    statement: str
    verdict: str  # supported | refuted | depends | not supported | untested | UNSTABLE
    finding: str  # one sentence: why this verdict
    effect: str  # the effect behind the verdict, with its interval
    evidence: str  # Markdown tables
    plots: tuple[str, ...] = ()
    halves: tuple[str, str] | None = None  # the verdicts on the two halves of the seeds
    measured_verdict: str = ""  # the verdict over all seeds, before the split-half check
    lr_sensitivity: str = ""  # whether the verdict would change at a fixed learning rate


@dataclass(frozen=True)
class Effect:
    """A point estimate, its bootstrap interval, and the p of the test that goes with it."""

    estimate: float
    low: float
    high: float
    p: float = math.nan
    cliffs_delta: float = math.nan

    def points(self) -> str:
        """A difference of accuracies (fractions) in percentage points."""
        return f"{100 * self.estimate:+.1f} pts [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"

    def times(self) -> str:
        if self.low == self.high:  # no spread: e.g. the seeds of an ensemble share its time
            return f"{self.estimate:.2f}x"
        return f"{self.estimate:.2f}x [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class Collapse:
    collapsed: int
    seeds: int
    low: float
    high: float

    def text(self) -> str:
        return f"{self.collapsed} of {self.seeds} seeds collapsed [{100 * self.low:.0f}%, {100 * self.high:.0f}%]"


# --- statistics ---------------------------------------------------------------------------------------------


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def _mean_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) / np.mean(b, axis=axis)


def _std_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.std(a, axis=axis, ddof=1) - np.std(b, axis=axis, ddof=1)


def bootstrap(
    samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], confidence: float
) -> tuple[float, float, float]:
    """The statistic and its BCa bootstrap interval (percentile where BCa is undefined, a point where no
    sample varies). Seeded, so a report is reproducible."""
    estimate = float(statistic(*samples))
    if any(len(s) < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        return estimate, estimate, estimate
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                samples,
                statistic,
                confidence_level=confidence,
                method=method,
                n_resamples=RESAMPLES,
                random_state=np.random.default_rng(0),
            )
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return estimate, float(low), float(high)
    return estimate, math.nan, math.nan


def _values(values: pd.Series | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def mean_interval(values: pd.Series | np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean over seeds and its bootstrap interval; NaN without values."""
    array = _values(values)
    if not len(array):
        return math.nan, math.nan, math.nan
    return bootstrap((array,), _mean, confidence)


def difference(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """mean(a) - mean(b) with its bootstrap interval, the two-sided p of a permutation test of that difference
    (exact when the relabellings are fewer than PERMUTATIONS), and Cliff's delta."""
    a, b = _values(a), _values(b)
    if len(a) < 2 or len(b) < 2:
        return Effect(math.nan, math.nan, math.nan)
    estimate, low, high = bootstrap((a, b), _mean_difference, confidence)
    if np.ptp(np.concatenate([a, b])) == 0:
        return Effect(estimate, low, high, 1.0, 0.0)
    test = stats.permutation_test(
        (a, b), _mean_difference, vectorized=True, n_resamples=PERMUTATIONS, random_state=np.random.default_rng(0)
    )
    cliffs_delta = float(np.mean(np.sign(a[:, None] - b[None, :])))  # P(a > b) - P(a < b) over all pairs
    return Effect(estimate, low, high, float(test.pvalue), cliffs_delta)


def ratio(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """mean(a) / mean(b) with its bootstrap interval."""
    a, b = _values(a), _values(b)
    if not len(a) or not len(b):
        return Effect(math.nan, math.nan, math.nan)
    return Effect(*bootstrap((a, b), _mean_ratio, confidence))


def spread_difference(a: pd.Series, b: pd.Series, confidence: float) -> Effect:
    """std(a) - std(b) with its bootstrap interval and the two-sided p of a permutation test of it. Not the
    Brown-Forsythe test: centred on the median, 8 seeds collapsed to one value and 2 trained look steady
    (p = 0.54 for standard deviations of 24 and 0.4 points, digits, depth 16 vs 0)."""
    a, b = _values(a), _values(b)
    if len(a) < 2 or len(b) < 2:
        return Effect(math.nan, math.nan, math.nan)
    estimate, low, high = bootstrap((a, b), _std_difference, confidence)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Effect(estimate, low, high, 1.0)
    test = stats.permutation_test(
        (a, b), _std_difference, vectorized=True, n_resamples=PERMUTATIONS, random_state=np.random.default_rng(0)
    )
    return Effect(estimate, low, high, float(test.pvalue))


def collapse(accuracies: pd.Series, chance: float, margin: float, confidence: float) -> Collapse:
    """Seeds whose accuracy is within `margin` of the majority-class rate, with an exact binomial interval."""
    values = np.asarray(accuracies, dtype=float)
    collapsed = int(np.sum(~np.isfinite(values) | (values <= chance + margin)))
    if not len(values):
        return Collapse(0, 0, math.nan, math.nan)
    interval = stats.binomtest(collapsed, len(values)).proportion_ci(confidence_level=confidence, method="exact")
    return Collapse(collapsed, len(values), float(interval.low), float(interval.high))


def collapse_p(first: Collapse, second: Collapse) -> float:
    """Fisher's exact test of two collapse rates; NaN without seeds, 1 when neither collapsed."""
    if not first.seeds or not second.seeds:
        return math.nan
    table = [[first.collapsed, first.seeds - first.collapsed], [second.collapsed, second.seeds - second.collapsed]]
    return float(stats.fisher_exact(table).pvalue)


def trend(depths: pd.Series, values: pd.Series) -> tuple[float, float]:
    """Spearman's rho and p of values against depth; NaN where undefined."""
    mask = np.isfinite(np.asarray(values, dtype=float))
    if depths[mask].nunique() < 2 or values[mask].nunique() < 2:
        return math.nan, math.nan
    result = stats.spearmanr(depths[mask], values[mask])
    return float(result.statistic), float(result.pvalue)


def adjusted(ps: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values over one claim's tests; NaN stays NaN."""
    finite = [i for i, p in enumerate(ps) if not math.isnan(p)]
    out = [math.nan] * len(ps)
    if finite:
        for i, q in zip(finite, stats.false_discovery_control([ps[i] for i in finite]), strict=True):
            out[i] = float(q)
    return out


def significant(q: float, alpha: float) -> bool:
    return not math.isnan(q) and q < alpha


# --- the study's table ------------------------------------------------------------------------------------


def configurations(runs: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per (dataset, family, depth): mean accuracy with its bootstrap interval, spread, collapses, times."""
    rows = []
    for (dataset, family, depth), group in runs.groupby(KEYS):
        accuracy, low, high = mean_interval(group.test_accuracy, settings.confidence)
        time, time_low, time_high = mean_interval(group.train_time_s, settings.confidence)
        collapsed = collapse(group.test_accuracy, group.chance.iloc[0], settings.collapse_margin, settings.confidence)
        rows.append(
            {
                "dataset": dataset,
                "family": family,
                "depth": int(depth),
                "param_count": int(group.param_count.iloc[0]),
                "lr": float(group.lr.iloc[0]) if "lr" in group else math.nan,
                "seeds": len(group),
                "diverged": int(group.diverged.sum()),
                "collapsed": collapsed.collapsed,
                "accuracy": accuracy,
                "accuracy_low": low,
                "accuracy_high": high,
                "accuracy_std": float(group.test_accuracy.std()) if len(group) > 1 else 0.0,
                "train_time_s": time,
                "train_time_low": time_low,
                "train_time_high": time_high,
                "train_samples_per_s": float(group.train_samples_per_s.mean()),
                "inference_samples_per_s": float(group.throughput_samples_per_s.mean()),
            }
        )
    return pd.DataFrame(rows)


def seeds_of(runs: pd.DataFrame, dataset: str, family: str, depth: int, column: str = "test_accuracy") -> pd.Series:
    chosen = runs[(runs.dataset == dataset) & (runs.family == family) & (runs.depth == depth)]
    return chosen[column].astype(float)


def _fmt_p(p: float) -> str:
    return "n/a" if math.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def _markdown(rows: list[dict[str, object]]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False) if rows else "_no data_"


def _by_count(flags: list[bool], all_: str, none: str, some: str) -> str:
    if flags and all(flags):
        return all_
    if not any(flags):
        return none
    return some


def _pair(dataset: str, family: str) -> str:
    return f"{family} on {dataset}"


# --- the claims ---------------------------------------------------------------------------------------------


def _depth_trends(runs: pd.DataFrame, column: str, settings: Settings) -> list[dict[str, object]]:
    """Per (dataset, family): Spearman's trend of `column` with depth and the deepest / shallowest ratio."""
    found = []
    for (dataset, family), group in runs.groupby(["dataset", "family"]):
        depths = sorted(group.depth.unique())
        rho, p = trend(group.depth, group[column])
        effect = ratio(
            group[group.depth == depths[-1]][column], group[group.depth == depths[0]][column], settings.confidence
        )
        found.append(
            {
                "dataset": dataset,
                "family": family,
                "rho": rho,
                "p": p,
                "ratio": effect,
                "shallowest": depths[0],
                "deepest": depths[-1],
            }
        )
    for row, q in zip(found, adjusted([row["p"] for row in found]), strict=True):
        row["q"] = q
    return found


def _ratio_range(found: list[dict[str, object]], what: str) -> str:
    ordered = sorted((r for r in found if not math.isnan(r["ratio"].estimate)), key=lambda r: r["ratio"].estimate)
    if not ordered:
        return "n/a"
    low, high = ordered[0], ordered[-1]
    return (
        f"{what}, deepest / shallowest: from {low['ratio'].times()} ({_pair(low['dataset'], low['family'])}) "
        f"to {high['ratio'].times()} ({_pair(high['dataset'], high['family'])})"
    )


def claim_time(runs: pd.DataFrame, settings: Settings) -> Claim:
    found = _depth_trends(runs, "train_time_s", settings)
    flags = [r["rho"] > 0 and significant(r["q"], settings.alpha) for r in found]
    rows = [
        {
            "dataset": r["dataset"],
            "family": r["family"],
            "depths": f"{r['shallowest']}-{r['deepest']}",
            "Spearman rho": f"{r['rho']:.2f}",
            "adjusted p": _fmt_p(r["q"]),
            "deepest / shallowest time [95% CI]": r["ratio"].times(),
            "grows with depth": flag,
        }
        for r, flag in zip(found, flags, strict=True)
    ]
    grown = [_pair(r["dataset"], r["family"]) for r, flag in zip(found, flags, strict=True) if flag]
    verdict = _by_count(flags, "supported", "refuted", "depends")
    finding = {
        "supported": "training time grows with depth in every family on every dataset (same number of steps).",
        "refuted": "no family's training time grows significantly with depth.",
        "depends": f"training time grows significantly with depth only for {', '.join(grown)}.",
    }[verdict]
    note = (
        "\n\nThe seeds of a configuration train as one ensemble and each is given the ensemble's time divided by "
        "its seeds, so they share one time: a ratio without an interval is exact, not uncertain."
    )
    return Claim(
        1,
        "Deeper models take more time to train.",
        verdict,
        finding,
        _ratio_range(found, "training time"),
        _markdown(rows) + note,
        ("train_time_vs_depth.png",),
    )


def claim_rate(runs: pd.DataFrame, settings: Settings) -> Claim:
    found = _depth_trends(runs, "train_samples_per_s", settings)
    inference = {(r["dataset"], r["family"]): r for r in _depth_trends(runs, "throughput_samples_per_s", settings)}
    flags = [r["rho"] < 0 and significant(r["q"], settings.alpha) for r in found]
    rows = []
    for r, flag in zip(found, flags, strict=True):
        infer = inference[(r["dataset"], r["family"])]
        rows.append(
            {
                "dataset": r["dataset"],
                "family": r["family"],
                "train samples/s, deepest / shallowest [95% CI]": r["ratio"].times(),
                "train rho (adjusted p)": f"{r['rho']:.2f} ({_fmt_p(r['q'])})",
                "inference samples/s, deepest / shallowest [95% CI]": infer["ratio"].times(),
                "inference rho (adjusted p)": f"{infer['rho']:.2f} ({_fmt_p(infer['q'])})",
                "falls with depth": flag,
            }
        )
    verdict = _by_count(flags, "refuted", "not supported", "depends")
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
        _ratio_range(found, "training samples/s"),
        _markdown(rows),
        ("throughput_vs_depth.png",),
    )


def claim_accuracy(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> Claim:
    confidence, alpha = settings.confidence, settings.alpha
    found = []
    for (dataset, family), group in table.groupby(["dataset", "family"]):
        group = group.sort_values("depth")
        best = group.loc[group.accuracy.idxmax()]
        shallow, deep = group.iloc[0], group.iloc[-1]
        at = {d: seeds_of(runs, dataset, family, d) for d in (best.depth, shallow.depth, deep.depth)}
        nothing = Effect(0.0, 0.0, 0.0)
        gain = nothing if best.depth == shallow.depth else difference(at[best.depth], at[shallow.depth], confidence)
        drop = nothing if best.depth == deep.depth else difference(at[deep.depth], at[best.depth], confidence)
        found.append(
            {
                "dataset": dataset,
                "family": family,
                "best": best,
                "shallow": shallow,
                "deep": deep,
                "gain": gain,
                "drop": drop,
            }
        )
    plain_vs_residual = []
    for dataset in sorted(set(runs.dataset)):
        common = sorted(
            set(runs[(runs.dataset == dataset) & (runs.family == "mlp")].depth)
            & set(runs[(runs.dataset == dataset) & (runs.family == "resmlp")].depth)
        )
        if common:
            plain, residual = (seeds_of(runs, dataset, f, common[-1]) for f in ("mlp", "resmlp"))
            chance = float(runs[runs.dataset == dataset].chance.iloc[0])
            plain_vs_residual.append(
                {
                    "dataset": dataset,
                    "depth": common[-1],
                    "effect": difference(plain, residual, confidence),
                    "collapse": collapse(plain, chance, settings.collapse_margin, confidence),
                }
            )
    qs = adjusted(
        [r["gain"].p for r in found] + [r["drop"].p for r in found] + [r["effect"].p for r in plain_vs_residual]
    )
    for i, r in enumerate(found):
        r["gain_q"], r["drop_q"] = qs[i], qs[len(found) + i]
    for i, r in enumerate(plain_vs_residual):
        r["q"] = qs[2 * len(found) + i]

    rows, keeps_improving, helps, peaked, flat = [], [], [], [], []
    for r in found:
        best, deep = r["best"], r["deep"]
        gained = r["gain"].estimate > 0 and significant(r["gain_q"], alpha)
        dropped = r["drop"].estimate < 0 and significant(r["drop_q"], alpha)
        helps.append(gained)
        keeps_improving.append(gained and best.depth == deep.depth)
        if not gained:
            shape = "no significant gain over the shallowest"
            flat.append(_pair(r["dataset"], r["family"]))
        elif dropped:
            shape = f"rises to depth {int(best.depth)}, then significantly worse"
            peaked.append(
                f"{_pair(r['dataset'], r['family'])} (depth {int(deep.depth)} vs {int(best.depth)}:"
                f" {r['drop'].points()})"
            )
        elif best.depth == deep.depth:
            shape = "rises to the deepest"
        else:
            shape = f"rises to depth {int(best.depth)}; deeper is not significantly different"
        rows.append(
            {
                "dataset": r["dataset"],
                "family": r["family"],
                "peak depth": int(best.depth),
                "acc at shallowest": _pct(r["shallow"].accuracy),
                "acc at peak": _pct(best.accuracy),
                "acc at deepest": _pct(deep.accuracy),
                "collapsed at deepest": f"{int(deep.collapsed)}/{int(deep.seeds)}",
                "peak - shallowest [95% CI]": r["gain"].points(),
                "adj. p": _fmt_p(r["gain_q"]),
                "deepest - peak [95% CI]": r["drop"].points(),
                "adj. p ": _fmt_p(r["drop_q"]),
                "shape": shape,
            }
        )
    residual_rows = [
        {
            "dataset": r["dataset"],
            "depth": r["depth"],
            "plain - residual [95% CI]": r["effect"].points(),
            "Cliff's delta": f"{r['effect'].cliffs_delta:+.2f}",
            "adjusted p": _fmt_p(r["q"]),
            "plain seeds": r["collapse"].text(),
        }
        for r in plain_vs_residual
    ]

    if all(keeps_improving):
        verdict, finding = "supported", "accuracy rises significantly with depth up to the deepest model everywhere."
    elif not any(helps):
        verdict, finding = "refuted", "no family gains significant accuracy from depth on any dataset."
    else:
        parts = [
            f"deeper is significantly worse past the peak for {', '.join(peaked)}" if peaked else "",
            f"depth buys nothing significant for {', '.join(flat)}" if flat else "",
        ]
        verdict = "depends"
        finding = (
            "depth helps up to a point, which depends on family and data: " + "; ".join(p for p in parts if p) + "."
        )
    biggest_gain = max(found, key=lambda r: r["gain"].estimate)
    effect = (
        f"largest gain: {_pair(biggest_gain['dataset'], biggest_gain['family'])}, depth "
        f"{int(biggest_gain['best'].depth)} vs {int(biggest_gain['shallow'].depth)}: {biggest_gain['gain'].points()}"
    )
    if plain_vs_residual:
        worst = min(plain_vs_residual, key=lambda r: r["effect"].estimate)
        effect += (
            f"; depth {worst['depth']} plain vs residual on {worst['dataset']}: {worst['effect'].points()}, "
            f"{worst['collapse'].collapsed} of {worst['collapse'].seeds} plain seeds collapsed"
        )
    evidence = _markdown(rows) + "\n\nPlain vs residual at the largest common depth (He et al. 2016 degradation):\n\n"
    evidence += _markdown(residual_rows)
    return Claim(
        2,
        "Deeper models are more accurate.",
        verdict,
        finding,
        effect,
        evidence,
        ("accuracy_vs_depth.png", "pareto.png"),
    )


def claim_stability(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> Claim:
    found = []
    for (dataset, family), group in table.groupby(["dataset", "family"]):
        group = group.sort_values("depth")
        shallow, deep = group.iloc[0], group.iloc[-1]
        chance = float(runs[runs.dataset == dataset].chance.iloc[0])
        deepest, shallowest = (seeds_of(runs, dataset, family, d) for d in (deep.depth, shallow.depth))
        collapsed = [collapse(s, chance, settings.collapse_margin, settings.confidence) for s in (deepest, shallowest)]
        found.append(
            {
                "dataset": dataset,
                "family": family,
                "shallow": shallow,
                "deep": deep,
                "diverged": int(group.diverged.sum()),
                "spread": spread_difference(deepest, shallowest, settings.confidence),
                "collapse": collapsed[0],
                "collapse_p": collapse_p(*collapsed),
                "more_collapses": collapsed[0].collapsed - collapsed[1].collapsed,
            }
        )
    qs = adjusted([r["spread"].p for r in found] + [r["collapse_p"] for r in found])
    for i, r in enumerate(found):
        r["q"], r["collapse_q"] = qs[i], qs[len(found) + i]
    alpha = settings.alpha
    less = [
        r["diverged"] > 0
        or (r["spread"].estimate > 0 and significant(r["q"], alpha))
        or (r["more_collapses"] > 0 and significant(r["collapse_q"], alpha))
        for r in found
    ]
    more = [
        (r["spread"].estimate < 0 and significant(r["q"], alpha))
        or (r["more_collapses"] < 0 and significant(r["collapse_q"], alpha))
        for r in found
    ]
    rows = [
        {
            "dataset": r["dataset"],
            "family": r["family"],
            "depths": f"{int(r['shallow'].depth)} vs {int(r['deep'].depth)}",
            "std at shallowest (pts)": _pct(r["shallow"].accuracy_std),
            "std at deepest (pts)": _pct(r["deep"].accuracy_std),
            "deepest - shallowest std [95% CI]": r["spread"].points(),
            "permutation adjusted p": _fmt_p(r["q"]),
            "at deepest": r["collapse"].text(),
            "more collapses than at shallowest, Fisher adjusted p": _fmt_p(r["collapse_q"]),
            "diverged runs": r["diverged"],
        }
        for r in found
    ]
    diverged = sum(r["diverged"] for r in found)
    grew = [_pair(r["dataset"], r["family"]) for r, flag in zip(found, less, strict=True) if flag]
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
    worst = max(
        found,
        key=lambda r: (r["more_collapses"], -math.inf if math.isnan(r["spread"].estimate) else r["spread"].estimate),
    )
    effect = (
        f"{_pair(worst['dataset'], worst['family'])}, depth {int(worst['deep'].depth)} vs "
        f"{int(worst['shallow'].depth)}: {worst['collapse'].text()} at depth {int(worst['deep'].depth)} "
        f"({worst['more_collapses']:+d}, Fisher adjusted p {_fmt_p(worst['collapse_q'])}); "
        f"std of test accuracy {worst['spread'].points()}"
    )
    return Claim(
        4,
        'Deep learning is more stable; neural networks are "fundamentally unstable".',
        verdict,
        finding,
        effect,
        _markdown(rows),
        ("seed_spread_vs_depth.png", "accuracy_vs_depth.png"),
    )


def matched_configurations(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, each family's depth >= 1 configuration closest (in log scale) to a common parameter budget:
    the median parameter count of all depth >= 1 configurations on that dataset."""
    picked = []
    for _, group in table[table.depth >= 1].groupby("dataset"):
        budget = float(np.median(group.param_count))
        distance = (np.log(group.param_count) - math.log(budget)).abs()
        picked.append(group.assign(distance=distance).sort_values("distance").groupby("family").head(1))
    return pd.concat(picked).sort_values(["dataset", "accuracy"], ascending=[True, False]) if picked else table.iloc[:0]


# The article's taxonomy: "deep" types and "plain" types (recurrent networks are in both lists).
DEEP_TYPES = ("recurrent", "unsupervised pre-trained", "convolutional")
PLAIN_TYPES = ("feed-forward", "recurrent", "symmetrically connected")


def _article_group(network_type: str) -> str:
    groups = [
        name
        for name, types in (("deep", DEEP_TYPES), ("plain", PLAIN_TYPES))
        if any(network_type.startswith(t) for t in types)
    ]
    return " and ".join(groups) or "-"


def claim_types(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> Claim:
    statement = (
        "Types differ: deep (recurrent, unsupervised pre-trained, convolutional) and plain (feed-forward, "
        "recurrent, symmetrically connected) networks."
    )
    matched = matched_configurations(table)
    if len(matched.family.unique()) < 2:
        return Claim(5, statement, "untested", "the sweep trains fewer than two families.", "n/a", "_no data_")
    types = {family: settings.types.get(family, family) for family in matched.family.unique()}
    found = []
    for dataset, group in matched.groupby("dataset", sort=True):
        best = group.iloc[0]
        for _, config in group.iloc[1:].iterrows():
            found.append(
                {
                    "dataset": dataset,
                    "best": best,
                    "other": config,
                    "effect": difference(
                        seeds_of(runs, dataset, best.family, best.depth),
                        seeds_of(runs, dataset, config.family, config.depth),
                        settings.confidence,
                    ),
                }
            )
    for r, q in zip(found, adjusted([r["effect"].p for r in found]), strict=True):
        r["q"] = q
    differs = [significant(r["q"], settings.alpha) for r in found]
    against_best = {(r["dataset"], r["other"].family): r for r in found}
    rows = []
    for dataset, group in matched.groupby("dataset", sort=True):
        for _, config in group.iterrows():
            versus = against_best.get((dataset, config.family))
            rows.append(
                {
                    "dataset": dataset,
                    "type": types[config.family],
                    "article's group": _article_group(types[config.family]),
                    "family": config.family,
                    "depth": int(config.depth),
                    "parameters": int(config.param_count),
                    "accuracy [95% CI]": (
                        f"{_pct(config.accuracy)} [{_pct(config.accuracy_low)}, {_pct(config.accuracy_high)}]"
                    ),
                    "best - this [95% CI]": versus["effect"].points() if versus else "best",
                    "adjusted p": _fmt_p(versus["q"]) if versus else "n/a",
                }
            )
    winners = sorted({f"{types[r['best'].family]} ({r['best'].family}) on {r['dataset']}" for r in found})
    behind = sorted(
        {f"{types[r['other'].family]} on {r['dataset']}" for r, flag in zip(found, differs, strict=True) if flag}
    )
    verdict = "supported" if any(differs) else "not supported"
    finding = (
        f"at matched parameter counts the types differ significantly; best: {', '.join(winners)}; "
        f"significantly behind it: {', '.join(behind)}."
        if any(differs)
        else "at matched parameter counts no type is significantly better than another."
    )
    runner_up = {}
    for r in found:  # the closest rival of each dataset's best family
        runner_up.setdefault(r["dataset"], r)
    effect = "; ".join(
        f"{r['best'].family} vs {r['other'].family} on {d}: {r['effect'].points()}" for d, r in runner_up.items()
    )
    return Claim(5, statement, verdict, finding, effect, _markdown(rows), ("families_matched.png",))


def claim_uses(runs: pd.DataFrame, table: pd.DataFrame, settings: Settings) -> Claim:
    kinds, deep_from = settings.kinds, settings.deep_from
    found = []
    for dataset, group in table.groupby("dataset"):
        deep, shallow = group[group.depth >= deep_from], group[group.depth < deep_from]
        if deep.empty or shallow.empty:
            continue
        best_deep, best_shallow = deep.loc[deep.accuracy.idxmax()], shallow.loc[shallow.accuracy.idxmax()]
        found.append(
            {
                "dataset": dataset,
                "deep": best_deep,
                "shallow": best_shallow,
                "effect": difference(
                    seeds_of(runs, dataset, best_deep.family, best_deep.depth),
                    seeds_of(runs, dataset, best_shallow.family, best_shallow.depth),
                    settings.confidence,
                ),
            }
        )
    for r, q in zip(found, adjusted([r["effect"].p for r in found]), strict=True):
        r["q"] = q
    deep_wins = {r["dataset"]: r["effect"].estimate > 0 and significant(r["q"], settings.alpha) for r in found}
    rows = [
        {
            "dataset": r["dataset"],
            "kind": kinds.get(r["dataset"], "?"),
            "best deep": f"{r['deep'].family}-d{int(r['deep'].depth)} {_pct(r['deep'].accuracy)}",
            "best shallow": f"{r['shallow'].family}-d{int(r['shallow'].depth)} {_pct(r['shallow'].accuracy)}",
            "deep - shallow [95% CI]": r["effect"].points(),
            "adjusted p": _fmt_p(r["q"]),
            "deep significantly better": deep_wins[r["dataset"]],
        }
        for r in found
    ]
    effect = "; ".join(f"deep - shallow on {r['dataset']}: {r['effect'].points()}" for r in found) or "n/a"
    perceptual = [d for d in deep_wins if kinds.get(d) in ("sequence", "image")]
    tabular = [d for d in deep_wins if kinds.get(d) == "tabular"]
    statement = (
        "Key uses differ: deep learning for vision / speech / language, "
        "plain networks for classification and predictive analytics."
    )
    if not perceptual or not tabular:
        return Claim(
            6,
            statement,
            "untested",
            "needs at least one signal or image dataset and one tabular dataset with both shallow and deep models.",
            effect,
            _markdown(rows),
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
    return Claim(
        6, statement, verdict, finding + f" (deep = depth >= {deep_from})", effect, _markdown(rows), ("pareto.png",)
    )


def claim_hardware(machines: pd.DataFrame, settings: Settings) -> Claim:
    """`machines`: one row per training run in MLflow with its hardware key, configuration and results.

    The first two machines are compared on the configurations both trained: time as a ratio, accuracy as a
    difference per configuration, since the claim stands or falls on whether hardware changes what the same
    layers learn.
    """
    statement = '"Architecture" of deep learning is hardware.'
    names = sorted(machines.hardware.unique()) if not machines.empty else []
    if len(names) < 2:
        return Claim(
            7,
            statement,
            "untested",
            f"every figure here comes from one machine ({settings.hardware_summary}); run the pipeline on a "
            "second machine against the same MLflow server and the report compares them side by side.",
            "n/a",
            _markdown([{"machine": n, "runs": int((machines.hardware == n).sum())} for n in names]),
        )
    first, second = names[0], names[1]
    on_first, on_second = machines[machines.hardware == first], machines[machines.hardware == second]
    common = sorted(set(map(tuple, on_first[KEYS].to_numpy())) & set(map(tuple, on_second[KEYS].to_numpy())))
    if not common:
        return Claim(7, statement, "untested", "the machines in MLflow trained no configuration in common.", "n/a", "")
    found = []
    for d, f, depth in common:
        found.append(
            {
                "configuration": f"{d}/{f}-d{int(depth)}",
                "time": ratio(
                    seeds_of(on_second, d, f, depth, "train_time_s"),
                    seeds_of(on_first, d, f, depth, "train_time_s"),
                    settings.confidence,
                ),
                "accuracy": difference(
                    seeds_of(on_second, d, f, depth), seeds_of(on_first, d, f, depth), settings.confidence
                ),
            }
        )
    for r, q in zip(found, adjusted([r["accuracy"].p for r in found]), strict=True):
        r["q"] = q
    differs = [r["configuration"] for r in found if significant(r["q"], settings.alpha)]
    rows = [
        {
            "configuration": r["configuration"],
            "time B / A [95% CI]": r["time"].times(),
            "accuracy B - A [95% CI]": r["accuracy"].points(),
            "adjusted p": _fmt_p(r["q"]),
        }
        for r in found
    ]
    evidence = f"A = {first}\n\nB = {second}\n\n" + _markdown(rows)
    time_ratio = float(np.median([r["time"].estimate for r in found]))
    slower, faster, times = ("B", "A", time_ratio) if time_ratio >= 1 else ("A", "B", 1 / time_ratio)
    largest = max(found, key=lambda r: abs(r["accuracy"].estimate) if not math.isnan(r["accuracy"].estimate) else -1)
    effect = (
        f"time B / A: {time_ratio:.2f}x (median over {len(found)} configurations); largest accuracy difference: "
        f"{largest['configuration']} {largest['accuracy'].points()}"
    )
    timing = f"the same architectures on two machines: {slower} takes {times:.2f}x as long as {faster} (median)"
    if differs:
        return Claim(
            7,
            statement,
            "depends",
            f"{timing}, and the machine changes the accuracy of {len(differs)} of "
            f"{len(rows)} configurations significantly: {', '.join(differs)}.",
            effect,
            evidence,
        )
    return Claim(
        7,
        statement,
        "refuted",
        f"{timing}, and no configuration's accuracy differs significantly between "
        "them; hardware sets the time, the layers set what is learned.",
        effect,
        evidence,
    )


# --- all claims, and their stability ------------------------------------------------------------------------


def judge(runs: pd.DataFrame, machines: pd.DataFrame, settings: Settings) -> list[Claim]:
    """The seven verdicts over these runs."""
    table = configurations(runs, settings)
    return [
        claim_time(runs, settings),
        claim_accuracy(runs, table, settings),
        claim_rate(runs, settings),
        claim_stability(runs, table, settings),
        claim_types(runs, table, settings),
        claim_uses(runs, table, settings),
        claim_hardware(machines, settings),
    ]


LR_SENSITIVE = {2: claim_accuracy, 4: claim_stability, 5: claim_types, 6: claim_uses}  # claims about accuracy


def lr_sensitivity(grid: pd.DataFrame, settings: Settings) -> dict[int, str]:
    """Per claim about accuracy: would its verdict change if every configuration trained at one fixed lr?
    Judged on the lr grid's runs (the same seeds and steps at every lr), so that only the lr differs: the
    verdict with every configuration at its chosen lr against the verdict at each lr of the grid."""
    if grid.empty or grid.lr.nunique() < 2:
        return {}
    seeds = int(grid.groupby(["dataset", "family", "depth", "lr"]).seed.nunique().min())
    smallest_p = 2 / math.comb(2 * seeds, seeds)  # two-sided, seeds against seeds, every relabelling
    if smallest_p >= settings.alpha:
        return dict.fromkeys(
            LR_SENSITIVE,
            (
                f"cannot be judged on the lr grid's {seeds} seeds per configuration: a permutation test of {seeds} "
                f"against {seeds} seeds has p >= {smallest_p:.2f}, so no verdict could rest on a significant"
                " difference; "
                'each configuration\'s accuracy at every lr is in the table "Learning rates"'
            ),
        )

    def verdicts(runs: pd.DataFrame) -> dict[int, str]:
        table = configurations(runs, settings)
        return {n: judge_claim(runs, table, settings).verdict for n, judge_claim in LR_SENSITIVE.items()}

    chosen = verdicts(grid[grid.selected])
    fixed = {lr: verdicts(grid[grid.lr == lr]) for lr in sorted(grid.lr.unique())}
    where = f"on the lr grid's {grid.seed.nunique()} seeds and {int(grid.steps.max())} steps"
    out = {}
    for number in LR_SENSITIVE:
        detail = "; ".join(f"lr {lr:g}: {v[number]}" for lr, v in fixed.items())
        changed = any(v[number] != chosen[number] for v in fixed.values())
        out[number] = (
            f"{'would change' if changed else 'would not change'} at a fixed lr ({detail}; "
            f"each configuration at its chosen lr: {chosen[number]}), {where}"
        )
    return out


def lr_table(grid: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per configuration of the lr grid: the chosen lr, and at each lr the mean validation and test accuracy
    of the grid's seeds with their collapses."""
    rows = []
    for (dataset, family, depth), group in grid.groupby(KEYS):
        row = {
            "dataset": dataset,
            "family": family,
            "depth": int(depth),
            "chosen lr": f"{group[group.selected].lr.iloc[0]:g}" if group.selected.any() else "n/a",
        }
        for lr, at in group.groupby("lr"):
            gone = collapse(at.test_accuracy, float(at.chance.iloc[0]), settings.collapse_margin, settings.confidence)
            shown = f"{_pct(at.val_accuracy.astype(float).mean())} / {_pct(at.test_accuracy.astype(float).mean())}"
            row[f"lr {lr:g}: val / test %"] = shown + (
                f", {gone.collapsed} of {gone.seeds} collapsed" if gone.collapsed else ""
            )
        rows.append(row)
    return pd.DataFrame(rows)


def seed_halves(runs: pd.DataFrame) -> tuple[list[int], list[int]] | None:
    """The seeds split into two disjoint halves in order (0-4 and 5-9 for ten); None below 4 seeds."""
    seeds = sorted(int(s) for s in runs.seed.unique())
    if len(seeds) < MIN_SEEDS_FOR_HALVES:
        return None
    return seeds[: len(seeds) // 2], seeds[len(seeds) // 2 :]


def judge_with_halves(runs: pd.DataFrame, machines: pd.DataFrame, settings: Settings) -> list[Claim]:
    """The verdicts over every seed, each checked on the two halves of the seeds: a verdict the halves do not
    agree on is replaced by UNSTABLE (the measured one stays in `measured_verdict`)."""
    verdicts = judge(runs, machines, settings)
    halves = seed_halves(runs)
    if halves is None:
        return [replace(c, measured_verdict=c.verdict) for c in verdicts]
    per_half = [
        judge(runs[runs.seed.isin(h)], machines[machines.seed.isin(h)] if not machines.empty else machines, settings)
        for h in halves
    ]
    checked = []
    for claim, first, second in zip(verdicts, *per_half, strict=True):
        agree = first.verdict == second.verdict
        checked.append(
            replace(
                claim,
                halves=(first.verdict, second.verdict),
                measured_verdict=claim.verdict,
                verdict=claim.verdict if agree else UNSTABLE,
            )
        )
    return checked


def halves_text(runs: pd.DataFrame) -> str:
    halves = seed_halves(runs)
    if halves is None:
        return f"split-half check needs at least {MIN_SEEDS_FOR_HALVES} seeds"
    return " and ".join(
        f"seeds {h[0]}-{h[-1]}" if h == list(range(h[0], h[-1] + 1)) else "seeds " + ", ".join(map(str, h))
        for h in halves
    )
