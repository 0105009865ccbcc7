import json

import mlflow
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from depthlab.cell import Cell
from depthlab.data import load_arrays, load_meta
from depthlab.evaluation import load_trained, measure
from depthlab.records import TrainedRuns
from depthlab.training import train_family
from tests.helpers.params import NO_SWEEP, make_params


def test_train_family_writes_checkpoints_and_runs_for_every_depth_and_seed(trained):
    runs = json.loads((trained / "runs.json").read_text())
    assert runs["dataset"] == "mnist1d" and runs["family"] == "mlp"
    assert [(r["depth"], r["seed"]) for r in runs["runs"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for run in runs["runs"]:
        state = torch.load(trained / run["checkpoint"], weights_only=True)
        assert "1.weight" in state["model"] and state["step"] == 30 and run["steps"] == 30
        assert not run["diverged"] and run["ensemble_seeds"] == [0, 1]
    assert runs["runs"][2]["param_count"] == 40 * 100 + 100 + 100 * 10 + 10


def test_training_run_in_mlflow_has_every_field(trained, prepared):
    client = MlflowClient()
    seed = json.loads((trained / "runs.json").read_text())["runs"][2]
    run = client.get_run(seed["run_id"])
    assert run.info.run_name == "mlp-d1-s0" and run.info.status == "FINISHED"
    assert run.data.params["train.max_steps"] == "30" and run.data.params["param_count"] == "5110"
    assert run.data.params["seed"] == "0" and run.data.params["ensemble_seeds"] == "[0, 1]"
    assert run.data.metrics["ensemble_train_time_s"] == pytest.approx(2 * run.data.metrics["train_time_s"])
    assert (
        run.data.tags["accelerator"] == "cpu" and run.data.tags["depth"] == "1" and run.data.tags["diverged"] == "false"
    )
    assert run.data.params["data.name"] == "mnist1d" and run.data.params["data.num_samples"] == "1000"
    experiment = client.get_experiment(run.info.experiment_id).tags  # shown as model training, described
    assert (
        experiment["mlflow.experimentKind"] == "custom_model_development"
        and "tags.reported" in experiment["mlflow.note.content"]
    )
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert len(history) >= 2 and [m.step for m in history] == sorted(m.step for m in history)
    assert {"train_loss", "train_acc", "val_loss", "train_time_s"} <= set(run.data.metrics)
    assert any(key.startswith("system/") for key in run.data.metrics)
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {"mnist1d-train", "mnist1d-val"}
    for logged in run.inputs.dataset_inputs:  # the schema given for the whole frame: every column, none optional
        columns = json.loads(logged.dataset.schema)["mlflow_colspec"]
        assert len(columns) == 41 and all(c["required"] for c in columns)
        assert columns[-1] == {"type": "long", "name": "label", "required": True}
        assert json.loads(logged.dataset.profile)["num_rows"] > 1
    [model] = [
        m
        for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])
        if m.source_run_id == seed["run_id"]
    ]
    meta = load_meta(prepared)
    x, _ = load_arrays(prepared, "test", meta)
    predictions = mlflow.pyfunc.load_model(model.model_uri).predict(x[:5])
    assert np.asarray(predictions).shape == (5, 10)


def test_same_params_data_and_code_give_identical_results(tmp_path, tiny_params, prepared):
    params = make_params(train={"seeds": [3]}, sweep={**NO_SWEEP, "resmlp": {"datasets": ["mnist1d"], "depths": [2]}})
    meta = load_meta(prepared)
    x, y = load_arrays(prepared, "test", meta)
    results = []
    for attempt in ("first", "second"):
        [trained] = train_family(params, "resmlp", {"mnist1d": prepared}, tmp_path / attempt)["mnist1d"]
        net = load_trained(params, "resmlp", 2, meta, tmp_path / attempt / "mnist1d" / trained.checkpoint)
        results.append({k: v for k, v in measure(net, x, y, 1).items() if k.startswith("test_")})
    assert results[0] == results[1]


def test_tracking_off_trains_and_evaluates_without_mlflow(tmp_path, prepared):
    from depthlab.evaluation import evaluate_family

    params = make_params(
        train={"seeds": [0], "max_steps": 10},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}},
        tracking={"enabled": False},
    )
    [trained] = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "mlp")["mnist1d"]
    assert trained.run_id == "untracked"
    summaries = evaluate_family(
        params, "mlp", {"mnist1d": prepared}, tmp_path / "mlp", tmp_path / "metrics", tmp_path / "eval"
    )
    assert 0 <= summaries["mnist1d"].at(Cell(10, None)).depths[0].mean("test_accuracy") <= 1


@pytest.mark.parametrize("family", ["cnn", "gru"])
def test_convolutional_and_recurrent_families_train_and_log_their_model(tmp_path, prepared, family):
    params = make_params(
        train={"seeds": [0], "max_steps": 8}, sweep={**NO_SWEEP, family: {"datasets": ["mnist1d"], "depths": [1]}}
    )
    [trained] = train_family(params, family, {"mnist1d": prepared}, tmp_path / family)["mnist1d"]
    assert trained.steps == 8 and not trained.diverged
    client = MlflowClient()
    run = client.get_run(trained.run_id)
    [model] = [
        m
        for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])
        if m.source_run_id == trained.run_id
    ]
    x, _ = load_arrays(prepared, "test", load_meta(prepared))
    assert np.asarray(mlflow.pyfunc.load_model(model.model_uri).predict(x[:3])).shape == (3, 10)


def test_a_diverging_run_is_a_result_not_a_crash(tmp_path, prepared):
    params = make_params(
        train={"seeds": [0, 1], "max_steps": 200, "lr": 1e6},
        models={"mlp": {"width": 64}},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [8]}},
    )
    trained = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "mlp")["mnist1d"]
    assert all(t.diverged and t.steps < 200 for t in trained)
    run = MlflowClient().get_run(trained[0].run_id)
    assert run.info.status == "FINISHED" and run.data.tags["diverged"] == "true" and run.data.metrics["diverged"] == 1.0


def test_the_lr_grid_chooses_on_validation_and_reports_every_seed_at_the_chosen_lr(tmp_path, prepared):
    """Two lrs over two selection seeds of their own; every one of the four seeds is then trained at the chosen
    lr and reported, the grid's runs never. A second run with one more lr in the grid trains only that lr's
    ensemble."""
    params = make_params(
        train={"seeds": [0, 1, 2, 3], "lr": [0.001, 0.03], "selection": {"seeds": [100, 101], "max_steps": 30}},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [1]}},
    )
    trained = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "models", tmp_path / "cache")["mnist1d"]
    grid = [t for t in trained if t.phase == "grid"]
    assert sorted((t.lr, t.seed) for t in grid) == [(0.001, 100), (0.001, 101), (0.03, 100), (0.03, 101)]
    mean_val = {lr: sum(t.val_accuracy for t in grid if t.lr == lr) / 2 for lr in (0.001, 0.03)}
    chosen = max(mean_val, key=mean_val.get)
    reported = sorted((t.seed, t.phase) for t in trained if t.reported)
    assert reported == [(0, "final"), (1, "final"), (2, "final"), (3, "final")]
    assert all(t.lr == chosen and t.selected for t in trained if t.reported)
    assert [t.selected for t in grid] == [t.lr == chosen for t in grid]
    runs = TrainedRuns.read(tmp_path / "models" / "mnist1d" / "runs.json").runs
    assert {run.lr for run in runs if run.reported} == {chosen}
    assert sorted({run.lr for run in runs if run.phase == "grid"}) == [0.001, 0.03]
    tags = MlflowClient().get_run(grid[0].run_id).data.tags
    assert (
        tags["phase"] == "grid"
        and tags["lr"] == f"{grid[0].lr:g}"
        and tags["selected"] == str(grid[0].selected).lower()
    )

    wider = make_params(
        **{
            **params.model_dump(mode="json"),
            "train": {**params.train.model_dump(mode="json"), "lr": [0.001, 0.01, 0.03]},
        }
    )
    again = train_family(wider, "mlp", {"mnist1d": prepared}, tmp_path / "models", tmp_path / "cache")["mnist1d"]
    new = {t.run_id for t in again} - {t.run_id for t in trained}
    new_lrs = {(t.lr, t.phase) for t in again if t.run_id in new}
    assert new_lrs <= {(0.01, "grid"), (0.01, "final")} and (0.01, "grid") in new_lrs  # only the new lr trained


def test_runs_a_stage_output_no_longer_holds_are_tagged_superseded(tmp_path, prepared):
    params = make_params(sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}})
    first = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "models")["mnist1d"]
    longer = make_params(train={"max_steps": 31}, sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}})
    second = train_family(longer, "mlp", {"mnist1d": prepared}, tmp_path / "models")["mnist1d"]
    client = MlflowClient()
    for old in first:
        tags = client.get_run(old.run_id).data.tags
        assert tags["reported"] == "false" and tags["superseded"] == "true"
    assert all(client.get_run(new.run_id).data.tags["reported"] == "true" for new in second)


def test_each_cell_of_budget_and_size_trains_on_its_own_rows_and_records_its_cell(tmp_path, prepared):
    from depthlab.evaluation import evaluate_family

    params = make_params(
        train={"seeds": [0], "max_steps": [5, 10], "train_rows": [100, 300], "selection": {"max_steps": None}},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}},
    )
    trained = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "models")["mnist1d"]
    cells = [Cell(5, 100), Cell(5, 300), Cell(10, 100), Cell(10, 300)]
    assert [(t.cell, t.steps) for t in trained] == [(cell, cell.steps) for cell in cells]
    runs = TrainedRuns.read(tmp_path / "models" / "mnist1d" / "runs.json").runs
    assert [run.cell for run in runs if run.reported] == cells, "each cell its own chosen lr and reported run"
    weights = [torch.load(tmp_path / "models" / "mnist1d" / t.checkpoint, weights_only=True)["model"] for t in trained]
    assert not torch.equal(weights[2]["1.weight"], weights[3]["1.weight"]), "another size, other rows"
    run = MlflowClient().get_run(trained[0].run_id)
    assert run.data.params["train.max_steps"] == "5" and run.data.params["train.train_rows"] == "100"
    assert run.data.tags["budget"] == "5" and run.data.tags["train_rows"] == "100"
    [summary] = evaluate_family(
        params, "mlp", {"mnist1d": prepared}, tmp_path / "models", tmp_path / "metrics", tmp_path / "eval"
    ).values()
    assert params.train.main_cell == Cell(10, 300) and len(summary.at(Cell(10, 300)).depths[0].per_seed) == 1
    assert [c.cell for c in summary.cells] == cells


def test_a_size_larger_than_the_training_split_is_refused_before_anything_trains(tmp_path, prepared):
    from depthlab.errors import ParamsError

    params = make_params(
        train={"seeds": [0], "train_rows": [100, 5000]},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}},
    )
    with pytest.raises(
        ParamsError, match=r"train\.train_rows: 5000 rows asked of mnist1d, whose training split holds 720"
    ):
        train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_a_size_larger_than_the_split_trains_on_the_whole_split_where_asked(tmp_path, prepared):
    params = make_params(
        train={"seeds": [0], "train_rows": [100, 5000], "larger_than_split": "whole_split"},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}},
    )
    small, whole = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "models")["mnist1d"]
    assert (small.cell.rows, whole.cell.rows) == (100, 5000)
    tags = MlflowClient().get_run(whole.run_id).data.tags
    assert tags["train_rows"] == "5000" and tags["train_rows_trained"] == "720"
    assert "train_rows_trained" not in MlflowClient().get_run(small.run_id).data.tags
    exact = make_params(
        train={"seeds": [0], "train_rows": [100, 720]},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}},
    )
    _, every_row = train_family(exact, "mlp", {"mnist1d": prepared}, tmp_path / "exact")["mnist1d"]
    load = [
        torch.load(root / "mnist1d" / t.checkpoint, weights_only=True)["model"]
        for root, t in ((tmp_path / "models", whole), (tmp_path / "exact", every_row))
    ]
    assert all(torch.equal(load[0][k], load[1][k]) for k in load[0]), "its whole split, as a size of 720 rows"


# A user's module in the project's models/ folder that breaks the contract two ways, as a parameter picks.
CONTRACT_BREAKER = """
import torch
from torch import nn
import torch.nn.functional as F
import lightning.pytorch as pl


class Net(pl.LightningModule):
    def __init__(self, depth: int, num_classes: int, classes: int = 0, step_returns: str = "loss"):
        super().__init__()
        self.head = nn.Linear(40, classes or num_classes)
        self.step_returns = step_returns

    def forward(self, x):
        return self.head(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        losses = F.cross_entropy(self(x), y, reduction="none")
        return {"loss": losses.mean(), "none": None, "per_sample": losses}[self.step_returns]
"""


@pytest.mark.slow  # the train stage as a process, in a project of its own
@pytest.mark.parametrize(
    ("init_args", "message"),
    [
        ({"classes": 3}, "Net.forward returned (4, 3) for a batch of 4: expected logits of shape (batch, num_classes)"),
        ({"step_returns": "none"}, "Net.training_step returned nothing: it must return the batch's loss"),
        ({"step_returns": "per_sample"}, "Net.training_step returned a loss of shape (4,): it must be a scalar tensor"),
    ],
)
def test_a_module_breaking_its_contract_stops_the_train_stage_with_one_message_and_no_run(tmp_path, init_args, message):
    """Checked in the stage's own process before any job goes to a worker: exit 2, one line, no traceback (of the
    stage or of a worker), no run, no output."""
    import subprocess
    import sys

    import yaml

    from tests.helpers.params import raw_params
    from tests.helpers.project import copy_project, project_env

    copy_project(tmp_path)
    (tmp_path / "models" / "breaker.py").write_text(CONTRACT_BREAKER)
    user = {"class_path": "models.breaker.Net", "init_args": init_args, "depth_arg": "depth", "article_type": "x"}
    sweep = {**NO_SWEEP, "mlp": {"datasets": [], "depths": []}, "breaker": {"datasets": ["mnist1d"], "depths": [1, 2]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params(models={"breaker": user}, sweep=sweep)))
    env = project_env(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "repro", "validate@mnist1d"], cwd=tmp_path, env=env, check=True, capture_output=True)
    train = [sys.executable, "pipeline/train.py", "--family", "breaker"]
    done = subprocess.run(train, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.startswith(f"depthlab train: error: {message}") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "data" / "models" / "breaker").exists()
    experiment = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_experiment_by_name("depthlab-mnist1d")
    assert experiment is None or not MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_runs(
        [experiment.experiment_id]
    )
