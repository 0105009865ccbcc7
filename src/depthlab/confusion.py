"""The confusion matrix of one run as a figure, for the MLflow run page (logged by the evaluate stage)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure


def confusion_figure(confusion: np.ndarray, classes: list[str], title: str) -> Figure:
    """Rows the true class, columns the predicted one, each cell its count; shares of the true class as colour,
    so a class with fewer samples reads the same. A bare Figure, not pyplot: nothing to close, and about a
    third of the cost of a pyplot figure with constrained layout."""
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = 2.2 + 0.28 * len(classes)
    figure = Figure(figsize=(size + 0.6, size), dpi=100)
    axes = figure.add_axes((0.18, 0.16, 0.68, 0.72))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if len(classes) <= 12:  # counts stay legible up to about a dozen classes
        for (row, column), count in np.ndenumerate(confusion):
            color = "white" if shares[row, column] > 0.6 else "black"
            axes.text(column, row, str(count), ha="center", va="center", fontsize=7, color=color)
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, fontsize=7)
    axes.set_yticks(ticks, classes, fontsize=7)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.05, pad=0.03, label="share of the true class")
    return figure
