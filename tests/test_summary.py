import pytest

from depthlab.cell import Cell
from depthlab.errors import DataError
from depthlab.summary import CellResults, DepthResults, SeedResult, Summary


def seed(accuracy: float | None, diverged: bool = False) -> SeedResult:
    return SeedResult(accuracy, None, accuracy, 0.1, 100.0, 2.0, 50.0, None, diverged, "run", "d1-seed")


def test_a_depths_means_and_spreads_are_over_the_seeds_that_have_a_value():
    point = DepthResults(
        param_count=10, lr=0.01, representative_seed=0, per_seed={0: seed(0.5), 1: seed(0.7), 2: seed(None, True)}
    )
    assert point.mean("test_accuracy") == pytest.approx(0.6) and point.std("test_accuracy") == pytest.approx(
        0.1414, abs=1e-4
    )
    assert point.mean("test_loss") is None and point.std("train_time_s") == 0.0 and point.diverged == 1


def test_a_summary_written_is_read_back_equal_and_a_cell_it_lacks_is_refused(tmp_path):
    cell = CellResults(Cell(30, None), {1: DepthResults(10, 0.01, 0, {0: seed(0.5)})})
    summary = Summary(
        dataset="d",
        family="mlp",
        train_split_rows=400,
        chance=0.1,
        prior_loss=2.3,
        predictions="p.npz",
        cells=[cell],
        grid=[],
    )
    summary.write(tmp_path / "summary.json")
    assert Summary.read(tmp_path / "summary.json") == summary and summary.at(Cell(30, None)) == cell
    with pytest.raises(DataError, match="nothing at 60 steps, every row: run evaluate again"):
        summary.at(Cell(60, None))
