import json

import pytest

from depthlab.cell import Cell
from depthlab.errors import DataError
from depthlab.records import TrainedRuns, TrainedSeed

# One run as runs.json listed it before records had a format: a cell's budget and rows as loose fields, and the
# chosen lr keyed by a display label that nothing read.
FORMAT_0_RUN = {
    "depth": 1,
    "seed": 0,
    "lr": 0.01,
    "phase": "final",
    "run_id": "abc",
    "checkpoint": "d1/lr0.01-30steps/seed-0.ckpt",
    "param_count": 5110,
    "train_time_s": 1.5,
    "steps": 30,
    "val_accuracy": 0.25,
    "diverged": False,
    "accelerator": "cpu",
    "ensemble_seeds": [0, 1],
    "ensemble_lrs": [0.01, 0.01],
    "selected": True,
    "reported": True,
    "train_loss": 1.4,
    "budget": 30,
    "train_rows": 400,
}


def test_a_record_is_written_with_its_format_and_read_back_equal(tmp_path):
    run = TrainedSeed.from_json(dict(FORMAT_0_RUN), tmp_path)
    runs = TrainedRuns("mnist1d", "mlp", False, [run])
    runs.write(tmp_path / "runs.json")
    assert json.loads((tmp_path / "runs.json").read_text())["format"] == TrainedRuns.FORMAT
    assert TrainedRuns.read(tmp_path / "runs.json") == runs


def test_runs_of_the_format_before_formats_are_read_by_their_converter(tmp_path):
    """Their cell from budget and rows; before cells, from the steps it trained; before train_loss, none."""
    before_cells = {k: v for k, v in FORMAT_0_RUN.items() if k not in {"budget", "train_rows", "train_loss"}}
    old = {"dataset": "mnist1d", "family": "mlp", "lr_grid": [0.01], "chosen_lr": {"1": 0.01}}
    (tmp_path / "runs.json").write_text(json.dumps({**old, "runs": [FORMAT_0_RUN, before_cells]}))
    runs = TrainedRuns.read(tmp_path / "runs.json")
    assert [(run.cell, run.train_loss) for run in runs.runs] == [(Cell(30, 400), 1.4), (Cell(30, None), None)]
    assert runs.split_seeds is False


def test_a_record_of_an_unknown_format_is_refused_naming_the_stage_to_run_again(tmp_path):
    (tmp_path / "runs.json").write_text(json.dumps({"format": 99, "dataset": "mnist1d"}))
    with pytest.raises(DataError, match=r"runs\.json: a TrainedRuns record of format 99.*run the train stage again"):
        TrainedRuns.read(tmp_path / "runs.json")


def test_a_record_with_a_key_missing_or_unknown_is_refused(tmp_path):
    good = TrainedSeed.from_json(dict(FORMAT_0_RUN), tmp_path).to_json()
    (tmp_path / "seed.json").write_text(json.dumps({"format": 1, **good, "surprise": 1}))
    with pytest.raises(DataError, match=r"seed\.json: not a TrainedSeed record \(surprise: Unexpected"):
        TrainedSeed.read(tmp_path / "seed.json")
    del good["run_id"]
    (tmp_path / "seed.json").write_text(json.dumps({"format": 1, **good}))
    with pytest.raises(DataError, match=r"run_id: Field required"):
        TrainedSeed.read(tmp_path / "seed.json")


def test_an_old_record_without_a_key_every_old_one_had_is_refused(tmp_path):
    (tmp_path / "runs.json").write_text(json.dumps({"dataset": "mnist1d", "family": "mlp"}))
    with pytest.raises(DataError, match=r"not a TrainedRuns record of format 0 \(no 'runs'\): run the train stage"):
        TrainedRuns.read(tmp_path / "runs.json")
