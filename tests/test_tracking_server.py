"""The pipeline against a real `mlflow server` on 127.0.0.1 with a SQLite backend in a temporary folder."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from mlflow import MlflowClient

from tests.helpers.params import raw_params
from tests.helpers.project import copy_project, project_env
from tests.helpers.server import mlflow_server

pytestmark = pytest.mark.slow  # a real `mlflow server` process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("server")
    with mlflow_server(folder) as uri:
        yield uri, folder


def test_pipeline_logs_runs_and_artifacts_to_a_real_server(server, tmp_path):
    uri, folder = server
    copy_project(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params()))
    env = {**project_env(tmp_path), "MLFLOW_TRACKING_URI": uri}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    done = subprocess.run(["dvc", "repro"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").exists(), "nothing went to a local store"

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("depthlab-mnist1d")
    training = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "training"]
    assert sorted(r.info.run_name for r in training) == ["mlp-d0-s0", "mlp-d0-s1", "mlp-d1-s0", "mlp-d1-s1"]
    for run in training:
        assert run.info.status == "FINISHED" and "test_accuracy" in run.data.metrics
        assert len(client.get_metric_history(run.info.run_id, "val_acc")) >= 2
        evaluation = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
        per_class = {"evaluation/confusion_matrix.png", "evaluation/per_class_accuracy.json"}
        representative = run.data.tags["representative"] == "true"
        assert evaluation == {"evaluation/test.json"} | (per_class if representative else set())
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert len(models) == 4
    report = client.search_runs([client.get_experiment_by_name("depthlab-study").experiment_id])[0]
    assert "report/claims.md" in {a.path for a in client.list_artifacts(report.info.run_id, "report")}
    stored = [p.name for p in (folder / "artifacts").rglob("*") if p.is_file()]
    assert "claims.md" in stored and stored.count("test.json") == 4 and stored.count("MLmodel") == 4
    assert stored.count("confusion_matrix.png") == 2  # one representative seed per depth
    champion = client.get_model_version_by_alias("depthlab-mnist1d", "champion")  # the registry on a server too
    assert champion.run_id in {r.info.run_id for r in training}
