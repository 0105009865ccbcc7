"""The MNIST-1D reference table (Greydanus & Kobak) beside our accuracies for the same architectures.

`presets/reference.yaml` sets the reference protocol: the frozen data (5000 samples, seed 42, 4000 train /
1000 test, no validation split carved out), Adam lr 1e-2, batch 100, batches in order, 6000 steps,
final-step test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from depthlab.params import Params


@dataclass(frozen=True)
class ReferenceModel:
    name: str
    family: str
    depth: int
    config: dict[str, Any]  # the family's params that make the reference architecture
    published: float  # test accuracy, %, from the MNIST-1D README
    expected_here: tuple[float, float]  # a plain-PyTorch re-run on a 2-core CPU; more than 2 points off is a bug


REFERENCE = (
    ReferenceModel("logistic", "mlp", 0, {}, 32, (32, 32)),
    ReferenceModel("MLP", "resmlp", 2, {"width": 100, "normalization": False}, 68, (62, 66)),
    ReferenceModel(
        "CNN", "cnn", 3, {"channels": 25, "first_kernel": 5, "kernel": 3, "stride": 2, "padding": 1}, 94, (94, 94)
    ),
    ReferenceModel("GRU", "gru", 1, {"hidden": 6, "bidirectional": True}, 91, (91, 91)),
)
PROTOCOL = {"lr": [0.01], "weight_decay": 0.0, "batch_size": 100, "max_steps": 6000, "shuffle": False}
DATA = {"num_samples": 5000, "generator_seed": 42, "train_split": 0.8}


def protocol_differences(params: Params) -> list[str]:
    """Where this run's protocol departs from the reference one (empty: it is the reference protocol)."""
    train = params.train.model_dump(exclude={"selection"})
    differences = [
        f"train.{key} is {train[key]}, reference {value}" for key, value in PROTOCOL.items() if train[key] != value
    ]
    generator = params.data.mnist1d.model_dump()
    differences += [
        f"data.mnist1d.{key} is {generator[key]}, reference {value}"
        for key, value in DATA.items()
        if generator[key] != value
    ]
    if params.data.val_fraction != 0:
        differences.append(
            f"data.val_fraction is {params.data.val_fraction}: fewer training samples than the reference's 4000"
        )
    return differences


def reference_table(params: Params, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per reference model the sweep trained on mnist1d with the reference architecture."""
    rows = []
    same_protocol = not protocol_differences(params)
    for model in REFERENCE:
        family_config = getattr(params.models, model.family).model_dump()
        if any(family_config[key] != value for key, value in model.config.items()):
            continue
        accuracies = runs[
            (runs.dataset == "mnist1d") & (runs.family == model.family) & (runs.depth == model.depth)
        ].test_accuracy
        if accuracies.empty:
            continue
        mean, std = 100 * accuracies.mean(), 100 * accuracies.std(ddof=1)
        low, high = model.expected_here
        rows.append(
            {
                "model": model.name,
                "ours": f"{mean:.1f} ± {std:.1f}",
                "seeds": len(accuracies),
                "published": model.published,
                "expected here": f"{low:g}" if low == high else f"{low:g}-{high:g}",
                "within 2 points of expected": (low - 2 <= mean <= high + 2)
                if same_protocol
                else "n/a: other protocol",
                "configuration": f"{model.family}-d{model.depth}",
            }
        )
    return pd.DataFrame(rows)
