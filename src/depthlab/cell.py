"""The study's cell: one value of each of its axes beside depth, a training budget (`train.max_steps`) and a
training-set size (`train.train_rows`). Every configuration trains in every cell; the main verdicts rest on
the largest (`largest`). Each stage's records carry a run's cell as one value of this type, never as loose
fields to be put together again."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """A training budget in optimizer steps, and a training-set size in rows (None: the whole training split).

    Not a tuple, so that pandas takes it as one value: the report's runs are selected by `runs.cell == cell`."""

    steps: int
    rows: int | None

    @property
    def label(self) -> str:
        """ "6000 steps, 40000 rows", or "800 steps, every row" for the whole training split."""
        return f"{self.steps} steps, {'every row' if self.rows is None else f'{self.rows} rows'}"

    @property
    def order(self) -> tuple[int, int]:
        """Ascending budget, then ascending size, the whole split counting as the fewest rows (as tables list
        cells)."""
        return self.steps, self.rows or 0


def largest(cells: list[Cell]) -> Cell:
    """The cell of the largest budget, then of the most rows (the whole split counting as the most): the one
    the main verdicts rest on, the closest to networks trained to the end of what the study affords."""
    return max(cells, key=lambda cell: (cell.steps, cell.rows is None, cell.rows or 0))


def ascending(cells: set[Cell] | list[Cell]) -> list[Cell]:
    """`cells` without repeats, in `Cell.order`."""
    return sorted(set(cells), key=lambda cell: cell.order)
