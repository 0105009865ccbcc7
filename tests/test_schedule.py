"""The scheduled-run command on a real tiny project: lock, pipeline run in MLflow, failure and regression."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from depthlab.schedule import EXIT_LOCKED, EXIT_REGRESSION, regressions
from tests.helpers.params import corrupt_user_dataset, raw_params
from tests.helpers.project import copy_project, project_env

pytestmark = pytest.mark.slow  # the scheduled-run command as a process, with `dvc repro` inside

SCHEDULED = [sys.executable, "-m", "depthlab.schedule", "--trigger", "schedule"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by this file's tests, because the first scheduled run (a whole tiny `dvc repro`) is most of their
    time; each test writes the params.yaml it needs, and asks for `succeeded_once` if it needs an earlier run."""
    root = tmp_path_factory.mktemp("scheduled")
    copy_project(root)
    (root / "params.yaml").write_text(yaml.safe_dump(raw_params()))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


@pytest.fixture
def succeeded_once(project: Path) -> Path:
    """The project with a successful scheduled run on the tiny profile behind it, made here if none is yet."""
    if not any(run.info.status == "FINISHED" for run in pipeline_runs(project)):
        (project / "params.yaml").write_text(yaml.safe_dump(raw_params()))
        done = subprocess.run(SCHEDULED, cwd=project, env=project_env(), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    return project


def pipeline_runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-pipeline")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"]) if experiment else []


def test_regressions_compare_each_dataset_with_the_previous_run():
    assert regressions(
        {"best_accuracy.a": 0.80, "best_accuracy.b": 0.5}, {"best_accuracy.a": 0.85, "best_accuracy.b": 0.51}, 0.02
    ) == ["best_accuracy.a: 0.8500 -> 0.8000 (drop 0.0500 > 0.02)"]


def test_an_overlapping_run_exits_with_its_own_code_and_the_first_finishes(project):
    (project / "params.yaml").write_text(yaml.safe_dump(raw_params(train={"max_steps": 40})))
    earlier = len(pipeline_runs(project))
    first = subprocess.Popen(
        SCHEDULED, cwd=project, env=project_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = project / ".cache" / "scheduled-run.lock"
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.2)
    second = subprocess.run(SCHEDULED, cwd=project, env=project_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode == EXIT_LOCKED
    assert "another run holds the workspace (pid" in second.stderr
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    [run] = pipeline_runs(project)[earlier:]
    assert run.info.status == "FINISHED" and run.data.tags["trigger"] == "schedule"
    assert "train@mlp" in run.data.tags["stages_ran"] and run.data.metrics["duration_s"] > 0
    assert "best_accuracy.mnist1d" in run.data.metrics
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-mnist1d")
    training = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'training'")
    ours = [r for r in training if r.data.tags["pipeline_run_id"] == run.data.tags["pipeline_run_id"]]
    assert ours and {r.data.tags["trigger"] for r in ours} == {"schedule"}


def test_a_regression_writes_an_alert_and_exits_non_zero(succeeded_once):
    project = succeeded_once
    params = raw_params(train={"max_steps": 1, "lr": 1e-6})  # far worse than a run of 30 or more steps
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run(SCHEDULED, cwd=project, env=project_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == EXIT_REGRESSION, done.stderr[-3000:]
    assert "best_accuracy.mnist1d" in (project / "reports" / "alert.md").read_text()
    latest = pipeline_runs(project)[-1]
    assert latest.data.tags["alert"] == "true" and "prepare@mnist1d" in latest.data.tags["stages_up_to_date"]


def test_a_failing_stage_fails_the_scheduled_run(project):
    (project / "params.yaml").write_text(yaml.safe_dump(corrupt_user_dataset(project)))
    done = subprocess.run(SCHEDULED, cwd=project, env=project_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode not in (0, EXIT_LOCKED, EXIT_REGRESSION)
    assert "dvc repro failed" in done.stderr
    assert pipeline_runs(project)[-1].info.status == "FAILED"
