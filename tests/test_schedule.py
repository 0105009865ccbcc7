"""The scheduled-run command on a real tiny project: lock, pipeline run in MLflow, failure and regression."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from depthlab.errors import REGRESSION, Locked
from depthlab.schedule import acquire
from tests.helpers.params import corrupt_user_dataset, raw_params
from tests.helpers.project import ROOT, copy_project, project_env

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
        done = subprocess.run(
            SCHEDULED, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return project


def pipeline_runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-pipeline")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"]) if experiment else []


def test_an_overlapping_run_exits_with_its_own_code_and_the_first_finishes(project):
    (project / "params.yaml").write_text(yaml.safe_dump(raw_params()))
    earlier = len(pipeline_runs(project))
    first = subprocess.Popen(
        SCHEDULED, cwd=project, env=project_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = project / ".cache" / "scheduled-run.lock"
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.2)
    second = subprocess.run(
        SCHEDULED, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=120
    )
    assert second.returncode == Locked.exit_code
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


# The deploy/ examples' own command lines, as a scheduler starts them, with the checkout and log paths
# pointed at the test project.
DEPLOY = ROOT / "deploy"


def crontab_command(project: Path, logs: Path) -> list[str]:
    [line] = [line for line in (DEPLOY / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    command = line.split(None, 5)[5].replace("/srv/depthlab", str(project)).replace("/var/log/depthlab", str(logs))
    return ["sh", "-c", command]


def systemd_command(project: Path) -> list[str]:
    unit = dict(
        line.split("=", 1) for line in (DEPLOY / "depthlab.service").read_text().splitlines() if "=" in line[:40]
    )
    assert unit["WorkingDirectory"] == "/srv/depthlab"
    return shlex.split(unit["ExecStart"].replace("/srv/depthlab", str(project)))


def workflow_command() -> list[str]:
    workflow = yaml.safe_load((DEPLOY / "github" / "depthlab-scheduled.yml").read_text())
    [step] = [step for step in workflow["jobs"]["scheduled-run"]["steps"] if step.get("name") == "scheduled run"]
    return ["bash", "-e", "-c", step["run"]]  # GitHub's shell for `run:` on Linux


@pytest.fixture
def installed(succeeded_once: Path) -> Path:
    """The project as `make setup` leaves it: its .venv (here a link to this one)."""
    venv = succeeded_once / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.executable).parents[1])
    (succeeded_once / "params.yaml").write_text(yaml.safe_dump(raw_params()))
    return succeeded_once


@pytest.mark.parametrize("example", ["crontab", "systemd", "github"])
def test_every_deploy_example_returns_75_on_an_overlap_and_6_on_a_regression(example, installed, tmp_path, monkeypatch):
    project = installed
    command = {
        "crontab": lambda: crontab_command(project, tmp_path),
        "systemd": lambda: systemd_command(project),
        "github": workflow_command,
    }[example]()
    bare = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}  # cron's

    def run() -> int:
        return subprocess.run(command, cwd=project, env=bare, capture_output=True, timeout=600).returncode

    held = acquire(project / ".cache" / "scheduled-run.lock", 0)
    try:
        assert run() == Locked.exit_code
    finally:
        os.close(held)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    from depthlab import tracking

    better = {"best_accuracy.mnist1d": 1.0}  # a previous night no tiny run can match
    tracking.log_pipeline_run(
        "earlier", "schedule", succeeded=True, duration_s=1, ran=[], up_to_date=[], metrics=better, alert=False
    )
    assert run() == REGRESSION
    if example == "systemd":
        unit = (DEPLOY / "depthlab.service").read_text()
        assert "SuccessExitStatus=75" in unit, "an overlap is a skipped run, not a failure; a regression fails"


def scheduled(project: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(SCHEDULED, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def training_runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-mnist1d")
    return client.search_runs([experiment.experiment_id], "tags.kind = 'training'") if experiment else []


def test_a_fresh_clone_pulls_from_the_remote_and_trains_only_what_changed(tmp_path):
    origin, clone, remote = tmp_path / "origin", tmp_path / "clone", tmp_path / "remote"
    copy_project(origin)
    (origin / "params.yaml").write_text(yaml.safe_dump(raw_params()))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=origin, check=True)
    subprocess.run(
        ["dvc", "remote", "add", "-d", "storage", str(remote)], cwd=origin, env=project_env(origin), check=True
    )
    subprocess.run(["git", "add", "-A"], cwd=origin, check=True)
    subprocess.run([*git, "commit", "-qm", "project with a remote"], cwd=origin, check=True)

    scheduled(origin)
    first = pipeline_runs(origin)[-1].data.tags
    assert "train@mlp" in first["stages_ran"] and first["dvc_lock_committed"] == "true"
    assert "pushed" in first["dvc_pushed"]

    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    scheduled(clone)
    fresh = pipeline_runs(clone)[-1].data.tags
    assert fresh["stages_ran"] == "none", "everything was pulled: nothing trains"
    assert "fetched" in fresh["dvc_pulled"] and not training_runs(clone)

    raw = raw_params(sweep={"mlp": {"datasets": ["mnist1d"], "depths": [0, 1, 2]}})
    (clone / "params.yaml").write_text(yaml.safe_dump(raw))
    scheduled(clone)
    changed = pipeline_runs(clone)[-1].data.tags
    assert set(changed["stages_ran"].split(",")) == {"train@mlp", "evaluate@mlp", "report"}
    assert "pushed" in changed["dvc_pushed"] and changed["dvc_lock_committed"] == "true"
    assert {int(r.data.tags["depth"]) for r in training_runs(clone)} == {0, 1, 2}


def test_a_regression_writes_an_alert_and_exits_non_zero(succeeded_once):
    project = succeeded_once
    params = raw_params(train={"max_steps": 1, "lr": 1e-6})  # far worse than a run of 30 or more steps
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    champion = MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_model_version_by_alias
    before = champion("depthlab-mnist1d", "champion")
    done = subprocess.run(SCHEDULED, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=600)
    assert done.returncode == REGRESSION, done.stderr[-3000:]
    alert = (project / "reports" / "alert.md").read_text()
    assert "best_accuracy.mnist1d" in alert
    assert f"`depthlab-mnist1d@champion` stays at version {before.version}: mlp-d" in alert
    assert champion("depthlab-mnist1d", "champion").version == before.version
    latest = pipeline_runs(project)[-1]
    assert latest.data.tags["alert"] == "true" and "prepare@mnist1d" in latest.data.tags["stages_up_to_date"]


def test_a_failing_stage_fails_the_scheduled_run(project):
    (project / "params.yaml").write_text(yaml.safe_dump(corrupt_user_dataset(project)))
    done = subprocess.run(SCHEDULED, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=600)
    assert done.returncode not in (0, Locked.exit_code, REGRESSION)
    assert "dvc repro failed" in done.stderr
    assert pipeline_runs(project)[-1].info.status == "FAILED"
