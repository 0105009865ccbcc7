"""Target 8, whole study: `dvc repro` of the defaults, this code (ten seeds as ensembles) vs the baseline commit's
(three seeds, each its own run)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.project import BASELINE, ROOT, baseline_tree, copy_project, dvc


def run() -> dict[str, Any]:
    """Target 8: `dvc repro` of the defaults from nothing, at the baseline commit (its defaults: three seeds,
    each its own run) and here (ten seeds, one ensemble per depth), one after the other in one run."""
    baseline = baseline_tree()
    if baseline is None:
        return {"baseline": None}
    arms = {"before": baseline, "after": ROOT}
    results: dict[str, Any] = {"baseline": BASELINE}
    try:
        for arm, source in arms.items():
            project = Path(tempfile.mkdtemp(prefix="depthlab-bench-study-"))
            try:
                copy_project(project, source)
                shutil.copy(source / "params.yaml", project / "params.yaml")
                subprocess.run(["git", "init", "-q"], cwd=project, check=True)
                print(
                    f"    {arm}: dvc repro of {source if source != ROOT else 'this checkout'}'s defaults",
                    file=sys.stderr,
                    flush=True,
                )
                lines = dvc(project, "repro", source_root=source)
                seeds = yaml.safe_load((source / "params.yaml").read_text())["train"]["seeds"]
                runs = sum(
                    len(json.loads(f.read_text())["runs"]) for f in (project / "data" / "models").rglob("runs.json")
                )
                results[arm] = {
                    "repro_s": lines[-1][0],
                    "seeds": len(seeds),
                    "runs": runs,
                    "stages": sum(line.startswith("Running stage") for _, line in lines),
                }
            finally:
                shutil.rmtree(project, ignore_errors=True)
    finally:
        shutil.rmtree(baseline, ignore_errors=True)
    return results


def report(study: dict[str, Any]) -> list[str]:
    if study["baseline"] is None:
        return [f"8. whole study: skipped, no git history of the baseline commit {BASELINE} here"]
    before, after = study["before"], study["after"]
    return [
        "8. dvc repro of the defaults from nothing, one after the other:",
        f"   before (commit {study['baseline']}): {before['seeds']} seeds, each its own run: {before['runs']} runs,"
        f" {before['stages']} stages, {before['repro_s']:.0f}s",
        f"   after (this code): {after['seeds']} seeds as one ensemble per depth: {after['runs']} runs,"
        f" {after['stages']} stages,"
        f" {after['repro_s']:.0f}s ({after['repro_s'] / before['repro_s']:.2f}x the time for"
        f" {after['runs'] / before['runs']:.1f}x the runs)",
    ]
