import json

import mlflow
import pytest
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


def test_epoch_metrics_are_exact_means_over_uneven_batches():
    from depthlab.training import Classifier

    torch.manual_seed(0)
    module = Classifier(torch.nn.Linear(4, 3), lr=0.1, weight_decay=0.0)
    batches = [(torch.randn(n, 4), torch.randint(0, 3, (n,))) for n in (5, 5, 2)]
    for batch in batches:
        module.training_step(batch, 0)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    with torch.no_grad():
        logits = module.net(x)
    metrics = module.epoch_metrics()
    assert metrics["train_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert metrics["train_acc"] == pytest.approx((logits.argmax(-1) == y).float().mean().item())
    assert "val_loss" not in metrics and module.epoch_metrics() == {}  # reset after reading


def test_fit_takes_exactly_max_steps_and_reports_every_epoch(tiny_params, prepared):
    import lightning as L

    from depthlab.families import build_network
    from depthlab.training import Classifier, fit

    meta = load_meta(prepared)
    cfg = tiny_params.train.model_copy(update={"max_steps": 20})  # 720 rows, batch 100: 8 steps an epoch
    seen = []
    module = Classifier(build_network(tiny_params.models, "mlp", 1, meta.shape), cfg.lr, 0.0)
    steps = fit(
        L.Fabric(accelerator="cpu", devices=1),
        module,
        load_arrays(prepared, "train", meta),
        load_arrays(prepared, "val", meta),
        cfg,
        0,
        lambda step, metrics: seen.append((step, sorted(metrics))),
    )
    assert steps == 20
    assert [step for step, _ in seen] == [8, 16, 20]
    assert all(keys == ["train_acc", "train_loss", "val_acc", "val_loss"] for _, keys in seen)


def test_tracking_off_trains_and_evaluates_without_mlflow(tmp_path, prepared):
    from depthlab.evaluation import evaluate_point
    from tests.conftest import make_params

    params = make_params(train={"seeds": [0], "max_steps": 10}, tracking={"enabled": False})
    [trained] = train_point(params, "mlp", 0, prepared, tmp_path / "mlp-d0")
    assert trained.run_id == "untracked"
    summary = evaluate_point(params, "mlp", 0, prepared, tmp_path / "mlp-d0", tmp_path / "m.json", tmp_path / "eval")
    assert 0 <= summary["test_accuracy"] <= 1
