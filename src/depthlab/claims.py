"""The article's seven claims about depth, each turned into a measured verdict.

Input: one row per trained (dataset, family, depth, seed) from the evaluate stage. Every comparison is a
statistical test over seeds, never a comparison of two means by eye:
- a trend with depth: Spearman's rank correlation over every seed's value;
- two configurations: Welch's t-test (unequal variances; seeds are independent runs);
- spread across depths: Levene's test (Brown-Forsythe, median-centred).
A result counts as a difference when p < 1 - confidence (params.yaml `report.confidence`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["dataset", "family", "depth"]


@dataclass(frozen=True)
class Claim:
    number: int
    statement: str
    verdict: str  # supported | refuted | depends | not supported | untested
    finding: str  # one sentence: why this verdict
    evidence: str  # Markdown tables
    plots: tuple[str, ...] = ()


def configurations(runs: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Mean, std and confidence interval over seeds for every (dataset, family, depth)."""
    grouped = runs.groupby(KEYS)
    table = grouped.agg(
        param_count=("param_count", "first"),
        seeds=("seed", "count"),
        diverged=("diverged", "sum"),
        accuracy=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        train_time_s=("train_time_s", "mean"),
        train_time_std=("train_time_s", "std"),
        train_samples_per_s=("train_samples_per_s", "mean"),
        inference_samples_per_s=("throughput_samples_per_s", "mean"),
    ).reset_index()
    table["accuracy_ci"] = grouped["test_accuracy"].apply(lambda v: ci_half_width(v, confidence)).to_numpy()
    table["train_time_ci"] = grouped["train_time_s"].apply(lambda v: ci_half_width(v, confidence)).to_numpy()
    return table.fillna({"accuracy_std": 0.0, "train_time_std": 0.0})


def ci_half_width(values: pd.Series, confidence: float) -> float:
    """Half-width of the t-distribution confidence interval of the mean; NaN with fewer than 2 values."""
    values = values.dropna()
    if len(values) < 2:
        return math.nan
    return float(stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))


def welch_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Welch t-test; NaN where it is undefined (fewer than 2 seeds, or no spread in either)."""
    a, b = a.dropna(), b.dropna()
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def trend(depths: pd.Series, values: pd.Series) -> tuple[float, float]:
    """Spearman's rho and p of values against depth; NaN where undefined."""
    mask = values.notna()
    if depths[mask].nunique() < 2 or values[mask].nunique() < 2:
        return math.nan, math.nan
    result = stats.spearmanr(depths[mask], values[mask])
    return float(result.statistic), float(result.pvalue)


def significant(p: float, alpha: float) -> bool:
    return not math.isnan(p) and p < alpha


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


def claim_time(runs: pd.DataFrame, alpha: float) -> Claim:
    rows, flags = [], []
    for (dataset, family), group in runs.groupby(["dataset", "family"]):
        rho, p = trend(group.depth, group.train_time_s)
        by_depth = group.groupby("depth").train_time_s.mean()
        grows = rho > 0 and significant(p, alpha)
        flags.append(grows)
        rows.append({
            "dataset": dataset, "family": family, "Spearman rho": f"{rho:.2f}", "p": _fmt_p(p),
            "time at shallowest (s)": f"{by_depth.iloc[0]:.2f}", "time at deepest (s)": f"{by_depth.iloc[-1]:.2f}",
            "deepest / shallowest": f"{by_depth.iloc[-1] / by_depth.iloc[0]:.2f}x", "grows with depth": grows,
        })
    grown = [f"{r['family']} on {r['dataset']}" for r in rows if r["grows with depth"]]
    verdict = _by_count(flags, "supported", "refuted", "depends")
    finding = {
        "supported": "training time grows with depth in every family on every dataset (same number of steps).",
        "refuted": "no family's training time grows significantly with depth.",
        "depends": f"training time grows significantly with depth only for {', '.join(grown)}.",
    }[verdict]
    return Claim(1, "Deeper models take more time to train.", verdict, finding, _markdown(rows), ("train_time_vs_depth.png",))


def claim_accuracy(runs: pd.DataFrame, table: pd.DataFrame, alpha: float) -> Claim:
    rows, keeps_improving, helps = [], [], []
    for (dataset, family), group in table.groupby(["dataset", "family"]):
        group = group.sort_values("depth")
        best = group.loc[group.accuracy.idxmax()]
        shallow, deep = group.iloc[0], group.iloc[-1]
        p_gain = math.nan if best.depth == shallow.depth else welch_p(
            seeds_of(runs, dataset, family, best.depth), seeds_of(runs, dataset, family, shallow.depth))
        p_drop = math.nan if best.depth == deep.depth else welch_p(
            seeds_of(runs, dataset, family, best.depth), seeds_of(runs, dataset, family, deep.depth))
        gained, dropped = significant(p_gain, alpha), significant(p_drop, alpha)
        helps.append(gained)
        keeps_improving.append(gained and best.depth == deep.depth)
        if not gained:
            shape = "no significant gain over the shallowest"
        elif dropped:
            shape = f"rises to depth {int(best.depth)}, then significantly worse"
        elif best.depth == deep.depth:
            shape = "rises to the deepest"
        else:
            lower = "lower" if deep.accuracy < best.accuracy - 0.01 else "about the same"
            shape = f"rises to depth {int(best.depth)}; deeper is {lower}, not significantly over {int(best.seeds)} seeds"
        rows.append({
            "dataset": dataset, "family": family, "peak depth": int(best.depth),
            "acc at shallowest": _pct(shallow.accuracy), "acc at peak": _pct(best.accuracy),
            "acc at deepest": _pct(deep.accuracy), "peak vs shallowest p": _fmt_p(p_gain),
            "peak vs deepest p": _fmt_p(p_drop), "shape": shape,
        })
    plain_vs_residual = []
    for dataset in sorted(set(runs.dataset)):
        common = sorted(set(runs[(runs.dataset == dataset) & (runs.family == "mlp")].depth)
                        & set(runs[(runs.dataset == dataset) & (runs.family == "resmlp")].depth))
        if not common:
            continue
        depth = common[-1]
        plain, residual = seeds_of(runs, dataset, "mlp", depth), seeds_of(runs, dataset, "resmlp", depth)
        plain_vs_residual.append({
            "dataset": dataset, "depth": depth, "mlp acc": _pct(plain.mean()), "resmlp acc": _pct(residual.mean()),
            "Welch p": _fmt_p(welch_p(plain, residual)),
        })
    if all(keeps_improving):
        verdict, finding = "supported", "accuracy rises significantly with depth up to the deepest model everywhere."
    elif not any(helps):
        verdict, finding = "refuted", "no family gains significant accuracy from depth on any dataset."
    else:
        peaked = [f"{r['family']} on {r['dataset']} (peak at depth {r['peak depth']})" for r in rows
                  if r["shape"].endswith("significantly worse")]
        flat = [f"{r['family']} on {r['dataset']}" for r in rows if r["shape"].startswith("no significant gain")]
        parts = [f"deeper is significantly worse past the peak for {', '.join(peaked)}" if peaked else "",
                 f"depth buys nothing significant for {', '.join(flat)}" if flat else ""]
        verdict = "depends"
        finding = "depth helps up to a point, which depends on family and data: " + "; ".join(p for p in parts if p) + "."
    evidence = _markdown(rows) + "\n\nPlain vs residual at the largest common depth (He et al. 2016 degradation):\n\n"
    evidence += _markdown(plain_vs_residual)
    return Claim(2, "Deeper models are more accurate.", verdict, finding, evidence, ("accuracy_vs_depth.png", "pareto.png"))


def claim_rate(runs: pd.DataFrame, alpha: float) -> Claim:
    rows, slower = [], []
    for (dataset, family), group in runs.groupby(["dataset", "family"]):
        rho_train, p_train = trend(group.depth, group.train_samples_per_s)
        rho_infer, p_infer = trend(group.depth, group.throughput_samples_per_s)
        drops = rho_train < 0 and significant(p_train, alpha)
        slower.append(drops)
        by_depth = group.groupby("depth")[["train_samples_per_s", "throughput_samples_per_s"]].mean()
        rows.append({
            "dataset": dataset, "family": family,
            "train samples/s shallowest -> deepest": f"{by_depth.iloc[0, 0]:,.0f} -> {by_depth.iloc[-1, 0]:,.0f}",
            "train rho (p)": f"{rho_train:.2f} ({_fmt_p(p_train)})",
            "inference samples/s shallowest -> deepest": f"{by_depth.iloc[0, 1]:,.0f} -> {by_depth.iloc[-1, 1]:,.0f}",
            "inference rho (p)": f"{rho_infer:.2f} ({_fmt_p(p_infer)})",
        })
    verdict = _by_count(slower, "refuted", "not supported", "depends")
    finding = {
        "refuted": "deeper models process fewer samples per second, in training and inference, in every family.",
        "not supported": "throughput shows no significant rise with depth.",
        "depends": "throughput falls significantly with depth for some families and not others.",
    }[verdict]
    return Claim(3, 'Deep learning has a higher "performance rate".', verdict, finding, _markdown(rows),
                 ("throughput_vs_depth.png",))


def claim_stability(runs: pd.DataFrame, table: pd.DataFrame, alpha: float) -> Claim:
    rows, more_stable, less_stable = [], [], []
    for (dataset, family), group in runs.groupby(["dataset", "family"]):
        spreads = table[(table.dataset == dataset) & (table.family == family)].sort_values("depth")
        rho, p_trend = trend(spreads.depth, spreads.accuracy_std)
        samples = [g.test_accuracy.dropna() for _, g in group.groupby("depth") if g.test_accuracy.notna().sum() > 1]
        p_levene = float(stats.levene(*samples, center="median").pvalue) if len(samples) > 1 else math.nan
        differs = significant(p_levene, alpha) or significant(p_trend, alpha)
        more_stable.append(differs and rho < 0)
        less_stable.append(differs and rho > 0)
        rows.append({
            "dataset": dataset, "family": family,
            "std at shallowest (pts)": _pct(spreads.accuracy_std.iloc[0]),
            "std at deepest (pts)": _pct(spreads.accuracy_std.iloc[-1]),
            "rho(std, depth)": f"{rho:.2f}", "Levene p": _fmt_p(p_levene),
            "diverged runs": int(spreads.diverged.sum()),
            "diverged at depths": ", ".join(str(int(d)) for d in spreads[spreads.diverged > 0].depth) or "-",
        })
    diverged_deep = sum(r["diverged runs"] for r in rows)
    if any(less_stable) or diverged_deep:
        verdict = "refuted"
        grew = [f"{r['family']} on {r['dataset']}" for r, flag in zip(rows, less_stable) if flag]
        finding = (f"seed-to-seed spread grows significantly with depth for {', '.join(grew)}" if grew else
                   "spread shows no trend, but runs diverged") + f"; {diverged_deep} run(s) diverged."
    elif any(more_stable):
        verdict, finding = "depends", "spread falls with depth only for some families; no run diverged."
    else:
        verdict = "not supported"
        finding = "seed-to-seed spread shows no significant change with depth, and no run diverged."
    return Claim(4, 'Deep learning is more stable; neural networks are "fundamentally unstable".', verdict, finding,
                 _markdown(rows), ("seed_spread_vs_depth.png",))


def matched_configurations(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, each family's depth >= 1 configuration closest (in log scale) to a common parameter budget:
    the median parameter count of all depth >= 1 configurations on that dataset."""
    picked = []
    for _, group in table[table.depth >= 1].groupby("dataset"):
        budget = float(np.median(group.param_count))
        distance = (np.log(group.param_count) - math.log(budget)).abs()
        picked.append(group.assign(distance=distance).sort_values("distance").groupby("family").head(1))
    return pd.concat(picked).sort_values(["dataset", "accuracy"], ascending=[True, False]) if picked else table.iloc[:0]


def claim_types(runs: pd.DataFrame, table: pd.DataFrame, alpha: float) -> Claim:
    matched = matched_configurations(table)
    rows, differs, winners = [], [], []
    for dataset, group in matched.groupby("dataset", sort=True):
        best = group.iloc[0]
        best_seeds = seeds_of(runs, dataset, best.family, best.depth)
        for _, config in group.iterrows():
            p = math.nan if config.family == best.family else welch_p(best_seeds, seeds_of(runs, dataset, config.family, config.depth))
            differs.append(significant(p, alpha))
            rows.append({
                "dataset": dataset, "family": config.family, "depth": int(config.depth),
                "parameters": int(config.param_count), "accuracy": _pct(config.accuracy),
                "95% CI (pts)": _pct(config.accuracy_ci), "vs best p": _fmt_p(p),
            })
        if len(group) > 1:
            winners.append(f"{best.family} on {dataset}")
    if len(matched.family.unique()) < 2:
        return Claim(5, "Types differ: feedforward, convolutional, recurrent.", "untested",
                     "the sweep trains fewer than two families.", _markdown(rows))
    verdict = "supported" if any(differs) else "not supported"
    finding = (f"at matched parameter counts the families differ significantly; best: {', '.join(winners)}."
               if any(differs) else "at matched parameter counts no family is significantly better than another.")
    return Claim(5, "Types differ: feedforward, convolutional, recurrent.", verdict, finding, _markdown(rows),
                 ("families_matched.png",))


def claim_uses(runs: pd.DataFrame, table: pd.DataFrame, kinds: dict[str, str], deep_from: int, alpha: float) -> Claim:
    rows, deep_wins = [], {}
    for dataset, group in table.groupby("dataset"):
        deep, shallow = group[group.depth >= deep_from], group[group.depth < deep_from]
        if deep.empty or shallow.empty:
            continue
        best_deep, best_shallow = deep.loc[deep.accuracy.idxmax()], shallow.loc[shallow.accuracy.idxmax()]
        p = welch_p(seeds_of(runs, dataset, best_deep.family, best_deep.depth),
                    seeds_of(runs, dataset, best_shallow.family, best_shallow.depth))
        deep_wins[dataset] = best_deep.accuracy > best_shallow.accuracy and significant(p, alpha)
        rows.append({
            "dataset": dataset, "kind": kinds.get(dataset, "?"),
            "best deep": f"{best_deep.family}-d{int(best_deep.depth)} {_pct(best_deep.accuracy)}",
            "best shallow": f"{best_shallow.family}-d{int(best_shallow.depth)} {_pct(best_shallow.accuracy)}",
            "Welch p": _fmt_p(p), "deep significantly better": deep_wins[dataset],
        })
    perceptual = [d for d in deep_wins if kinds.get(d) in ("sequence", "image")]
    tabular = [d for d in deep_wins if kinds.get(d) == "tabular"]
    statement = ("Key uses differ: deep learning for vision / speech / language, "
                 "plain networks for classification and predictive analytics.")
    if not perceptual or not tabular:
        return Claim(6, statement, "untested", "needs at least one signal or image dataset and one tabular dataset "
                     "with both shallow and deep models.", _markdown(rows))
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
    return Claim(6, statement, verdict, finding + f" (deep = depth >= {deep_from})", _markdown(rows), ("pareto.png",))


def claim_hardware(machines: pd.DataFrame, hardware_summary: str, alpha: float) -> Claim:
    """`machines`: one row per training run in MLflow with its hardware key, configuration and results.

    The first two machines are compared on the configurations both trained: time as a ratio, accuracy with
    Welch's t-test over seeds per configuration, since the claim stands or falls on whether hardware
    changes what the same layers learn.
    """
    statement = '"Architecture" of deep learning is hardware.'
    names = sorted(machines.hardware.unique()) if not machines.empty else []
    if len(names) < 2:
        return Claim(7, statement, "untested",
                     f"every figure here comes from one machine ({hardware_summary}); run the pipeline on a second "
                     "machine against the same MLflow server and the report compares them side by side.",
                     _markdown([{"machine": n, "runs": int((machines.hardware == n).sum())} for n in names]))
    per_machine = machines.groupby([*KEYS, "hardware"]).agg(
        accuracy=("test_accuracy", "mean"), train_time_s=("train_time_s", "mean")).reset_index()
    wide = per_machine.pivot_table(index=KEYS, columns="hardware", values=["accuracy", "train_time_s"]).dropna()
    if wide.empty:
        return Claim(7, statement, "untested", "the machines in MLflow trained no configuration in common.", "")
    first, second = names[0], names[1]
    on_first, on_second = machines[machines.hardware == first], machines[machines.hardware == second]
    times = wide["train_time_s"][[first, second]]
    time_ratio = (times.max(axis=1) / times.min(axis=1)).median()
    rows, differs = [], []
    for d, f, depth in wide.index:
        p = welch_p(seeds_of(on_first, d, f, depth), seeds_of(on_second, d, f, depth))
        if significant(p, alpha):
            differs.append(f"{d}/{f}-d{int(depth)}")
        rows.append({
            "configuration": f"{d}/{f}-d{int(depth)}",
            "time on A (s)": f"{wide['train_time_s'][first][(d, f, depth)]:.2f}",
            "time on B (s)": f"{wide['train_time_s'][second][(d, f, depth)]:.2f}",
            "acc on A": _pct(wide["accuracy"][first][(d, f, depth)]),
            "acc on B": _pct(wide["accuracy"][second][(d, f, depth)]),
            "Welch p (acc)": _fmt_p(p),
        })
    evidence = f"A = {first}\n\nB = {second}\n\n" + _markdown(rows)
    timing = f"the same architectures on two machines: one takes {time_ratio:.2f}x as long (median)"
    if differs:
        return Claim(7, statement, "depends", f"{timing}, and the machine changes the accuracy of {len(differs)} of "
                     f"{len(rows)} configurations significantly: {', '.join(differs)}.", evidence)
    return Claim(7, statement, "refuted", f"{timing}, and no configuration's accuracy differs significantly between "
                 "them; hardware sets the time, the layers set what is learned.", evidence)
