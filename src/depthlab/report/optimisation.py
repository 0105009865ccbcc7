"""Plain against residual depth on the training loss (He et al. 2016): where a deeper plain network does
worse than a shallower one, its training loss tells why. Higher on the training data too means the optimiser
failed to fit it, not that the network overfitted; the residual family at the same depths is the control,
since its shortcuts leave the function class of the plain net within reach.

The loss is each reported run's mean training loss over its last epochs (`TrainedSeed.train_loss`), the
median over seeds; its test loss beside it (the same cross-entropy on the test split, median over seeds)
shows whether the two move together: a gap that widens with depth is overfitting, a training loss that
rises with depth is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.claims.resampling import interval

PLAIN, RESIDUAL = "mlp", "resmlp"
PLOT = "training_loss_plain_vs_residual.png"
RESAMPLES = 1000  # bootstrap draws of each depth's seeds, for the interval of a ratio of medians
# A training loss below this share of the class-share loss (what predicting the class shares scores) has fit
# the training data: a ratio of two such losses (1e-2 over 1e-6) is no failure to fit.
FITTED = 0.01


def losses(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset holding both families, family and depth: median training and test loss over seeds; empty
    when no dataset has both."""
    both = _both(runs)
    return both.groupby(["dataset", "family", "depth"], as_index=False).agg(
        train_loss=("train_loss", "median"), test_loss=("test_loss", "median"), seeds=("seed", "size")
    )


def _both(runs: pd.DataFrame) -> pd.DataFrame:
    both = runs[runs.family.isin((PLAIN, RESIDUAL))].dropna(subset=["train_loss"])
    return both[both.groupby("dataset").family.transform("nunique") == 2]


def ratio(deep: np.ndarray, shallow: np.ndarray, confidence: float, seed: int = 0) -> tuple[float, float, float]:
    """Median training loss of `deep`'s seeds over `shallow`'s, with a percentile interval from resampling
    each depth's seeds (independent runs: not paired)."""
    rng = np.random.default_rng(seed)
    draws = np.median(rng.choice(deep, (RESAMPLES, len(deep))), axis=1) / np.median(
        rng.choice(shallow, (RESAMPLES, len(shallow))), axis=1
    )
    return interval(np.concatenate([[np.median(deep) / np.median(shallow)], draws]), confidence)


def finding(runs: pd.DataFrame, dataset: str, confidence: float) -> str:
    """One dataset's reading: is the deepest plain net's training loss above the plain family's lowest, by an
    interval that excludes 1, and how does the residual family at that depth compare?"""
    rows = _both(runs)
    rows = rows[rows.dataset == dataset]
    plain = rows[rows.family == PLAIN]
    medians = plain.groupby("depth").train_loss.median()
    deepest, best = int(medians.index.max()), int(medians.idxmin())
    text = f"{dataset}: the plain net's training loss at depth {deepest} is {medians[deepest]:.3g}"
    if deepest == best:
        return text + ", its lowest: no optimisation failure at these depths and steps"
    seeds = plain.groupby("depth").train_loss
    estimate, low, high = ratio(seeds.get_group(deepest).to_numpy(), seeds.get_group(best).to_numpy(), confidence)
    text += f", {estimate:.2f}x [{low:.2f}, {high:.2f}] its lowest ({medians[best]:.3g}, depth {best})"
    residual = rows[(rows.family == RESIDUAL) & (rows.depth == deepest)].train_loss
    if len(residual):
        text += f"; the residual net's at depth {deepest} is {residual.median():.3g}"
    fitted = FITTED * float(plain.prior_loss.iloc[0]) if "prior_loss" in plain else 0.0
    if low > 1 and medians[deepest] < fitted:
        return text + f": both fit their training data (below {FITTED:g} x the class-share loss, {fitted:.3g})"
    if low > 1:
        return text + ": the deep plain net fits its training data worse (optimisation, not overfitting)"
    return text + ": no optimisation failure shown at these depths and steps"


def section(runs: pd.DataFrame, confidence: float) -> list[str]:
    """The report's Markdown section, or nothing when the study lacks a dataset with both families."""
    table = losses(runs)
    if table.empty:
        return []
    shown = table.pivot_table(index=["dataset", "depth"], columns="family", values=["train_loss", "test_loss"])
    shown.columns = [f"{family} {what.replace('_', ' ')}" for what, family in shown.columns]
    order = [f"{f} {w}" for w in ("train loss", "test loss") for f in (PLAIN, RESIDUAL)]
    return [
        "## Plain vs residual depth: the training loss (He et al. 2016)",
        "",
        f"Where depth hurts a plain network ({PLAIN}), is it overfitting or a failure to fit? The median over "
        "seeds of each reported run's final training loss, beside its test loss (the same cross-entropy); the "
        f"residual family ({RESIDUAL}) at the same depths is the control. The deep plain net fits worse when the "
        f"{100 * confidence:g}% interval of its training loss over the plain family's lowest (medians over seeds, "
        f"seeds resampled) lies above 1 and that loss is not below {FITTED:g} x the class-share loss (predicting "
        "the class shares), where both have fit their training data.",
        "",
        *(f"- {finding(runs, dataset, confidence)}." for dataset in sorted(table.dataset.unique())),
        "",
        shown[order].reset_index().to_markdown(index=False, floatfmt=".3g"),
        "",
        f"![{PLOT}](plots/{PLOT})",
        "",
    ]
