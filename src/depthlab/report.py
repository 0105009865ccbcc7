"""The study's report: a table over every trained configuration, plots, and the article's seven claims with
verdicts (reports/claims.md and .html), logged to MLflow as a `report` run."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from depthlab import claims, hardware, reference, tracking  # noqa: E402
from depthlab.outputs import read_json, staged_dir, write_text  # noqa: E402
from depthlab.params import Params  # noqa: E402

RUN_COLUMNS = [
    "test_accuracy", "train_time_s", "train_samples_per_s", "throughput_samples_per_s", "latency_ms_per_sample", "diverged",
]
SUMMARY_COLUMNS = {
    "dataset": "dataset", "family": "family", "depth": "depth", "param_count": "parameters", "seeds": "seeds",
    "accuracy": "test accuracy", "accuracy_std": "std", "accuracy_ci": "95% CI ±", "train_time_s": "train time s",
    "train_samples_per_s": "train samples/s", "inference_samples_per_s": "inference samples/s", "diverged": "diverged",
}


def load_runs(params: Params, metrics_dir: Path) -> pd.DataFrame:
    """One row per trained (dataset, family, depth, seed), from the evaluate stage's metrics files."""
    rows = []
    for dataset, family, _ in params.study():
        summary = read_json(metrics_dir / dataset / f"{family}.json")
        for depth, point in summary["depths"].items():
            for seed, values in point["per_seed"].items():
                rows.append({
                    "dataset": dataset, "family": family, "depth": int(depth), "seed": int(seed),
                    "param_count": point["param_count"], **{key: values[key] for key in RUN_COLUMNS},
                })
    runs = pd.DataFrame(rows)
    runs["test_accuracy"] = runs["test_accuracy"].astype(float)
    return runs


def write_report(params: Params, metrics_dir: Path, out_dir: Path) -> pd.DataFrame:
    """Write summary.csv, claims.md, claims.html and plots/ to `out_dir` all-or-nothing; return the summary."""
    confidence = params.report.confidence
    alpha = 1 - confidence
    runs = load_runs(params, metrics_dir)
    table = claims.configurations(runs, confidence)
    machine = hardware.summary()
    kinds = {dataset: params.data.kind(dataset) for dataset in params.data.datasets}
    machines = tracking.training_runs(params.data.datasets) if params.tracking.enabled else pd.DataFrame()
    verdicts = [
        claims.claim_time(runs, alpha),
        claims.claim_accuracy(runs, table, alpha),
        claims.claim_rate(runs, alpha),
        claims.claim_stability(runs, table, alpha),
        claims.claim_types(runs, table, alpha),
        claims.claim_uses(runs, table, kinds, params.report.deep_from, alpha),
        claims.claim_hardware(machines, machine, alpha),
    ]
    references = reference.reference_table(params, runs)
    document = _document(params, table, verdicts, references, machine)

    with staged_dir(out_dir / "plots") as plots:
        _write_plots(table, runs, plots, machine)
    write_text(out_dir / "summary.csv", table.to_csv(index=False))
    write_text(out_dir / "claims.md", document)
    write_text(out_dir / "claims.html", _html(document))
    _log(params, table, verdicts, out_dir)
    return table


def _document(
    params: Params, table: pd.DataFrame, verdicts: list[claims.Claim], references: pd.DataFrame, machine: str
) -> str:
    train = params.train
    confidence = f"{100 * params.report.confidence:g}%"
    lines = [
        "# What does depth buy a neural network? Measured answers",
        "",
        f"Measured on: **{machine}**.",
        f"Protocol: {len(train.seeds)} seeds per configuration, {train.max_steps} steps, batch {train.batch_size}, "
        f"Adam lr {train.lr}, weight decay {train.weight_decay}, shuffled batches: {str(train.shuffle).lower()}. "
        f"Datasets: {', '.join(f'{d} ({params.data.kind(d)})' for d in params.data.datasets)}.",
        f"Statistics: mean over seeds with a {confidence} t confidence interval; differences are tested "
        f"(Welch's t, Spearman's rho, Levene) at p < {1 - params.report.confidence:.2g}.",
        "",
        "## Verdicts",
        "",
        "| # | claim | verdict | why |",
        "|---|---|---|---|",
        *(f"| {c.number} | {c.statement} | **{c.verdict}** | {c.finding} |" for c in verdicts),
        "",
    ]
    if not references.empty:
        lines += [
            "## MNIST-1D reference (Greydanus & Kobak)",
            "",
            references.to_markdown(index=False),
            "",
        ]
        differences = reference.protocol_differences(params)
        if differences:
            lines += ["Not the reference protocol (run `make reference` for it): " + "; ".join(differences) + ".", ""]
    for claim in verdicts:
        lines += [f"## Claim {claim.number}: {claim.statement}", "", f"**Verdict: {claim.verdict}** - {claim.finding}", ""]
        lines += [claim.evidence, ""]
        lines += [f"![{plot}](plots/{plot})" for plot in claim.plots] + [""]
    shown = table.rename(columns=SUMMARY_COLUMNS)[list(SUMMARY_COLUMNS.values())]
    lines += ["## Every configuration", "", shown.to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(lines)


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    style = "body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    return f"<!doctype html><meta charset='utf-8'><title>depthlab claims</title><style>{style}</style>\n{body}"


def _log(params: Params, table: pd.DataFrame, verdicts: list[claims.Claim], out_dir: Path) -> None:
    best = table.loc[table["accuracy"].idxmax()]
    with tracking.tracked_run(
        dataset="study",
        name="report",
        params={"sweep": params.sweep.model_dump(), "train": params.train.model_dump(mode="json"),
                "report": params.report.model_dump()},
        tags={"kind": "report", **{f"claim_{c.number}": c.verdict for c in verdicts}},
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
    ) as run:
        run.log_metrics({"best_test_accuracy": float(best["accuracy"]), "configurations": len(table)})
        run.set_tags({"best_model": f"{best['dataset']}/{best['family']}-d{best['depth']}"})
        run.log_artifacts(out_dir, "report")


def _write_plots(table: pd.DataFrame, runs: pd.DataFrame, plots: Path, machine: str) -> None:
    per_depth = [
        ("accuracy_vs_depth.png", "test accuracy (mean, 95% CI)", "accuracy", "accuracy_ci", False),
        ("train_time_vs_depth.png", "training time, s (mean, 95% CI)", "train_time_s", "train_time_ci", True),
        ("throughput_vs_depth.png", "training samples/s", "train_samples_per_s", None, True),
        ("seed_spread_vs_depth.png", "seed-to-seed std of test accuracy", "accuracy_std", None, False),
    ]
    for name, label, column, error, log in per_depth:
        _by_dataset(table, plots / name, label, machine, lambda axes, rows: _depth_lines(axes, rows, column, error, log))
    _by_dataset(table, plots / "pareto.png", "accuracy vs training time", machine, _pareto)
    _by_dataset(claims.matched_configurations(table), plots / "families_matched.png",
                "families at matched parameter counts", machine, _matched_bars)


def _by_dataset(table: pd.DataFrame, path: Path, title: str, machine: str,
                draw: Callable[[plt.Axes, pd.DataFrame], None]) -> None:
    datasets = sorted(table.dataset.unique())
    figure, axes = plt.subplots(1, max(1, len(datasets)), figsize=(5 * max(1, len(datasets)), 4), dpi=110, squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        draw(ax, table[table.dataset == dataset])
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    if not datasets:
        axes[0][0].text(0.5, 0.5, "nothing to show for this sweep", ha="center", va="center")
        axes[0][0].set_axis_off()
    figure.suptitle(f"{title}\nmeasured on {machine}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _depth_lines(axes: plt.Axes, rows: pd.DataFrame, column: str, error: str | None, log: bool) -> None:
    for family, group in rows.groupby("family"):
        group = group.sort_values("depth")
        axes.errorbar(group.depth, group[column], yerr=group[error] if error else None, marker="o", capsize=3, label=family)
        diverged = group[group.diverged > 0]
        axes.scatter(diverged.depth, diverged[column], marker="x", s=80, color="red", zorder=3)
    axes.set_xlabel("depth (layers; 0 = linear)")
    axes.set_xscale("symlog", linthresh=1)
    if log:
        axes.set_yscale("log")
    axes.legend(fontsize=7)


def _pareto(axes: plt.Axes, rows: pd.DataFrame) -> None:
    for family, group in rows.groupby("family"):
        axes.scatter(group.train_time_s, group.accuracy, label=family, alpha=0.8)
        for _, row in group.iterrows():
            axes.annotate(str(int(row.depth)), (row.train_time_s, row.accuracy), fontsize=6)
    front = pareto_front(rows)
    axes.plot(front.train_time_s, front.accuracy, "k--", lw=1, label="Pareto front")
    axes.set_xscale("log")
    axes.set_xlabel("training time, s (labels: depth)")
    axes.set_ylabel("test accuracy")
    axes.legend(fontsize=7)


def pareto_front(rows: pd.DataFrame) -> pd.DataFrame:
    """Configurations no other beats on both accuracy (higher) and training time (lower)."""
    ordered = rows.sort_values(["train_time_s", "accuracy"], ascending=[True, False])
    best = -np.inf
    keep = []
    for index, row in ordered.iterrows():
        if row.accuracy > best:
            keep.append(index)
            best = row.accuracy
    return ordered.loc[keep]


def _matched_bars(axes: plt.Axes, rows: pd.DataFrame) -> None:
    labels = [f"{r.family}-d{int(r.depth)}\n{int(r.param_count):,} p" for r in rows.itertuples()]
    axes.bar(labels, rows.accuracy, yerr=rows.accuracy_ci.fillna(0), capsize=3)
    axes.set_ylabel("test accuracy (95% CI)")
    axes.tick_params(axis="x", labelsize=7)
