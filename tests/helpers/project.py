"""Throwaway copies of the project, for tests and benchmarks that drive the real `dvc` on them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = (
    "dvc.yaml",
    "pipeline",
    "src",
    "models",
    "examples",
    "presets",
    ".dvc/config",
    ".dvc/plots",
    ".dvcignore",
    ".gitignore",
)


def copy_project(target: Path, source_root: Path = ROOT) -> None:
    """The pipeline's files (not params.yaml, data or results) copied into `target`."""
    for name in PROJECT_FILES:
        source, destination = source_root / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy(source, destination)


def project_env(project: Path, *extra_paths: Path) -> dict[str, str]:
    """Environment for `dvc` in a throwaway project, as a user's shell has it: this venv's tools, the project's
    own mlflow.db, and the project's own library (`project/src`, copied by copy_project, perhaps from another
    commit) ahead of the installed one, so its stages import and write bytecode where a user's would.
    `PYTHONDONTWRITEBYTECODE` is removed: a user's Python writes `__pycache__/` beside the code."""
    hidden = {"MLFLOW_TRACKING_URI", "PYTHONDONTWRITEBYTECODE"}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (project / "src", *extra_paths))
    return env


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
