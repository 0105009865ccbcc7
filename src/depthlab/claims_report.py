"""The study's report: a table over every trained configuration, plots, and the article's seven claims with
verdicts (reports/claims.md and .html), logged to MLflow as a `report` run."""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from depthlab import champions, claims, hardware, reference, tracking
from depthlab.families import FAMILIES
from depthlab.outputs import read_json, staged_dir, write_text
from depthlab.params import Params, TrainParams

RUN_COLUMNS = [
    "test_accuracy",
    "train_time_s",
    "train_samples_per_s",
    "throughput_samples_per_s",
    "latency_ms_per_sample",
    "diverged",
]
SUMMARY_COLUMNS = {
    "dataset": "dataset",
    "family": "family",
    "depth": "depth",
    "lr": "lr",
    "param_count": "parameters",
    "seeds": "seeds",
    "accuracy": "test accuracy",
    "accuracy_low": "CI low",
    "accuracy_high": "CI high",
    "accuracy_std": "std",
    "collapsed": "collapsed",
    "diverged": "diverged",
    "train_time_s": "train time s",
    "train_samples_per_s": "train samples/s",
    "inference_samples_per_s": "inference samples/s",
}
ACCURACY_CURVES = "accuracy_by_depth.csv"  # the data of DVC's accuracy plot (dvc.yaml `plots:`)
REPORT_FILES = ("claims.html", "claims.md", "summary.csv", ACCURACY_CURVES)  # the report run's artifacts, with plots/


def load_runs(params: Params, evaluations: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the evaluate stage's summary.json files: the reported runs, one row per (dataset, family, depth,
    seed) at the configuration's chosen lr; and the lr grid's runs, one row per (dataset, family, depth, lr,
    seed), empty where the grid has one lr."""
    rows, grid = [], []
    for dataset, family, _ in params.study():
        summary = read_json(evaluations / family / dataset / "summary.json")
        for depth, point in summary["depths"].items():
            for seed, values in point["per_seed"].items():
                rows.append(
                    {
                        "dataset": dataset,
                        "family": family,
                        "depth": int(depth),
                        "seed": int(seed),
                        "lr": point["lr"],
                        "param_count": point["param_count"],
                        "chance": summary["chance"],
                        **{key: values[key] for key in RUN_COLUMNS},
                        "run_id": values["run_id"],
                        "representative": int(seed) == point["representative_seed"],
                    }
                )
        counts = {int(depth): point["param_count"] for depth, point in summary["depths"].items()}
        for run in summary["grid"]:
            grid.append(
                {
                    "dataset": dataset,
                    "family": family,
                    "param_count": counts[run["depth"]],
                    "chance": summary["chance"],
                    "throughput_samples_per_s": np.nan,  # grid runs are not timed
                    "latency_ms_per_sample": np.nan,
                    **run,
                }
            )
    runs = pd.DataFrame(rows)
    runs["test_accuracy"] = runs["test_accuracy"].astype(float)
    return runs, pd.DataFrame(grid)


def settings(params: Params, machine: str) -> claims.Settings:
    return claims.Settings(
        confidence=params.report.confidence,
        collapse_margin=params.report.collapse_margin,
        deep_from=params.report.deep_from,
        kinds={d: params.data.kind(d) for d in params.data.datasets},
        hardware_summary=machine,
        types={name: family.article_type for name, family in FAMILIES.items()},
    )


def _insensitive(number: int, grid: pd.DataFrame) -> str:
    """Why a claim has no learning-rate sensitivity line."""
    if grid.empty:
        return "not checked: train.lr has one value"
    if number in (1, 3):
        return "not checked: the lr does not change how long a step takes"
    return "not checked: compares machines"


def write_report(params: Params, evaluations: Path, out_dir: Path) -> pd.DataFrame:
    """Write summary.csv, the accuracy curves for DVC, claims.md, claims.html and plots/ to `out_dir`
    all-or-nothing; return the summary."""
    runs, grid = load_runs(params, evaluations)
    machine = hardware.summary()
    study = settings(params, machine)
    table = claims.configurations(runs, study)
    machines = tracking.runs_by_machine(params.data.datasets) if params.tracking.enabled else pd.DataFrame()
    sensitivity = claims.lr_sensitivity(grid, study)
    verdicts = [
        replace(c, lr_sensitivity=sensitivity.get(c.number, _insensitive(c.number, grid)))
        for c in claims.judge_with_halves(runs, machines, study)
    ]
    references = reference.reference_table(params, runs)
    document = _document(params, table, grid, verdicts, references, study, claims.halves_text(runs))

    with staged_dir(out_dir / "plots") as plots:
        _write_plots(table, runs, plots, machine)
    write_text(out_dir / ACCURACY_CURVES, accuracy_curves(table).to_csv(index=False))
    write_text(out_dir / "summary.csv", table.to_csv(index=False))
    write_text(out_dir / "claims.md", document)
    write_text(out_dir / "claims.html", _html(document))
    _log(params, table, runs, verdicts, out_dir)
    return table


def _document(
    params: Params,
    table: pd.DataFrame,
    grid: pd.DataFrame,
    verdicts: list[claims.Claim],
    references: pd.DataFrame,
    study: claims.Settings,
    halves: str,
) -> str:
    machine = study.hardware_summary
    train, report = params.train, params.report
    confidence = f"{100 * report.confidence:g}%"
    agree = [c for c in verdicts if c.halves is not None and c.verdict != claims.UNSTABLE]
    as_all = [c for c in agree if c.halves[0] == c.measured_verdict]
    lines = [
        "# What does depth buy a neural network? Measured answers",
        "",
        f"Measured on: **{machine}**.",
        f"Protocol: {len(train.seeds)} seeds per configuration, {train.max_steps} steps, batch {train.batch_size}, "
        f"Adam, weight decay {train.weight_decay}, shuffled batches: {str(train.shuffle).lower()}. "
        + _lr_protocol(train),
        f"Datasets: {', '.join(f'{d} ({params.data.kind(d)})' for d in params.data.datasets)}.",
        f"Statistics: means over seeds with {confidence} bootstrap intervals (BCa); two configurations compared "
        "by a permutation test of the difference in means, which is the effect, with its bootstrap interval; trends "
        "with depth by Spearman's rho; spread by a permutation test of the difference in standard deviations; "
        "collapse rates by Fisher's exact test. Each claim's tests are adjusted together "
        f"for multiple comparisons (Benjamini-Hochberg) and count at adjusted p < {1 - report.confidence:.2g}. "
        f"A seed has collapsed when its accuracy is within {100 * report.collapse_margin:g} points of the majority "
        f"class's share of the test split; its rate has an exact binomial interval.",
        f"Stability: every verdict is recomputed on two disjoint halves of the seeds ({halves}); a verdict they "
        f'do not agree on reads "{claims.UNSTABLE}". '
        + (
            f"**{len(agree)}/{len(verdicts)} claims agree between the halves**, {len(as_all)} of them with the "
            "verdict over all seeds (where both halves differ from it, half the seeds lack the power to show it)."
            if any(c.halves for c in verdicts)
            else ""
        ),
        "",
        "## Verdicts",
        "",
        "| # | claim | verdict | effect [95% CI] | halves | at a fixed lr | why |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {c.number} | {c.statement} | **{c.verdict}** | {c.effect} | {_halves(c)} | "
            f"{re.split(r':| [(]', c.lr_sensitivity)[0]} | {c.finding} |"
            for c in verdicts
        ),
        "",
    ]
    if not references.empty:
        lines += ["## MNIST-1D reference (Greydanus & Kobak)", "", references.to_markdown(index=False), ""]
        differences = reference.protocol_differences(params)
        if differences:
            lines += ["Not the reference protocol (run `make reference` for it): " + "; ".join(differences) + ".", ""]
    for claim in verdicts:
        lines += [
            f"## Claim {claim.number}: {claim.statement}",
            "",
            f"**Verdict: {claim.verdict}** - {claim.finding}",
            "",
            f"Effect: {claim.effect}.",
            "",
            f"Split-half check: {_halves(claim)}.",
            "",
            f"Learning rate: {claim.lr_sensitivity}.",
            "",
        ]
        lines += [claim.evidence, ""]
        lines += [f"![{plot}](plots/{plot})" for plot in claim.plots] + [""]
    if not grid.empty:
        lines += [
            "## Learning rates",
            "",
            f"Each configuration's lr grid on its first {params.train.selection.seeds} "
            f"seeds and {params.train.selection.max_steps} steps: mean validation and test accuracy in percent at "
            "every lr; the chosen lr had the best validation accuracy.",
            "",
            claims.lr_table(grid, study).to_markdown(index=False),
            "",
        ]
    shown = table.rename(columns=SUMMARY_COLUMNS)[list(SUMMARY_COLUMNS.values())]
    lines += ["## Every configuration", "", shown.to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(lines)


def _lr_protocol(train: TrainParams) -> str:
    if len(train.grid) == 1:
        return f"Learning rate {train.grid[0]:g} for every configuration."
    reused = train.selection.max_steps == train.max_steps
    return (
        f"Learning rate: each configuration takes, from the grid {', '.join(f'{lr:g}' for lr in train.grid)}, "
        f"the one with the best mean validation accuracy over its first {train.selection.seeds} seeds trained "
        f"{train.selection.max_steps} steps at every lr (the test split is never used to choose)"
        + (
            f"; those seeds at the chosen lr are reported with the other {len(train.seeds) - train.selection.seeds}."
            if reused
            else "; every seed is then trained at the chosen lr and reported."
        )
        + " The chosen lr of each configuration is in the table at the end."
    )


def _halves(claim: claims.Claim) -> str:
    if claim.halves is None:
        return "not checked (too few seeds)"
    first, second = claim.halves
    if first == second == claim.measured_verdict:
        return f"agree ({first})"
    if first == second:
        return f"agree with each other ({first}), not with all seeds"
    return f"disagree ({first} / {second}; all seeds: {claim.measured_verdict})"


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return f"<!doctype html><meta charset='utf-8'><title>depthlab claims</title><style>{style}</style>\n{body}"


def _log(params: Params, table: pd.DataFrame, runs: pd.DataFrame, verdicts: list[claims.Claim], out_dir: Path) -> None:
    """The `report` run: headline metrics, the verdicts as tags and in its description, the report's files as
    artifacts; then each dataset's champion in the Model Registry (see `depthlab.champions`)."""
    best = table.loc[table["accuracy"].idxmax()]
    with tracking.tracked_run(
        dataset="study",
        name="report",
        params={
            "sweep": params.sweep.model_dump(),
            "train": params.train.model_dump(mode="json"),
            "report": params.report.model_dump(),
        },
        tags={"kind": "report", **{f"claim_{c.number}": c.verdict for c in verdicts}},
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
    ) as run:
        run.log_metrics(
            {
                "best_test_accuracy": float(best["accuracy"]),
                "configurations": len(table),
                "claims_halves_agree": sum(c.halves is not None and c.verdict != claims.UNSTABLE for c in verdicts),
            }
        )
        for name in REPORT_FILES:
            run.log_artifacts(out_dir / name, "report")
        run.log_artifacts(out_dir / "plots", "report/plots")
        run.set_tags({"best_model": f"{best['dataset']}/{best['family']}-d{best['depth']}"})
        if params.tracking.enabled:
            decisions = champions.promote(params, table, runs, run.run_id)
            run.set_tags(
                {
                    **{f"champion.{d.dataset}": "moved" if d.moves else "kept" for d in decisions},
                    "mlflow.note.content": _description(verdicts, decisions, len(table), run),
                }
            )


def _description(
    verdicts: list[claims.Claim], decisions: list[champions.Decision], configurations: int, run: tracking.TrackedRun
) -> str:
    """The report run's description in the MLflow UI: the verdicts, links to the full report, the champions."""
    folder = tracking.ui_link(run.experiment_id, run.run_id, "report")
    report, summary = f"{folder}/claims.html", f"{folder}/summary.csv"
    lines = [
        f"The claims report over {configurations} configurations. The full report, with the evidence for each "
        f"verdict: [claims.html]({report}); every configuration: [summary.csv]({summary}); plots in "
        "`report/plots/`.",
        "",
        "| # | claim | verdict |",
        "|---|---|---|",
        *(f"| {c.number} | {c.statement} | **{c.verdict}** |" for c in verdicts),
    ]
    lines += ["", "Champions in the Model Registry:"]
    for decision in decisions:
        model = tracking.registered_model_name(decision.dataset)
        shown = decision.candidate.describe() if decision.candidate else "none"
        lines.append(
            f"- [{model}](#/models/{model})@{tracking.CHAMPION} {'moved' if decision.moves else 'kept'}: "
            f"{decision.reason}. This run: {shown}."
        )
    return "\n".join(lines)


def accuracy_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy per (dataset, family, depth) with its interval: the data of DVC's accuracy plot."""
    return table[
        ["dataset", "family", "depth", "accuracy", "accuracy_low", "accuracy_high", "collapsed", "seeds"]
    ].rename(columns={"accuracy": "test_accuracy", "accuracy_low": "ci_low", "accuracy_high": "ci_high"})


def _write_plots(table: pd.DataFrame, runs: pd.DataFrame, plots: Path, machine: str) -> None:
    seeds = len(runs.seed.unique())
    colors = {
        family: f"C{i}" for i, family in enumerate(sorted(table.family.unique()))
    }  # one per family in every panel
    per_depth = [
        (
            "accuracy_vs_depth.png",
            f"test accuracy: mean with 95% bootstrap interval, each of {seeds} seeds a dot",
            "accuracy",
            "test_accuracy",
            "linear",
        ),
        (
            "train_time_vs_depth.png",
            "training time per model, s (mean with 95% bootstrap interval)",
            "train_time_s",
            None,
            "log",
        ),
        ("throughput_vs_depth.png", "training samples/s (mean over seeds)", "train_samples_per_s", None, "log"),
        (
            "seed_spread_vs_depth.png",
            "seed-to-seed standard deviation of test accuracy, percentage points",
            "accuracy_std",
            None,
            "points",
        ),
    ]
    for name, title, column, seed_column, scale in per_depth:
        _by_dataset(
            table,
            plots / name,
            title,
            machine,
            functools.partial(
                _depth_lines, runs=runs, colors=colors, column=column, seed_column=seed_column, scale=scale
            ),
        )
    _by_dataset(
        table,
        plots / "pareto.png",
        "test accuracy vs training time per model (labels: depth)",
        machine,
        lambda axes, rows: _pareto(axes, rows, colors),
    )
    _by_dataset(
        claims.matched_configurations(table),
        plots / "families_matched.png",
        "families at matched parameter counts: mean test accuracy, 95% bootstrap interval, seeds as dots",
        machine,
        lambda axes, rows: _matched_bars(axes, rows, runs),
    )


def _by_dataset(
    table: pd.DataFrame, path: Path, title: str, machine: str, draw: Callable[[plt.Axes, pd.DataFrame], None]
) -> None:
    datasets = sorted(table.dataset.unique())
    figure, axes = plt.subplots(
        1, max(1, len(datasets)), figsize=(5 * max(1, len(datasets)), 4.2), dpi=110, squeeze=False
    )
    for ax, dataset in zip(axes[0], datasets, strict=False):  # no dataset: one empty panel
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


def _family_offsets(families: list[str]) -> dict[str, float]:
    """A small horizontal shift per family, so that seeds of different families at one depth do not overlap."""
    return {f: 0.06 * (i - (len(families) - 1) / 2) for i, f in enumerate(families)}


def _shifted(depths: pd.Series, offset: float) -> np.ndarray:
    """Shift in the symlog axis's own terms: additive below depth 1, multiplicative above."""
    d = np.asarray(depths, dtype=float)
    return np.where(d < 1, d + offset, d * (1 + offset))


def _depth_axis(axes: plt.Axes, depths: list[int]) -> None:
    axes.set_xscale("symlog", linthresh=1, linscale=0.6)
    axes.set_xticks(depths, [str(d) for d in depths])
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.set_xlabel("depth (hidden layers; 0 = linear)")


def _depth_lines(
    axes: plt.Axes,
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    colors: dict[str, str],
    column: str,
    seed_column: str | None,
    scale: str,
) -> None:
    families = sorted(rows.family.unique())
    offsets = _family_offsets(families)
    factor = 100 if scale == "points" else 1
    for family in families:
        group = rows[rows.family == family].sort_values("depth")
        x = _shifted(group.depth, offsets[family])
        low, high = (f"{column.removesuffix('_s')}_{end}" for end in ("low", "high"))  # accuracy_low, train_time_low
        error = None
        if low in group and high in group:
            error = np.vstack([group[column] - group[low], group[high] - group[column]]).clip(min=0)
        axes.errorbar(
            x,
            factor * group[column],
            yerr=error,
            marker="o",
            ms=4,
            capsize=3,
            label=family,
            color=colors[family],
            zorder=3,
        )
        if seed_column:
            seeds = runs[(runs.dataset == group.dataset.iloc[0]) & (runs.family == family)]
            axes.scatter(
                _shifted(seeds.depth, offsets[family]),
                seeds[seed_column],
                s=9,
                alpha=0.35,
                color=colors[family],
                linewidths=0,
                zorder=2,
            )
        diverged = group[group.diverged > 0]
        axes.scatter(
            _shifted(diverged.depth, offsets[family]),
            factor * diverged[column],
            marker="x",
            s=80,
            color="red",
            zorder=4,
            label="diverged" if len(diverged) else None,
        )
    _depth_axis(axes, sorted(rows.depth.unique()))
    if scale == "log":
        axes.set_yscale("log")
        _plain_numbers(axes.yaxis)
    elif column == "accuracy":
        chance = runs[runs.dataset == rows.dataset.iloc[0]].chance.iloc[0]
        axes.axhline(chance, color="grey", ls=":", lw=1, label="majority class")
        axes.set_ylim(0, 1.02)
    else:
        axes.set_ylim(bottom=0)
    axes.legend(fontsize=7)


def _plain_numbers(axis: matplotlib.axis.Axis) -> None:
    """A log axis labelled 0.1, 1, 10, 100,000 rather than 10^-1 or 2x10^-1 on every minor tick."""
    axis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    )
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _pareto(axes: plt.Axes, rows: pd.DataFrame, colors: dict[str, str]) -> None:
    for family, group in rows.groupby("family"):
        axes.scatter(group.train_time_s, group.accuracy, label=family, alpha=0.8, color=colors[family])
        for _, row in group.iterrows():
            axes.annotate(str(int(row.depth)), (row.train_time_s, row.accuracy), fontsize=6)
    front = pareto_front(rows)
    axes.plot(front.train_time_s, front.accuracy, "k--", lw=1, label="Pareto front")
    axes.set_xscale("log")
    _plain_numbers(axes.xaxis)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("training time per model, s")
    axes.set_ylabel("test accuracy (mean over seeds)")
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


def _matched_bars(axes: plt.Axes, rows: pd.DataFrame, runs: pd.DataFrame) -> None:
    labels = [
        f"{r.family}-d{int(r.depth)}\n{textwrap.fill(FAMILIES[r.family].article_type, 13)}\n{int(r.param_count):,} p"
        for r in rows.itertuples()
    ]
    error = np.vstack([rows.accuracy - rows.accuracy_low, rows.accuracy_high - rows.accuracy]).clip(min=0)
    axes.bar(range(len(rows)), rows.accuracy, yerr=error, capsize=3, color="#9ecae1")
    for i, r in enumerate(rows.itertuples()):
        seeds = runs[(runs.dataset == r.dataset) & (runs.family == r.family) & (runs.depth == r.depth)].test_accuracy
        axes.scatter(
            np.full(len(seeds), i) + np.linspace(-0.2, 0.2, len(seeds)), seeds, s=9, color="black", alpha=0.5, zorder=3
        )
    axes.set_xticks(range(len(rows)), labels)
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("test accuracy")
    axes.tick_params(axis="x", labelsize=6)
