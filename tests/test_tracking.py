import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

import depthlab
from depthlab import tracking
from depthlab.families import DataShape, build_network
from tests.helpers.params import USER_FAMILY, make_params


def finished_run(run_id: str):
    return MlflowClient(tracking.tracking_uri()).get_run(run_id)


def test_flatten_nested_params():
    assert tracking.flatten({"train": {"lr": 0.01, "seeds": [0]}, "depth": 2}) == {
        "train.lr": "0.01",
        "train.seeds": "[0]",
        "depth": "2",
    }


def test_run_gets_params_tags_hardware_and_buffered_metrics():
    with tracking.tracked_run(
        dataset="unit", name="buffered", params={"a": {"b": 1}}, tags={"family": "mlp"}, flush_interval_s=3600
    ) as run:
        for step in range(50):
            run.log_metrics({"loss": 1.0 / (step + 1)}, step)
        assert MlflowClient().get_metric_history(run.run_id, "loss") == []  # still buffered
    done = finished_run(run.run_id)
    assert done.info.status == "FINISHED"
    assert done.data.params["a.b"] == "1"
    assert done.data.tags["family"] == "mlp" and done.data.tags["dataset"] == "unit"
    for key in (
        "hw.cpu_model",
        "hw.cpu_logical_cores",
        "hw.ram_gb",
        "hw.torch",
        "git_commit",
        "git_dirty",
        "dvc_stage",
    ):
        assert done.data.tags[key]
    assert len(MlflowClient().get_metric_history(run.run_id, "loss")) == 50


def test_exception_marks_run_failed_with_the_error():
    with pytest.raises(RuntimeError), tracking.tracked_run(dataset="unit", name="boom", params={}, tags={}) as run:
        run.log_metrics({"loss": 1.0})
        raise RuntimeError("exploded at step 3")
    done = finished_run(run.run_id)
    assert done.info.status == "FAILED"
    assert done.data.tags["error"] == "RuntimeError: exploded at step 3"
    assert "loss" in done.data.metrics  # what was buffered is not lost
    assert mlflow.active_run() is None


def test_interrupt_marks_run_killed():
    with (
        pytest.raises(KeyboardInterrupt),
        tracking.tracked_run(dataset="unit", name="ctrl-c", params={}, tags={}) as run,
    ):
        raise KeyboardInterrupt
    assert finished_run(run.run_id).info.status == "KILLED"


def test_sqlite_artifacts_live_beside_the_database(tmp_path):
    assert (
        tracking.store.artifacts_beside_database(f"sqlite:///{tmp_path}/mlflow.db")
        == (tmp_path / "mlartifacts").as_uri()
    )
    assert tracking.store.artifacts_beside_database("http://127.0.0.1:5000") is None


def test_an_interrupt_while_the_run_starts_still_ends_it_killed(monkeypatch):
    def interrupted(*args, **kwargs):  # Ctrl-C while the sampler starts, after the run exists in the store
        raise KeyboardInterrupt

    monkeypatch.setattr(tracking.SystemSampler, "__init__", interrupted)
    with (
        pytest.raises(KeyboardInterrupt),
        tracking.tracked_run(
            dataset="unit", name="interrupted-early", params={"a": 1}, tags={}, system_metrics_interval_s=1.0
        ),
    ):
        pass
    client = MlflowClient()
    experiment = client.get_experiment_by_name(tracking.experiment_name("unit"))
    [run] = client.search_runs([experiment.experiment_id], filter_string="attributes.run_name = 'interrupted-early'")
    assert run.info.status == "KILLED" and run.data.params["a"] == "1"


def _logged(family: str, serialization_format: str, models=None):
    """A network of `family` at depth 3, logged in the given format: (model URI, input, output)."""
    torch.manual_seed(0)
    net = build_network(models or make_params().models, family, 3, DataShape("sequence", (40,), 10)).eval()
    x = np.random.default_rng(0).random((4, 40), dtype=np.float32)
    with tracking.tracked_run(dataset="unit", name=f"model-{serialization_format}", params={}, tags={}) as run:
        run.log_model(net, x[:2], serialization_format)
    with torch.inference_mode():
        expected = net(torch.from_numpy(x)).numpy()
    return f"runs:/{run.run_id}/model", x, expected


@pytest.mark.parametrize("serialization_format", ["pickle", "pt2"])
def test_a_logged_model_predicts_what_the_network_did(serialization_format):
    """resmlp: a network with a class of depthlab's own (ResidualBlock)."""
    uri, x, expected = _logged("resmlp", serialization_format)
    np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(x), expected, rtol=1e-5, atol=1e-6)


def predicted_elsewhere(uri: str, x: np.ndarray, cwd: Path) -> np.ndarray:
    """What the model at `uri` predicts for `x` in a fresh interpreter in which neither depthlab nor the project's
    folders of user code (examples/, models/) can be imported, except from what the model logged."""
    load = (
        "import sys, json, numpy as np, mlflow\n"
        "sys.path = [p for p in sys.path if p not in sys.argv[2:4]]\n"
        "for name in ('depthlab', 'examples'):\n"
        "    try:\n        __import__(name)\n    except ImportError:\n        pass\n"
        "    else:\n        sys.exit(f'{name} is importable')\n"
        "x = np.asarray(json.loads(sys.argv[4]), dtype=np.float32)\n"
        "print(json.dumps(np.asarray(mlflow.pyfunc.load_model(sys.argv[1]).predict(x)).tolist()))\n"
    )
    source, root = Path(depthlab.__file__).parents[1], Path(depthlab.__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", load, uri, str(source), str(root), json.dumps(x.tolist())],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.array(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow  # a fresh interpreter loads the model
def test_a_pickled_model_loads_where_depthlab_is_not_installed(tmp_path):
    """depthlab's classes travel by value in the pickle: a serving environment needs torch, not this project."""
    uri, x, expected = _logged("resmlp", "pickle")
    np.testing.assert_allclose(predicted_elsewhere(uri, x, tmp_path), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # a fresh interpreter loads the model
def test_a_users_module_loads_with_its_code_where_neither_depthlab_nor_the_project_is(tmp_path):
    """A family named by import path: its LightningModule (examples.resnet.ResNet) is logged with its folder of
    user code, which MLflow puts on the loading process's path."""
    from depthlab.families import imported

    models = make_params(models=USER_FAMILY["models"], sweep=USER_FAMILY["sweep"]).models
    uri, x, expected = _logged("resnet", "pickle", models)
    assert (Path(mlflow.artifacts.download_artifacts(uri)) / "code" / "examples" / "resnet.py").is_file()
    assert imported.code_folder(build_network(models, "resnet", 1, DataShape("sequence", (40,), 10))).name == "examples"
    np.testing.assert_allclose(predicted_elsewhere(uri, x, tmp_path), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", [{"enabled": False}, {"record": True}, {}])
def test_every_kind_of_run_is_a_run_and_takes_what_training_logs(kind):
    spec = tracking.RunSpec("kinds", {"a": 1}, {"family": "mlp"})
    with tracking.tracked_runs(dataset="unit", runs=[spec], **kind) as runs:
        [run] = runs
        assert isinstance(run, tracking.Run) and isinstance(run.run_id, str)
        run.log_metrics({"loss": 0.5}, step=1)
        run.set_tags({"diverged": "false"})
        run.log_inputs([])
