"""The report's plots, one panel per dataset, each naming the machine it was measured on; and the data of
DVC's accuracy plot."""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from depthlab.cell import Cell
from depthlab.claims import matched_configurations
from depthlab.report import optimisation

CLAIM_PLOTS = {  # the plots that show each claim's evidence
    1: ("train_time_vs_depth.png",),
    2: ("accuracy_vs_depth.png", "pareto.png"),
    3: ("throughput_vs_depth.png",),
    4: ("seed_spread_vs_depth.png", "accuracy_vs_depth.png"),
    5: ("families_matched.png",),
    6: ("pareto.png",),
}


def accuracy_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy per (dataset, family, depth) with its interval: the data of DVC's accuracy plot."""
    return table[
        ["dataset", "family", "depth", "accuracy", "accuracy_low", "accuracy_high", "collapsed", "seeds"]
    ].rename(columns={"accuracy": "test_accuracy", "accuracy_low": "ci_low", "accuracy_high": "ci_high"})


def write_plots(table: pd.DataFrame, runs: pd.DataFrame, plots: Path, machine: str, types: dict[str, str]) -> None:
    """The report's plots; `types`: each family's type of network (claims.Settings.types)."""
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
        pd.DataFrame(matched_configurations(list(table.itertuples(index=False))), columns=table.columns),
        plots / "families_matched.png",
        "families at matched parameter counts: mean test accuracy, 95% bootstrap interval, seeds as dots",
        machine,
        lambda axes, rows: _matched_bars(axes, rows, runs, types),
    )
    losses = optimisation.losses(runs)
    if not losses.empty:
        _by_dataset(
            losses,
            plots / optimisation.PLOT,
            "plain vs residual depth: training loss (solid) and test loss (dashed), medians over seeds",
            machine,
            lambda axes, rows: _plain_vs_residual(axes, rows, colors),
        )


def budget_and_size(tables: dict[Cell, pd.DataFrame], runs: pd.DataFrame, path: Path, machine: str) -> None:
    """Small multiples of accuracy vs depth, one panel per cell of budget and size: a row per (dataset, budget),
    a column per training-set size, a line per family (mean, 95% interval, each seed a dot), all on one
    accuracy scale, so that how depth pays can be compared across budgets (down) and sizes (across)."""
    budgets = sorted({cell.steps for cell in tables})
    sizes = sorted({cell.rows for cell in tables}, key=lambda rows: rows or 0)
    datasets = sorted(runs.dataset.unique())
    colors = {family: f"C{i}" for i, family in enumerate(sorted(runs.family.unique()))}
    rows = [(dataset, steps) for dataset in datasets for steps in budgets]
    # Constrained layout: tight_layout let the two-line title overlap the first row's panel titles once the
    # figure held three datasets (six rows).
    figure, axes = plt.subplots(
        len(rows), len(sizes), figsize=(4.6 * len(sizes), 3.4 * len(rows)), dpi=110, squeeze=False, layout="constrained"
    )
    for (dataset, steps), line in zip(rows, axes, strict=True):
        for size, ax in zip(sizes, line, strict=True):
            cell = Cell(steps, size)
            table = tables[cell]
            _depth_lines(
                ax,
                table[table.dataset == dataset],
                runs[runs.cell == cell],
                colors,
                column="accuracy",
                seed_column="test_accuracy",
                scale="linear",
            )
            ax.set_title(f"{dataset}: {cell.label}", fontsize=9)
            ax.grid(alpha=0.3)
    title = (
        "test accuracy vs depth per budget (rows) and training-set size (columns): mean with 95% interval over "
        "seeds and test examples, each seed a dot"
    )
    figure.suptitle(f"{textwrap.fill(title, 55 * len(sizes))}\nmeasured on {machine}", fontsize=9)
    figure.savefig(path)
    plt.close(figure)


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
    # Wrapped to the figure's width (about 11 characters an inch at this size): one panel is 5 inches wide.
    width = 11 * 5 * max(1, len(datasets))
    figure.suptitle(textwrap.fill(title, width) + "\n" + textwrap.fill(f"measured on {machine}", width), fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plain_vs_residual(axes: plt.Axes, rows: pd.DataFrame, colors: dict[str, str]) -> None:
    """One dataset's panel of the He et al. view: a deeper plain net whose training loss rises failed to fit."""
    for family in (optimisation.PLAIN, optimisation.RESIDUAL):
        group = rows[rows.family == family].sort_values("depth")
        x = _shifted(group.depth, 0)
        axes.plot(x, group.train_loss, marker="o", ms=4, color=colors[family], label=f"{family} training loss")
        axes.plot(x, group.test_loss, ls="--", marker=".", color=colors[family], label=f"{family} test loss")
    _depth_axis(axes, sorted(rows.depth.unique()))
    axes.set_yscale("log")
    _plain_numbers(axes.yaxis)
    axes.set_ylabel("cross-entropy, median over seeds")
    axes.legend(fontsize=7)


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


def _matched_bars(axes: plt.Axes, rows: pd.DataFrame, runs: pd.DataFrame, types: dict[str, str]) -> None:
    labels = [
        f"{r.family}-d{int(r.depth)}\n{textwrap.fill(types[r.family], 13)}\n{int(r.param_count):,} p"
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
