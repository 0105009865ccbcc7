"""Throwaway copies of the project, for benchmarks and tests that drive the real `dvc` on them, of this checkout
or of the baseline commit the benchmarks compare with."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from depthlab.families import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
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
# The last commit that trained each seed as its own run, with every stage importing torch: the "before" of
# targets 7 and 8. Its code is taken from git history (`git archive`), so a fresh clone can measure it.
BASELINE = "8d43205"
DATASET = "mnist1d"  # what every benchmark trains on


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


def stage_env(project: Path, source_root: Path = ROOT) -> dict[str, str]:
    """`dvc`'s environment for a throwaway project of `source_root`; a baseline commit's stages also find the
    packages that commit pinned differently (installed by baseline_tree)."""
    if source_root == ROOT:
        return project_env(project)
    return project_env(project, ROOT / ".cache" / "bench" / f"packages-{BASELINE}")


def sweep_of(family: str, depths: list[int]) -> dict[str, Any]:
    """A params.yaml `sweep` training only these depths of one family on MNIST-1D. Every family keeps its
    key: dvc.yaml's matrices read `sweep.<family>.datasets` for each of them."""
    sweep: dict[str, Any] = {name: {"datasets": [], "depths": []} for name in FAMILIES}
    sweep[family] = {"datasets": [DATASET], "depths": depths}
    return sweep


def tiny_project(source_root: Path = ROOT, **train: Any) -> Path:
    """A throwaway git repository with the pipeline of `source_root` studying mlp depths 0 and 1 on 1000
    MNIST-1D samples, not yet reproduced."""
    project = Path(tempfile.mkdtemp(prefix="depthlab-bench-project-"))
    copy_project(project, source_root)
    raw = yaml.safe_load((source_root / "params.yaml").read_text())
    raw["data"]["mnist1d"]["num_samples"] = 1000
    raw["data"]["datasets"] = [DATASET]
    raw["train"].update(max_steps=20, seeds=[0], **train)
    if isinstance(raw["train"]["lr"], list):  # one lr (a grid here, a number at the baseline commit)
        raw["train"]["lr"] = [0.01]
    raw["sweep"] = {family: sweep_of("mlp", [0, 1])[family] for family in raw["sweep"]}  # that commit's families
    raw["evaluate"]["latency_samples"] = 10
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


def dvc(project: Path, *arguments: str, source_root: Path = ROOT) -> list[tuple[float, str]]:
    """Run `dvc <arguments>` in `project`; each line of its output with the seconds since the start."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["dvc", *arguments],
        cwd=project,
        env=stage_env(project, source_root),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=1,
    )
    assert process.stdout is not None
    lines = [(time.perf_counter() - started, line.rstrip()) for line in process.stdout]
    if process.wait() != 0:
        raise RuntimeError(
            f"dvc {' '.join(arguments)} failed in {project}:\n" + "\n".join(text for _, text in lines[-40:])
        )
    return lines


def baseline_tree() -> Path | None:
    """The baseline commit's files (`git archive`), or None where this checkout has no git history of it.

    The pinned packages it locked and this checkout does not (it used `lightning`, not `lightning-fabric`)
    are installed once into `.cache/bench/`, and its stages find them there (see stage_env).
    """
    tree = Path(tempfile.mkdtemp(prefix=f"depthlab-bench-{BASELINE}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE], capture_output=True)
    if archive.returncode != 0:
        shutil.rmtree(tree, ignore_errors=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    missing = sorted(
        set((tree / "requirements.lock").read_text().split()) - set((ROOT / "requirements.lock").read_text().split())
    )
    packages = ROOT / ".cache" / "bench" / f"packages-{BASELINE}"
    if missing and not (packages / ".installed").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(packages), *missing],
            check=True,
        )
        (packages / ".installed").touch()
    return tree
