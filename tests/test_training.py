import json

import mlflow
import numpy as np
import torch
from mlflow import MlflowClient

from depthlab.data import load_arrays, load_meta
from depthlab.evaluation import load_trained, measure
from depthlab.training import train_point


def test_train_point_writes_checkpoints_and_runs(trained):
    runs = json.loads((trained / "runs.json").read_text())
    assert [s["seed"] for s in runs["seeds"]] == [0, 1]
    for seed in runs["seeds"]:
        state = torch.load(trained / seed["checkpoint"], weights_only=True)
        assert "net.1.weight" in state["model"] and state["step"] == 30
        assert seed["param_count"] == 40 * 100 + 100 + 100 * 10 + 10


def test_training_run_in_mlflow_has_every_field(trained, prepared):
    client = MlflowClient()
    seed = json.loads((trained / "runs.json").read_text())["seeds"][0]
    run = client.get_run(seed["run_id"])
    assert run.info.run_name == "mlp-d1-s0" and run.info.status == "FINISHED"
    assert run.data.params["train.max_steps"] == "30" and run.data.params["param_count"] == "5110"
    assert run.data.tags["accelerator"] == "cpu" and run.data.tags["depth"] == "1"
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert len(history) >= 2 and [m.step for m in history] == sorted(m.step for m in history)
    assert {"train_loss", "train_acc", "val_loss", "train_time_s"} <= set(run.data.metrics)
    assert any(key.startswith("system/") for key in run.data.metrics)
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {"mnist1d-train", "mnist1d-val"}
    [model] = [m for m in client.search_logged_models(experiment_ids=[run.info.experiment_id]) if m.source_run_id == seed["run_id"]]
    meta = load_meta(prepared)
    x, _ = load_arrays(prepared, "test", meta)
    predictions = mlflow.pyfunc.load_model(model.model_uri).predict(x[:5])
    assert np.asarray(predictions).shape == (5, 10)


def test_same_params_data_and_code_give_identical_results(tmp_path, tiny_params, prepared):
    params = tiny_params.model_copy(update={"train": tiny_params.train.model_copy(update={"seeds": [3]})})
    meta = load_meta(prepared)
    x, y = load_arrays(prepared, "test", meta)
    results = []
    for attempt in ("first", "second"):
        train_point(params, "mlp", 1, prepared, tmp_path / attempt)
        net = load_trained(params, "mlp", 1, meta, tmp_path / attempt / "seed-3.ckpt")
        results.append({k: v for k, v in measure(net, x, y, 1).items() if k.startswith("test_")})
    assert results[0] == results[1]
