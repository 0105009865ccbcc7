"""The report's cells of budget and size: where `train.max_steps` or `train.train_rows` is an axis, each
configuration was trained in every cell (a budget and a training-set size). The main verdicts rest on one
cell, the largest (`TrainParams.main_cell`); the section "Budget and size" judges claims 2, 4 and 6 again in every
cell, each cell as a study of its own (its replicates, its probabilities, `claims.judge`), so that a verdict
that depends on the budget or the size says on which."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from depthlab import claims
from depthlab.cell import Cell, ascending
from depthlab.report import plots
from depthlab.report.markdown import shown_verdict

PER_CELL = (2, 4, 6)  # the claims about accuracy that a budget or a size could turn: 5 compares types at one size
PLOT = "accuracy_by_budget_and_size.png"


def cells_of(runs: pd.DataFrame) -> list[Cell]:
    """The cells the runs were trained in, ascending."""
    return ascending(set(runs.cell))


def in_cell(runs: pd.DataFrame, grid: pd.DataFrame, cell: Cell) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs and lr grid of one cell: of the main one (`TrainParams.main_cell`), what the main verdicts,
    tables and plots rest on."""
    return runs[runs.cell == cell], grid[grid.cell == cell] if not grid.empty else grid


@dataclass(frozen=True)
class CellVerdicts:
    """One cell's verdicts on claims 2, 4 and 6, and its table of configurations (accuracy with intervals)."""

    cell: Cell
    verdicts: dict[int, claims.Claim]
    table: pd.DataFrame


def judge_cells(runs: pd.DataFrame, settings: claims.Settings) -> list[CellVerdicts]:
    """Claims 2, 4 and 6 in every cell, each by its own rule on the cell's own replicates."""
    judged = []
    for cell in cells_of(runs):
        study = claims.Replicates(runs[runs.cell == cell], settings)
        verdicts = claims.judge(study, pd.DataFrame(), numbers=PER_CELL)
        judged.append(CellVerdicts(cell, {claim.number: claim for claim in verdicts}, study.table))
    return judged


def write_plot(judged: list[CellVerdicts], runs: pd.DataFrame, folder: Path, machine: str) -> None:
    plots.budget_and_size({c.cell: c.table for c in judged}, runs, folder / PLOT, machine)


def how_it_varies(verdicts: dict[Cell, str]) -> str:
    """Whether a claim's verdict is the same in every cell, or changes with the budget, the size, or both."""
    if len(set(verdicts.values())) == 1:
        return f"{next(iter(verdicts.values()))} in every cell"
    budgets, sizes = {c.steps for c in verdicts}, {c.rows for c in verdicts}

    def constant_over(axis: str) -> bool:
        fixed = budgets if axis == "size" else sizes
        return all(
            len({v for c, v in verdicts.items() if (c.steps if axis == "size" else c.rows) == value}) == 1
            for value in fixed
        )

    if len(sizes) > 1 and constant_over("size"):
        return "changes with the budget, not with the size"
    if len(budgets) > 1 and constant_over("budget"):
        return "changes with the size, not with the budget"
    return "changes with budget and size together"


def split_rows(runs: pd.DataFrame) -> dict[str, int]:
    """Per dataset, the rows of its training split: a cell of more rows trained it on all of them
    (`train.larger_than_split: whole_split`)."""
    return {str(d): int(rows) for d, rows in runs.groupby("dataset").train_split_rows.first().items()}


def whole_split_lines(sizes: list[int | None], available: dict[str, int]) -> list[str]:
    """Where a dataset's training split is smaller than a cell's size: which cells trained it on all its rows,
    so that a reader does not take its cells of size for subsamples of more data."""
    lines = []
    for dataset, rows in sorted(available.items()):
        larger = [str(size) for size in sizes if size is not None and size > rows]
        if larger:
            lines.append(
                f"- {dataset} holds {rows} training rows: it trained on all of them in the cells of "
                f"{' and '.join(larger)} rows (train.larger_than_split: whole_split), so its cells differ in "
                "budget only."
            )
    return [*lines, ""] if lines else []


def section(judged: list[CellVerdicts], main: Cell, resamples: int, available: dict[str, int]) -> list[str]:
    """The Markdown of the section "Budget and size"; `available`: each dataset's training rows (`split_rows`)."""
    budgets = sorted({c.cell.steps for c in judged})
    sizes = sorted({c.cell.rows for c in judged}, key=lambda rows: rows or 0)
    statements = {n: judged[0].verdicts[n].statement for n in PER_CELL}
    lines = [
        "## Budget and size",
        "",
        f"Every configuration was trained at each budget ({', '.join(str(b) for b in budgets)} steps) and "
        f"training-set size ({', '.join('every row' if s is None else str(s) for s in sizes)} training rows: "
        "nested, stratified subsamples of the training split, every size tested on the same test split). Each "
        "cell chose its own lr on the selection seeds, on its own rows and at its own budget. The verdicts above "
        f"rest on the largest cell ({main.label}); here claims {', '.join(str(n) for n in PER_CELL)} are judged "
        f"again in every cell, by the same rule on the cell's own {resamples} replicates (seeds and test examples "
        "drawn again), so that a verdict that depends on the budget or the size says on which.",
        "",
        *whole_split_lines(sizes, available),
        "| budget (steps) | training rows | " + " | ".join(f"claim {n}" for n in PER_CELL) + " |",
        "|---|---|" + "---|" * len(PER_CELL),
    ]
    for cell in judged:
        shown = [f"{shown_verdict(cell.verdicts[n])} ({claims.stated_share(cell.verdicts[n])})" for n in PER_CELL]
        rows = "every row" if cell.cell.rows is None else str(cell.cell.rows)
        lines.append(f"| {cell.cell.steps} | {rows} | " + " | ".join(shown) + " |")
    lines.append("")
    for number in PER_CELL:
        varies = how_it_varies({c.cell: c.verdicts[number].verdict for c in judged})
        lines += [f"**Claim {number}: {statements[number]}** Verdict: {varies}.", ""]
        lines += [f"- {c.cell.label}: {c.verdicts[number].effect}" for c in judged] + [""]
    lines += [f"![accuracy vs depth in every cell of budget and size](plots/{PLOT})", ""]
    lines += ["Mean test accuracy in percent per cell:", "", accuracy_table(judged).to_markdown(index=False), ""]
    return lines


def accuracy_table(judged: list[CellVerdicts]) -> pd.DataFrame:
    """Per (dataset, family, depth), the mean test accuracy of every cell, a column each."""
    columns = [
        c.table.set_index(["dataset", "family", "depth"]).accuracy.mul(100).round(1).rename(c.cell.label)
        for c in judged
    ]
    return pd.concat(columns, axis=1).reset_index()
