"""Synthetic studies whose verdicts are known by construction: runs as the evaluate stage reports them."""

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
)


def study(accuracy, time=lambda depth: 1.0 + depth, seeds=10, families=("mlp", "cnn")) -> pd.DataFrame:
    """Runs of two families at depths 0, 1, 4 on a signal and a tabular dataset; `accuracy(dataset, family,
    depth[, seed])` gives each run's accuracy before a little noise."""
    noise = np.random.default_rng(0)
    rows = []
    for dataset in ("signal", "table"):
        for family in families:
            for depth in (0, 1, 4):
                for seed in range(seeds):
                    seconds = time(depth) * (1 + 0.01 * noise.standard_normal())
                    rows.append(
                        {
                            "dataset": dataset,
                            "family": family,
                            "depth": depth,
                            "seed": seed,
                            "param_count": 100 * (depth + 1) + (7 if family == "cnn" else 0),
                            "test_accuracy": float(
                                np.clip(
                                    _accuracy(accuracy, dataset, family, depth, seed) + 0.005 * noise.standard_normal(),
                                    0,
                                    1,
                                )
                            ),
                            "chance": 0.1,
                            "train_time_s": seconds,
                            "train_samples_per_s": 1000 / seconds,
                            "throughput_samples_per_s": 5000 / seconds,
                            "latency_ms_per_sample": 0.1,
                            "diverged": 0,
                        }
                    )
    return pd.DataFrame(rows)


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
