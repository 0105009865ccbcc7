"""Synthetic studies whose verdicts are known by construction: runs as the evaluate stage reports them, each
with its right or wrong answer on every test example."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab import claims

SETTINGS = claims.Settings(
    confidence=0.95,
    collapse_margin=0.05,
    deep_from=3,
    kinds={"signal": "sequence", "table": "tabular"},
    hardware_summary="this machine",
    resamples=200,
)
EXAMPLES = 300  # test examples per dataset


def study(accuracy, time=lambda depth: 1.0 + depth, seeds=10, families=("mlp", "cnn")) -> pd.DataFrame:
    """Runs of two families at depths 0, 1, 4 on a signal and a tabular dataset; `accuracy(dataset, family,
    depth[, seed])` gives each run's accuracy before a little noise. A run's answers share their dataset's
    example difficulty (an easy example is right in most runs, as with real models) and vary a little by run."""
    noise = np.random.default_rng(0)
    rows = []
    for dataset in ("signal", "table"):
        difficulty = noise.random(EXAMPLES)
        for family in families:
            for depth in (0, 1, 4):
                for seed in range(seeds):
                    seconds = time(depth) * (1 + 0.01 * noise.standard_normal())
                    target = _accuracy(accuracy, dataset, family, depth, seed) + 0.005 * noise.standard_normal()
                    correct = answers(difficulty, float(np.clip(target, 0, 1)), noise)
                    rows.append(
                        {
                            "dataset": dataset,
                            "family": family,
                            "depth": depth,
                            "seed": seed,
                            "param_count": 100 * (depth + 1) + (7 if family == "cnn" else 0),
                            "test_accuracy": float(correct.mean()),
                            "correct": correct,
                            "chance": 0.1,
                            "train_time_s": seconds,
                            "train_samples_per_s": 1000 / seconds,
                            "throughput_samples_per_s": 5000 / seconds,
                            "latency_ms_per_sample": 0.1,
                            "diverged": 0,
                        }
                    )
    return pd.DataFrame(rows)


def answers(difficulty: np.ndarray, accuracy: float, noise: np.random.Generator) -> np.ndarray:
    """Right on the round(accuracy x examples) examples that are easiest for this run."""
    order = np.argsort(difficulty + 0.2 * noise.random(len(difficulty)))
    correct = np.zeros(len(difficulty), dtype=bool)
    correct[order[: round(accuracy * len(difficulty))]] = True
    return correct


def _accuracy(accuracy, dataset, family, depth, seed):
    try:
        return accuracy(dataset, family, depth, seed)
    except TypeError:
        return accuracy(dataset, family, depth)


def deep_helps_signals_only(dataset, family, depth):
    return 0.3 + 0.15 * depth if dataset == "signal" else 0.9


def bimodal_plain(dataset, family, depth, seed):
    """Deep plain networks collapse to chance on 7 of 10 seeds; residual ones train."""
    if family == "mlp" and depth == 4 and seed < 7:
        return 0.1
    return 0.9
