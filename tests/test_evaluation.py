import json

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from torch import nn

from depthlab.data import load_meta
from depthlab.errors import DataError
from depthlab.evaluation import evaluate_family, load_trained, measure


def test_measure_on_a_known_classifier():
    net = nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        net.bias.zero_()
    x = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    result = measure(net, x, y, latency_samples=3)
    assert result["test_accuracy"] == 0.75
    assert result["confusion_matrix"] == [[2, 0], [1, 1]]
    assert result["per_class_accuracy"] == [1.0, 0.5]
    assert result["latency_ms_per_sample"] > 0 and result["throughput_samples_per_s"] > 0


def test_evaluate_family_writes_details_and_headline_metrics_and_logs_test_metrics_to_its_training_runs(
    trained, prepared, tiny_params, tmp_path
):
    summary = evaluate_family(
        tiny_params, "mlp", {"mnist1d": prepared}, trained.parent, tmp_path / "metrics", tmp_path / "details"
    )["mnist1d"]
    on_disk = json.loads((tmp_path / "details" / "mnist1d" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary)) and set(on_disk["depths"]) == {"0", "1"}
    assert on_disk["chance"] == pytest.approx(0.1, abs=0.03)  # MNIST-1D's ten classes are balanced
    headline = json.loads(
        (tmp_path / "metrics" / "mnist1d.json").read_text()
    )  # what `dvc metrics show` prints: one short row
    assert list(headline) == ["d00", "d00_ci", "d01", "d01_ci"]
    assert headline["d01"] == round(100 * on_disk["depths"]["1"]["test_accuracy"], 1)
    low, high = map(float, headline["d01_ci"].split("-"))
    assert 0 <= low <= headline["d01"] <= high <= 100
    point = on_disk["depths"]["1"]
    assert (
        point["seeds"] == 2 and 0 < point["test_accuracy"] <= 1 and point["param_count"] == 5110 and point["lr"] == 0.01
    )
    assert set(point["per_seed"]) == {"0", "1"} and point["diverged"] == 0
    assert point["per_seed"]["0"]["train_samples_per_s"] > 0
    details = tmp_path / "details" / "mnist1d" / "d1-lr0.01-30steps-seed-0.json"
    assert len(json.loads(details.read_text())["confusion_matrix"]) == 10
    run_id = json.loads((trained / "runs.json").read_text())["runs"][3]["run_id"]
    metrics = MlflowClient().get_run(run_id).data.metrics
    assert metrics["test_accuracy"] == point["per_seed"]["1"]["test_accuracy"]
    assert "test_acc_class_9" in metrics


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, prepared, tiny_params):
    bad = tmp_path / "seed-0.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=r"seed-0\.ckpt: not a loadable checkpoint"):
        load_trained(tiny_params, "mlp", 1, load_meta(prepared), bad)
