"""Claim 7 for real: two workspaces of one commit, each its own `dvc repro`, logging to one real `mlflow
server`. Their machines differ as two CPUs of different size do: one trains with one torch thread, the other
with two (a machine is the hardware a run had, not a host name)."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from mlflow import MlflowClient

from tests.helpers.params import raw_params
from tests.helpers.project import copy_project, project_env
from tests.helpers.server import mlflow_server

pytestmark = pytest.mark.slow  # a real server and two real pipelines


def test_two_workspaces_on_one_server_are_compared_and_neither_hides_the_other(tmp_path):
    origin = tmp_path / "origin"
    copy_project(origin)
    (origin / "params.yaml").write_text(yaml.safe_dump(raw_params()))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one commit for both machines"]):
        subprocess.run([*git, *command], cwd=origin, check=True)
    with mlflow_server(tmp_path / "server") as uri:
        reported = {}
        for name, threads in (("one-thread", 1), ("two-threads", 2)):
            workspace = tmp_path / name
            subprocess.run(["git", "clone", "-q", str(origin), str(workspace)], check=True)
            (workspace / "params.yaml").write_text(yaml.safe_dump(raw_params(runtime={"threads": threads})))
            env = {**project_env(workspace), "MLFLOW_TRACKING_URI": uri}
            done = subprocess.run(["dvc", "repro"], cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            reported[name] = _reported_runs(uri)
        report = (tmp_path / "two-threads" / "reports" / "claims.md").read_text()
    section = report.split("## Claim 7:")[1].split("## Claim")[0].split("## Learning rates")[0]
    assert "untested" not in section.split("\n\n")[1], section
    assert ", 1 thread, B = " in section and ", 2 threads" in section and "time B / A" in section
    assert "| mnist1d/mlp-d0 " in section and "| mnist1d/mlp-d1 " in section and "Protocol " in section
    # The second workspace's runs did not supersede or un-report the first's: both machines' runs stay reported.
    assert reported["one-thread"] <= reported["two-threads"] and len(reported["two-threads"]) == 8


def _reported_runs(uri: str) -> set[str]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("depthlab-mnist1d")
    runs = client.search_runs([experiment.experiment_id], "tags.kind = 'training' and tags.reported = 'true'")
    return {r.info.run_id for r in runs}
