"""Tests that drive the real `dvc` on a throwaway copy of the project (`benchmarks.project`): a run of it, and a
snapshot of what it wrote."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from benchmarks.project import ROOT, copy_project, project_env

__all__ = ["ROOT", "copy_project", "dvc", "project_env", "snapshot"]


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["dvc", *args], cwd=project, env=project_env(project), capture_output=True, text=True, timeout=600
    )


def snapshot(project: Path) -> dict[str, str]:
    """Digest of dvc.lock and of every earlier output, and the number of MLflow runs."""
    files = [
        project / "dvc.lock",
        *sorted(
            p
            for d in ("data/prepared", "data/models", "metrics", "reports/claims.md")
            for p in ((project / d).rglob("*") if (project / d).is_dir() else [project / d])
            if p.is_file()
        ),
    ]
    digests = {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    digests["mlflow runs"] = str(len(client.search_runs(experiments)))
    return digests
