"""One table over every trained (family, depth), plots of accuracy and training time vs depth, and a report run."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from depthlab import hardware, tracking  # noqa: E402
from depthlab.outputs import read_json, write_text  # noqa: E402
from depthlab.params import Params  # noqa: E402

COLUMNS = {
    "family": "family",
    "depth": "depth",
    "param_count": "parameters",
    "seeds": "seeds",
    "test_accuracy": "test accuracy (mean)",
    "test_accuracy_std": "test accuracy (std)",
    "train_time_s": "train time s (mean)",
    "throughput_samples_per_s": "throughput samples/s",
}


def summary_table(params: Params, metrics_dir: Path) -> pd.DataFrame:
    """One row per (family, depth) in the sweep, from the evaluate stage's metrics files."""
    rows = [read_json(metrics_dir / f"{family}-d{depth}.json") for family, depths in params.sweep_items() for depth in depths]
    return pd.DataFrame(rows)[list(COLUMNS)].sort_values(["family", "depth"], ignore_index=True)


def write_report(params: Params, metrics_dir: Path, out_dir: Path) -> pd.DataFrame:
    table = summary_table(params, metrics_dir)
    dataset = read_json(next(metrics_dir.glob("*.json")))["dataset"]
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    _plot(table, "test_accuracy", "test accuracy", plots / "accuracy_vs_depth.png", error="test_accuracy_std")
    _plot(table, "train_time_s", "training time (s)", plots / "train_time_vs_depth.png")

    write_text(out_dir / "summary.csv", table.to_csv(index=False))
    shown = table.rename(columns=COLUMNS)
    write_text(
        out_dir / "summary.md",
        f"# depthlab: what depth buys on {dataset}\n\n"
        f"Measured on: {hardware.summary()}\n\n"
        f"{len(params.train.seeds)} seeds per model, {params.train.max_steps} steps, batch {params.train.batch_size}, "
        f"Adam lr {params.train.lr}.\n\n"
        f"{shown.to_markdown(index=False, floatfmt='.4g')}\n\n"
        "![test accuracy vs depth](plots/accuracy_vs_depth.png)\n\n"
        "![training time vs depth](plots/train_time_vs_depth.png)\n",
    )
    best = table.loc[table["test_accuracy"].idxmax()]
    with tracking.tracked_run(
        dataset=dataset,
        name="report",
        params={"sweep": params.sweep.model_dump(), "train": params.train.model_dump(mode="json")},
        tags={"kind": "report"},
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
    ) as run:
        run.log_metrics({"best_test_accuracy": float(best["test_accuracy"]), "models": len(table)})
        run.set_tags({"best_model": f"{best['family']}-d{best['depth']}"})
        run.log_artifacts(out_dir, "report")
    return table


def _plot(table: pd.DataFrame, column: str, label: str, path: Path, error: str | None = None) -> None:
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for family, rows in table.groupby("family"):
        axes.errorbar(
            rows["depth"], rows[column], yerr=rows[error] if error else None, marker="o", capsize=3, label=family
        )
    axes.set_xlabel("depth (hidden layers)")
    axes.set_ylabel(label)
    axes.set_title(f"{label} vs depth (error bars: std over seeds)" if error else f"{label} vs depth")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
