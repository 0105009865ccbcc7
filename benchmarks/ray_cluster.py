"""Target 9, Ray: the default study's mlp train stage on MNIST-1D on a local Ray cluster of two one-CPU nodes vs
the local executor's two worker processes (on 2 cores this shows Ray's overhead, not a speed-up)."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import interleaved
from benchmarks.project import DATASET, ROOT, copy_project, dvc, project_env


def run(rounds: int, quick: bool) -> dict[str, Any]:
    """Target 9: `dvc repro --force` of one train stage, the default study's mlp on MNIST-1D (its lr grid, its
    ten seeds), with `RAY_ADDRESS` naming a local cluster and without, in alternating rounds. Finished
    ensembles are cleared before each run, so both arms train everything."""
    from ray.cluster_utils import Cluster

    project = Path(tempfile.mkdtemp(prefix="depthlab-bench-ray-"))
    copy_project(project)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    mlp_depths = raw["sweep"]["mlp"]["depths"]
    raw["data"]["datasets"] = [DATASET]
    raw["sweep"] = {family: {"datasets": [], "depths": []} for family in raw["sweep"]}
    raw["sweep"]["mlp"] = {"datasets": [DATASET], "depths": mlp_depths}
    if quick:
        raw["train"]["max_steps"] = raw["train"]["selection"]["max_steps"] = 100
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        dvc(project, "repro", "validate@mnist1d")

        def train_stage(address: str | None) -> float:
            shutil.rmtree(project / ".cache" / "ensembles", ignore_errors=True)
            env = {**project_env(project), **({"RAY_ADDRESS": address} if address else {})}
            started = time.perf_counter()
            subprocess.run(
                ["dvc", "repro", "--force", "--single-item", "train@mlp"],
                cwd=project, env=env, check=True, capture_output=True,
            )  # fmt: skip
            return time.perf_counter() - started

        measured = interleaved([lambda: train_stage(None), lambda: train_stage(cluster.address)], rounds)
    finally:
        cluster.shutdown()
        shutil.rmtree(project, ignore_errors=True)
    return {
        "rounds": rounds,
        "steps": raw["train"]["max_steps"],
        "configurations": len(mlp_depths),
        "local_s": statistics.median(r[0] for r in measured),
        "ray_s": statistics.median(r[1] for r in measured),
        "ratio": statistics.median(r[1] / r[0] for r in measured),
    }


def report(ray: dict[str, Any]) -> list[str]:
    return [
        f"9. the default study's mlp train stage on MNIST-1D ({ray['configurations']} depths, lr grid, "
        f"{ray['steps']} steps), `dvc repro --force`, {ray['rounds']} alternating rounds:",
        f"   local executor (2 worker processes) {ray['local_s']:.1f}s; Ray, 2 one-CPU nodes on this machine"
        f" {ray['ray_s']:.1f}s: {ray['ratio']:.2f}x (median of per-round ratios; 2 cores cannot show a speed-up:"
        " this is Ray's overhead)",
    ]
