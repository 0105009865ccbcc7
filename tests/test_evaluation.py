import json

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from torch import nn

from depthlab.cell import Cell
from depthlab.data import load_meta
from depthlab.errors import DataError
from depthlab.evaluation import (
    confusion_matrix,
    evaluate_family,
    headline,
    load_trained,
    macro_f1,
    measure,
    representative_seed,
)
from depthlab.records import TrainedRuns
from depthlab.summary import CellResults, DepthResults, SeedResult, Summary


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


@pytest.mark.parametrize("classes, seed", [(3, 0), (10, 1), (10, 2)])
def test_confusion_and_macro_f1_agree_with_scikit_learn_including_classes_never_seen(classes, seed):
    from sklearn import metrics

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes - 1, 60)  # the last class never true
    predicted = np.where(rng.random(60) < 0.6, y, rng.integers(0, classes - 2, 60))  # nor predicted
    labels = np.arange(classes)
    confusion = confusion_matrix(y, predicted, classes)
    assert np.array_equal(confusion, metrics.confusion_matrix(y, predicted, labels=labels))
    expected = metrics.f1_score(y, predicted, labels=labels, average="macro", zero_division=0)
    assert macro_f1(confusion) == pytest.approx(expected, rel=1e-12)


def test_evaluate_family_writes_details_and_headline_metrics_and_logs_test_metrics_to_its_training_runs(
    trained, prepared, tiny_params, tmp_path
):
    summary = evaluate_family(
        tiny_params, "mlp", {"mnist1d": prepared}, trained.parent, tmp_path / "metrics", tmp_path / "details"
    )["mnist1d"]
    on_disk = Summary.read(tmp_path / "details" / "mnist1d" / "summary.json")
    assert on_disk == summary and [c.cell for c in on_disk.cells] == [Cell(30, None)]
    assert set(on_disk.at(Cell(30, None)).depths) == {0, 1}
    assert on_disk.chance == pytest.approx(0.1, abs=0.03)  # MNIST-1D's ten classes are balanced
    headline = json.loads(
        (tmp_path / "metrics" / "mnist1d.json").read_text()
    )  # what `dvc metrics show` prints: one short row
    assert list(headline) == ["00", "01"]
    assert headline["01"] == round(100 * on_disk.at(Cell(30, None)).depths[1].mean("test_accuracy"), 1)
    point = on_disk.at(Cell(30, None)).depths[1]
    assert (
        len(point.per_seed) == 2
        and 0 < point.mean("test_accuracy") <= 1
        and point.param_count == 5110
        and point.lr == 0.01
    )
    assert set(point.per_seed) == {0, 1} and point.diverged == 0
    assert point.per_seed[0].train_samples_per_s > 0
    details = tmp_path / "details" / "mnist1d" / "d1-lr0.01-30steps-seed-0.json"
    assert len(json.loads(details.read_text())["confusion_matrix"]) == 10
    run_id = TrainedRuns.read(trained / "runs.json").runs[3].run_id
    assert point.per_seed[1].run_id == run_id
    metrics = MlflowClient().get_run(run_id).data.metrics
    assert metrics["test_accuracy"] == point.per_seed[1].test_accuracy
    assert not [key for key in metrics if "class" in key]  # per-class results are a table, not ten scalars
    # Every run's class for every test example, kept for the report's resampling of test examples.
    predictions = np.load(tmp_path / "details" / "mnist1d" / "predictions.npz")
    labels, predicted = predictions["labels"], predictions[point.per_seed[1].predictions]
    assert predicted.shape == labels.shape == (200,)
    assert (predicted == labels).mean() == pytest.approx(point.per_seed[1].test_accuracy)


def test_the_representative_seed_of_each_depth_gets_a_per_class_table_and_a_confusion_figure(
    trained, prepared, tiny_params, tmp_path
):
    summary = evaluate_family(
        tiny_params, "mlp", {"mnist1d": prepared}, trained.parent, tmp_path / "metrics", tmp_path / "details"
    )["mnist1d"]
    store = MlflowClient()
    for point in summary.at(Cell(30, None)).depths.values():
        seeds = point.per_seed
        chosen = seeds[point.representative_seed]
        assert chosen.test_accuracy == sorted(s.test_accuracy for s in seeds.values())[0]  # lower median of 2
        artifacts = {a.path for a in store.list_artifacts(chosen.run_id, "evaluation")}
        assert {"evaluation/per_class_accuracy.json", "evaluation/confusion_matrix.png"} <= artifacts
        table = store.load_table(
            store.get_run(chosen.run_id).info.experiment_id, "evaluation/per_class_accuracy.json", [chosen.run_id]
        )
        assert list(table["class"].astype(str)) == [str(c) for c in range(10)] and table.test_samples.sum() > 0
        weighted = (table.accuracy * table.test_samples).sum() / table.test_samples.sum()
        assert weighted == pytest.approx(chosen.test_accuracy)
        assert store.get_run(chosen.run_id).data.tags["representative"] == "true"
        others = [s.run_id for seed, s in seeds.items() if seed != point.representative_seed]
        assert all(store.get_run(r).data.tags["representative"] == "false" for r in others)
        assert all(
            "evaluation/confusion_matrix.png" not in {a.path for a in store.list_artifacts(r, "evaluation")}
            for r in others
        )


def test_the_representative_seed_is_the_median_and_a_diverged_seed_counts_lowest():
    accuracies = {0: 0.9, 1: None, 2: 0.5}
    assert representative_seed(accuracies) == 2
    accuracies[3] = 0.5
    assert representative_seed(accuracies) == 2  # lower median; equal accuracies go to the lower seed


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, prepared, tiny_params):
    bad = tmp_path / "seed-0.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=r"seed-0\.ckpt: not a loadable checkpoint"):
        load_trained(tiny_params, "mlp", 1, load_meta(prepared), bad)


@pytest.mark.slow  # runs `dvc metrics show`
def test_dvc_metrics_show_of_the_default_study_fits_80_columns(tmp_path):
    """Every (family, dataset) of params.yaml with every depth at its widest value (100.0), as DVC prints it."""
    import subprocess

    from depthlab.params import load_params
    from depthlab.stages import METRICS
    from tests.helpers.project import ROOT, project_env

    params = load_params(ROOT / "params.yaml")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, env=project_env(tmp_path), check=True)
    (tmp_path / "dvc.yaml").write_text(f"metrics:\n  - {METRICS}\n")
    for dataset, family, depths in params.study():
        results = results_of({depth: 1.0 for depth in depths})
        path = tmp_path / METRICS / family / f"{dataset}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(headline(results)))
    env = {**project_env(tmp_path), "COLUMNS": "80"}
    shown = subprocess.run(["dvc", "metrics", "show"], cwd=tmp_path, env=env, capture_output=True, text=True)
    lines = shown.stdout.splitlines()
    assert len(lines) == 1 + len(list(params.study())) and "100 " in lines[1], shown.stdout + shown.stderr
    assert max(len(line) for line in lines) <= 80, "\n" + shown.stdout
    assert all(line.startswith(f"{METRICS}/") for line in lines[1:])


def results_of(accuracies: dict[int, float]) -> CellResults:
    """A cell's results of one seed per depth, of the given test accuracies: all `headline` reads."""

    def depth(accuracy: float) -> DepthResults:
        result = SeedResult(accuracy, 0.1, accuracy, 1.0, 10.0, 1.0, 100.0, 0.1, False, "run", "d-seed-0")
        return DepthResults(param_count=1, lr=0.01, representative_seed=0, per_seed={0: result})

    return CellResults(Cell(30, None), {d: depth(a) for d, a in accuracies.items()})
