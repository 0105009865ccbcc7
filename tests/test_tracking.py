import mlflow
import pytest
from mlflow import MlflowClient

from depthlab import tracking


def finished_run(run_id: str):
    return MlflowClient(tracking.tracking_uri()).get_run(run_id)


def test_flatten_nested_params():
    assert tracking.flatten({"train": {"lr": 0.01, "seeds": [0]}, "depth": 2}) == {
        "train.lr": "0.01",
        "train.seeds": "[0]",
        "depth": "2",
    }


def test_run_gets_params_tags_hardware_and_buffered_metrics():
    with tracking.tracked_run(dataset="unit", name="buffered", params={"a": {"b": 1}}, tags={"family": "mlp"}, flush_interval_s=3600) as run:
        for step in range(50):
            run.log_metrics({"loss": 1.0 / (step + 1)}, step)
        assert MlflowClient().get_metric_history(run.run_id, "loss") == []  # still buffered
    done = finished_run(run.run_id)
    assert done.info.status == "FINISHED"
    assert done.data.params["a.b"] == "1"
    assert done.data.tags["family"] == "mlp" and done.data.tags["dataset"] == "unit"
    for key in ("hw.cpu_model", "hw.cpu_logical_cores", "hw.ram_gb", "hw.torch", "git_commit", "git_dirty", "dvc_stage"):
        assert done.data.tags[key]
    assert len(MlflowClient().get_metric_history(run.run_id, "loss")) == 50


def test_exception_marks_run_failed_with_the_error():
    with pytest.raises(RuntimeError):
        with tracking.tracked_run(dataset="unit", name="boom", params={}, tags={}) as run:
            run.log_metrics({"loss": 1.0})
            raise RuntimeError("exploded at step 3")
    done = finished_run(run.run_id)
    assert done.info.status == "FAILED"
    assert done.data.tags["error"] == "RuntimeError: exploded at step 3"
    assert "loss" in done.data.metrics  # what was buffered is not lost
    assert mlflow.active_run() is None


def test_interrupt_marks_run_killed():
    with pytest.raises(KeyboardInterrupt):
        with tracking.tracked_run(dataset="unit", name="ctrl-c", params={}, tags={}) as run:
            raise KeyboardInterrupt
    assert finished_run(run.run_id).info.status == "KILLED"


def test_sqlite_artifacts_live_beside_the_database(tmp_path):
    assert tracking._artifacts_beside_database(f"sqlite:///{tmp_path}/mlflow.db") == (tmp_path / "mlartifacts").as_uri()
    assert tracking._artifacts_beside_database("http://127.0.0.1:5000") is None


def test_an_interrupt_while_the_run_starts_still_ends_it_killed(monkeypatch):
    def interrupted(*args, **kwargs):  # Ctrl-C while the sampler starts, after the run exists in the store
        raise KeyboardInterrupt

    monkeypatch.setattr(tracking.SystemSampler, "__init__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with tracking.tracked_run(dataset="unit", name="interrupted-early", params={"a": 1}, tags={}, system_metrics_interval_s=1.0):
            pass
    client = MlflowClient()
    experiment = client.get_experiment_by_name(tracking.experiment_name("unit"))
    [run] = client.search_runs([experiment.experiment_id], filter_string="attributes.run_name = 'interrupted-early'")
    assert run.info.status == "KILLED" and run.data.params["a"] == "1"
