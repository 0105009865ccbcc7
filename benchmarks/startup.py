"""Target 7, stage start-up: each stage kind on a negligible workload, this code vs the baseline commit's."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import verdict
from benchmarks.project import BASELINE, DATASET, ROOT, baseline_tree, dvc, tiny_project

TARGET = 0.5
STAGE_KINDS = ("export-csv", "prepare", "validate", "train", "evaluate", "report")


def stage_name(kind: str, arm: str) -> str:
    """The stage of `kind` for mlp on the benchmark's dataset: one train/evaluate stage per family now, one per
    (family, dataset) at the baseline."""
    if kind in ("prepare", "validate"):
        return f"{kind}@{DATASET}"
    if kind in ("train", "evaluate"):
        return f"{kind}@mlp" if arm == "after" else f"{kind}-mlp@{DATASET}"
    return kind


def stage_seconds(lines: list[tuple[float, str]]) -> tuple[float, float]:
    """From `dvc repro` output of one stage: seconds from DVC starting the stage ("Running stage") to the
    stage's first line of its own, and to the end of the stage (DVC's next line after the command's)."""
    started = next(t for t, line in lines if line.startswith("Running stage"))
    command = next(i for i, (_, line) in enumerate(lines) if line.startswith("> "))
    own = [(t, line) for t, line in lines[command + 1 :] if line]
    ended = next((t for t, line in own if line.startswith(("Updating lock file", "Use `dvc push`"))), lines[-1][0])
    return own[0][0] - started, ended - started


def run(repeats: int) -> dict[str, Any]:
    """Target 7: each stage kind run by `dvc repro --force --single-item` on a negligible workload (20 steps,
    1000 samples, one seed), here and at the baseline commit, alternating, `repeats` times.

    What counts is a stage's whole time there, from DVC starting it to its end: with nothing to do, that is
    its fixed cost. The time to its first line is shown too: this code's stages print one as their work
    starts, once they have imported what they use; the baseline's printed theirs only when done.
    """
    baseline = baseline_tree()
    if baseline is None:
        return {"baseline": None}
    projects = {"after": (tiny_project(), ROOT), "before": (tiny_project(baseline), baseline)}
    try:
        for project, source in projects.values():
            dvc(project, "repro", source_root=source)
        times: dict[str, dict[str, list[tuple[float, float]]]] = {arm: {k: [] for k in STAGE_KINDS} for arm in projects}
        for repeat in range(repeats):
            for arm in list(projects) if repeat % 2 == 0 else list(reversed(projects)):
                project, source = projects[arm]
                for kind in STAGE_KINDS:
                    lines = dvc(project, "repro", "--force", "--single-item", stage_name(kind, arm), source_root=source)
                    times[arm][kind].append(stage_seconds(lines))
        per_stage = {
            stage: {
                arm: {
                    "first_line_s": statistics.median(first for first, _ in times[arm][stage]),
                    "total_s": statistics.median(total for _, total in times[arm][stage]),
                }
                for arm in projects
            }
            for stage in STAGE_KINDS
        }
        counts = {arm: default_stage_counts(source, per_family=arm == "after") for arm, (_, source) in projects.items()}
        return {"baseline": BASELINE, "repeats": repeats, "stages": per_stage, "counts": counts}
    finally:
        for project, _ in projects.values():
            shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(baseline, ignore_errors=True)


def default_stage_counts(source_root: Path, per_family: bool) -> dict[str, int]:
    """How many stages of each kind `dvc repro` runs on the defaults of `source_root`'s params.yaml: a train and
    an evaluate stage per family, or (`per_family` false, the baseline) per trained (family, dataset)."""
    raw = yaml.safe_load((source_root / "params.yaml").read_text())
    datasets, sweep = raw["data"]["datasets"], raw["sweep"]
    trained = len(sweep) if per_family else sum(len(s["datasets"]) for s in sweep.values() if s["depths"])
    return {
        "export-csv": 1,
        "prepare": len(datasets),
        "validate": len(datasets),
        "train": trained,
        "evaluate": trained,
        "report": 1,
    }


def report(startup: dict[str, Any]) -> list[str]:
    if startup["baseline"] is None:
        return [f"7. stage start-up: skipped, no git history of the baseline commit {BASELINE} here"]
    lines = [
        f"7. fixed cost per stage kind: from DVC starting the stage to its end, on a negligible workload (median of"
        f" {startup['repeats']}); before = commit {startup['baseline']}, after = this code; first line = to the"
        " stage's first output:"
    ]
    counts, before_sum, after_sum = startup["counts"], 0.0, 0.0
    for stage, arms in startup["stages"].items():
        before, after = arms["before"]["total_s"], arms["after"]["total_s"]
        before_sum += counts["before"][stage] * before
        after_sum += counts["after"][stage] * after
        lines.append(
            f"   {stage:<22} before {before:5.2f}s, after {after:5.2f}s: {after / before:.2f}x (target <="
            f" {TARGET}x)"
            f" {verdict(after / before <= TARGET)}; after's first line at"
            f" {arms['after']['first_line_s']:.2f}s"
        )
    lines.append(
        f"   the default pipelines' stages together ({sum(counts['before'].values())} before, "
        f"{sum(counts['after'].values())} after): before {before_sum:.0f}s, after {after_sum:.0f}s,"
        f" {after_sum / before_sum:.2f}x (target <= {TARGET}x) "
        f" {verdict(after_sum / before_sum <= TARGET)}"
    )
    return lines
