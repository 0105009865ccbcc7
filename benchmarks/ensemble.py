"""Target 6, ensembles: time per seed-step of ten seeds trained as one ensemble vs a plain loop training one; peak
memory. Each peak is measured in a fresh process (`python -m benchmarks.ensemble FAMILY SEEDS DATA`)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    TIMED_FAMILIES,
    PeakMemory,
    interleaved,
    median_interval,
    one_run,
    plain_loop,
    quiet,
    rss_mb,
    verdict,
    with_tracking,
    with_train,
)
from benchmarks.project import DATASET, ROOT
from depthlab.params import Params, load_params
from depthlab.training import ensemble_job, train_ensemble

# Ensemble per seed-step against a plain loop's step: the GRU only has to match it (its batched form is
# written from the gate equations, against torch's fused kernel).
ENSEMBLE_TARGETS = {"mlp": 0.5, "resmlp": 0.5, "cnn": 0.5, "gru": 1.0}  # of TIMED_FAMILIES
MEMORY_TARGET = 2.0
ENSEMBLE_SEEDS = list(range(10))


def run(params: Params, data_dir: Path, budget_s: float, repeats: int) -> list[dict[str, Any]]:
    """Target 6, per family at depth 2: the time per seed-step of depthlab's path training ten seeds as one
    ensemble (tracking and checkpointing on) against a plain PyTorch loop training one seed, with the same
    batch, fused Adam and thread count, in rounds; and the peak memory of the ensemble's process against
    one seed's.

    Each family runs as many steps as its plain loop takes `budget_s` for. A round's ratio drifts by a few
    percent with the machine, so each target gets the median of `repeats` rounds and its 95% interval.
    """
    threads, previous = 1, torch.get_num_threads()  # as a train stage's workers run here: one torch thread each
    torch.set_num_threads(threads)
    rows = []
    for family in TIMED_FAMILIES:
        probe = 30
        per_step = plain_loop(params, family, 2, data_dir, probe, fused=True) / probe
        steps = max(100, int(budget_s / per_step))
        ensemble = with_train(params, max_steps=steps, seeds=ENSEMBLE_SEEDS)
        rounds = interleaved(
            [
                lambda ensemble=ensemble, family=family, steps=steps: (
                    one_run(ensemble, family, 2, data_dir, threads)[1] / steps
                ),
                lambda ensemble=ensemble, family=family, steps=steps: (
                    plain_loop(ensemble, family, 2, data_dir, steps, fused=True) / steps
                ),
            ],
            repeats,
        )
        ratios = [r[0] / r[1] for r in rounds]
        memory = {seeds: peak_memory(family, seeds, data_dir) for seeds in (1, len(ENSEMBLE_SEEDS))}
        rows.append(
            {
                "family": family,
                "steps": steps,
                "ensemble_ms_per_seed_step": 1000 * statistics.median(r[0] for r in rounds),
                "plain_ms_per_step": 1000 * statistics.median(r[1] for r in rounds),
                "ratio": statistics.median(ratios),
                "ratio_interval": median_interval(ratios),
                "target": ENSEMBLE_TARGETS[family],
                "peak_mb": memory,
                "memory_ratio": memory[len(ENSEMBLE_SEEDS)]["peak_mb"] / memory[1]["peak_mb"],
            }
        )
    torch.set_num_threads(previous)
    return rows


def peak_memory(family: str, seeds: int, data_dir: Path) -> dict[str, float]:
    """Resident memory of a fresh process training `seeds` seeds of `family` at depth 2 as the train stage
    does, tracking off (MLflow's own memory does not depend on the seeds): before training, with imports
    and data loaded, and at its peak during training, sampled every 5 ms."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ensemble", family, str(seeds), str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_for_peak_memory(family: str, seeds: int, data_dir: Path) -> dict[str, float]:
    """Child of `peak_memory`."""
    params = with_tracking(
        with_train(load_params(ROOT / "params.yaml"), max_steps=200, seeds=list(range(seeds))), enabled=False
    )
    out = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    try:
        job, data = ensemble_job(params, DATASET, family, 2, data_dir, out)
        before = rss_mb()
        with PeakMemory() as peak:
            quiet(lambda: train_ensemble(job, data))
        return {"before_training_mb": before, "peak_mb": peak.mb}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def report(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"6. {len(ENSEMBLE_SEEDS)} seeds as one ensemble (depthlab's path, tracking + checkpoints on) vs a plain"
        " loop training one"
        " seed, depth 2, one torch thread (as a stage's workers), per seed-step (median ratio of rounds, its 95%"
        " interval);",
        "   peak memory of a process training them (tracking off), and how much of it training added:",
    ]
    for row in rows:
        low, high = row["ratio_interval"]
        one, many = row["peak_mb"][1], row["peak_mb"][len(ENSEMBLE_SEEDS)]
        lines.append(
            f"   {row['family']:<8} {row['steps']:>5} steps: ensemble {row['ensemble_ms_per_seed_step']:.3f}"
            " ms/seed-step, plain"
            f" {row['plain_ms_per_step']:.3f} ms/step, ratio {row['ratio']:.2f}x [{low:.2f}, {high:.2f}] (target"
            f" <= {row['target']}x)"
            f" {verdict(row['ratio'] <= row['target'])}; peak {many['peak_mb']:.0f} vs {one['peak_mb']:.0f} MB,"
            f" {row['memory_ratio']:.2f}x (target <= {MEMORY_TARGET}x)"
            f" {verdict(row['memory_ratio'] <= MEMORY_TARGET)};"
            f" added by training {many['peak_mb'] - many['before_training_mb']:.0f} vs"
            f" {one['peak_mb'] - one['before_training_mb']:.0f} MB"
        )
    return lines


if __name__ == "__main__":
    print(json.dumps(train_for_peak_memory(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))
