"""Target 1, step overhead: depthlab's training path at one seed (tracking and checkpointing on) vs a plain
PyTorch loop."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import TIMED_FAMILIES, interleaved, one_run, plain_loop, verdict, with_train
from depthlab.params import Params

TARGET = 1.2


def run(params: Params, data_dir: Path, steps: int, repeats: int) -> list[dict[str, Any]]:
    """Target 1, per family at depth 2: depthlab's training loop at one seed vs two plain loops, in rounds.

    The ratio that counts is against a plain loop with the same fused Adam as depthlab: it isolates what
    depthlab adds to a step. The plain loop with torch's default Adam, as a loop is usually written by
    hand, is shown beside it. Slow families (a GRU step costs 20x an MLP step) run fewer steps: about as
    long as `steps` MLP steps.
    """
    threads = torch.get_num_threads()
    rows = []
    budget_s = plain_loop(params, "mlp", 2, data_dir, steps)
    for family in TIMED_FAMILIES:
        probe = 50
        per_step = plain_loop(params, family, 2, data_dir, probe) / probe
        family_steps = max(probe, min(steps, int(budget_s / per_step)))
        tracked = with_train(params, max_steps=family_steps, seeds=[0])
        rounds = interleaved(
            [
                lambda tracked=tracked, family=family: one_run(tracked, family, 2, data_dir, threads)[1],
                lambda tracked=tracked, family=family, steps=family_steps: plain_loop(
                    tracked, family, 2, data_dir, steps, fused=True
                ),
                lambda tracked=tracked, family=family, steps=family_steps: plain_loop(
                    tracked, family, 2, data_dir, steps
                ),
            ],
            repeats,
        )
        ms_per_step = [1000 * statistics.median(r[i] for r in rounds) / family_steps for i in range(3)]
        rows.append(
            {
                "family": family,
                "steps": family_steps,
                "depthlab_ms_per_step": ms_per_step[0],
                "plain_ms_per_step": ms_per_step[1],
                "plain_default_adam_ms_per_step": ms_per_step[2],
                "ratio": statistics.median(r[0] / r[1] for r in rounds),
                "ratio_to_default_adam": statistics.median(r[0] / r[2] for r in rounds),
            }
        )
    return rows


def report(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "1. training step at batch 100, one seed: depthlab (tracking + checkpoint on) vs a plain PyTorch loop with",
        "   the same fused Adam (the target), and vs a plain loop with torch's default Adam:",
    ]
    for row in rows:
        lines.append(
            f"   {row['family']:<8} {row['steps']:>5} steps: depthlab {row['depthlab_ms_per_step']:.3f}"
            f" ms/step, plain {row['plain_ms_per_step']:.3f},"
            f" ratio {row['ratio']:.2f}x (target <= {TARGET}x)"
            f" {verdict(row['ratio'] <= TARGET)};"
            f" default-Adam loop {row['plain_default_adam_ms_per_step']:.3f} ms/step, ratio"
            f" {row['ratio_to_default_adam']:.2f}x"
        )
    return lines
