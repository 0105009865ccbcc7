"""The evaluate stage's summary.json, what the report reads (`Summary`): every reported seed's test results, in
every cell of budget and size, and the lr grid's runs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from depthlab.cell import Cell
from depthlab.errors import DataError
from depthlab.records import Record


@dataclass(frozen=True)
class SeedResult:
    """One reported seed's test results and training figures. None for a value a diverged network made NaN."""

    test_accuracy: float | None
    test_loss: float | None
    test_macro_f1: float | None
    latency_ms_per_sample: float | None
    throughput_samples_per_s: float | None
    train_time_s: float
    train_samples_per_s: float
    train_loss: float | None
    diverged: bool
    run_id: str
    predictions: str  # its entry in the dataset's predictions.npz


@dataclass(frozen=True)
class DepthResults:
    """One depth's reported seeds in one cell, at the lr its configuration chose."""

    param_count: int
    lr: float
    representative_seed: int  # the seed of median test accuracy (`evaluation.representative_seed`)
    per_seed: dict[int, SeedResult]

    def mean(self, key: str) -> float | None:
        """The mean of one of `SeedResult`'s figures over the seeds that have it; None where none does."""
        values = [v for s in self.per_seed.values() if (v := getattr(s, key)) is not None]
        return statistics.fmean(values) if values else None

    def std(self, key: str) -> float:
        """The sample standard deviation of one of `SeedResult`'s figures; 0 for fewer than two seeds."""
        values = [v for s in self.per_seed.values() if (v := getattr(s, key)) is not None]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def diverged(self) -> int:
        return sum(seed.diverged for seed in self.per_seed.values())


@dataclass(frozen=True)
class CellResults:
    """Every reported depth of one cell of budget and training-set size."""

    cell: Cell
    depths: dict[int, DepthResults]


@dataclass(frozen=True)
class GridRun:
    """One run of a configuration's lr grid (the runs that chose its lr), with its test results for the report's
    lr sensitivity."""

    depth: int
    lr: float
    seed: int
    steps: int
    cell: Cell
    val_accuracy: float | None
    test_accuracy: float | None
    selected: bool
    diverged: bool
    predictions: str
    train_time_s: float
    train_samples_per_s: float


@dataclass(frozen=True)
class Summary(Record, format=2, writer="evaluate"):
    """summary.json: a family's evaluation on one dataset. `train_split_rows`: the rows of its training split,
    all a cell of more rows trained on (`train.larger_than_split`); `chance`: the majority class's share of the test
    split; `prior_loss`: the cross-entropy of predicting the class shares (`evaluation.prior_loss`);
    `predictions`: the file of every run's answers, by each run's `predictions` entry; `cells`: the reported
    runs of every cell trained, ascending (one unless budget or size is an axis); `grid`: the lr grid's runs."""

    dataset: str
    family: str
    train_split_rows: int
    chance: float
    prior_loss: float
    predictions: str
    cells: list[CellResults]
    grid: list[GridRun]

    def at(self, cell: Cell) -> CellResults:
        """One cell's results: at `TrainParams.main_cell`, those the headline metrics and main verdicts rest on."""
        found = [results for results in self.cells if results.cell == cell]
        if not found:
            raise DataError(f"summary of {self.family} on {self.dataset}: nothing at {cell.label}: run evaluate again")
        return found[0]
