"""Plain against residual depth on the training loss (He et al. 2016): where a deeper plain network does
worse than a shallower one, its training loss tells why. Higher on the training data too means the optimiser
failed to fit it, not that the network overfitted; the residual family at the same depths is the control,
since its shortcuts leave the function class of the plain net within reach.

The loss is each reported run's mean training loss over its last epochs (`TrainedSeed.train_loss`), the
median over seeds; test error beside it (1 - accuracy, median over seeds) shows whether the two move
together.
"""

from __future__ import annotations

import pandas as pd

PLAIN, RESIDUAL = "mlp", "resmlp"
PLOT = "training_loss_plain_vs_residual.png"
WORSE = 1.5  # the deepest plain net's loss over the plain family's lowest: "higher" from this ratio on


def losses(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset holding both families, family and depth: median training loss and test error over seeds;
    empty when no dataset has both."""
    both = runs[runs.family.isin((PLAIN, RESIDUAL))].dropna(subset=["train_loss"])
    both = both[both.groupby("dataset").family.transform("nunique") == 2]
    return (
        both.assign(test_error=1 - both.test_accuracy)
        .groupby(["dataset", "family", "depth"], as_index=False)
        .agg(train_loss=("train_loss", "median"), test_error=("test_error", "median"), seeds=("seed", "size"))
    )


def finding(table: pd.DataFrame, dataset: str) -> str:
    """One dataset's reading: does the deepest plain net fit its training data worse than the best plain depth,
    and does the residual family at that depth?"""
    rows = table[table.dataset == dataset]
    plain, residual = (rows[rows.family == f].set_index("depth") for f in (PLAIN, RESIDUAL))
    deepest, best = plain.index.max(), plain.train_loss.idxmin()
    ratio = plain.train_loss[deepest] / plain.train_loss[best]
    text = (
        f"{dataset}: the plain net's training loss at depth {deepest} is {plain.train_loss[deepest]:.3g}, "
        f"{ratio:.1f}x its lowest ({plain.train_loss[best]:.3g}, depth {best})"
    )
    if deepest in residual.index:
        text += f"; the residual net's at depth {deepest} is {residual.train_loss[deepest]:.3g}"
    if ratio >= WORSE and deepest != best:
        return text + ": the deep plain net fails to fit its training data (optimisation, not overfitting)"
    return text + ": no optimisation failure at these depths and steps"


def section(runs: pd.DataFrame) -> list[str]:
    """The report's Markdown section, or nothing when the study lacks a dataset with both families."""
    table = losses(runs)
    if table.empty:
        return []
    shown = table.pivot_table(index=["dataset", "depth"], columns="family", values=["train_loss", "test_error"])
    shown.columns = [f"{family} {what.replace('_', ' ')}" for what, family in shown.columns]
    order = [f"{f} {w}" for w in ("train loss", "test error") for f in (PLAIN, RESIDUAL)]
    return [
        "## Plain vs residual depth: the training loss (He et al. 2016)",
        "",
        f"Where depth hurts a plain network ({PLAIN}), is it overfitting or a failure to fit? The median over "
        "seeds of each reported run's final training loss, beside its test error; the residual family "
        f"({RESIDUAL}) at the same depths is the control. The deep plain net counts as failing to fit when its "
        f"training loss is at least {WORSE:g}x the plain family's lowest.",
        "",
        *(f"- {finding(table, dataset)}." for dataset in sorted(table.dataset.unique())),
        "",
        shown[order].reset_index().to_markdown(index=False, floatfmt=".3g"),
        "",
        f"![{PLOT}](plots/{PLOT})",
        "",
    ]
