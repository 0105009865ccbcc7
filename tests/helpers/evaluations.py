"""The evaluate stage's summary.json files made by hand: a report over a rich study in seconds, no training.

The study is built so that every claim's rule has something to decide: accuracy that rises, peaks and
collapses with depth, a diverged seed, a tabular dataset where depth does not pay, training time that
grows with depth, and an lr grid with enough seeds to be judged. Each run's answers on the test examples are
written as the evaluate stage writes them (predictions.npz), sharing their dataset's example difficulty.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from depthlab.cell import Cell, largest
from depthlab.evaluation import prior_loss, representative_seed
from depthlab.params import Params
from depthlab.summary import CellResults, DepthResults, GridRun, SeedResult, Summary
from tests.helpers.params import NO_SWEEP, make_params

SEEDS = list(range(8))
SELECTION = [100, 101, 102, 103]  # the lr grid's seeds, apart from the reported ones
GRID = [0.001, 0.01]
DEPTHS = {"mlp": [0, 1, 2, 4], "resmlp": [0, 1, 4], "cnn": [0, 1, 2], "rbm": [0, 2]}
DATASETS = {"mlp": ["mnist1d", "breast_cancer"], "resmlp": ["mnist1d", "breast_cancer"], "cnn": ["mnist1d"]}
CHANCE = {"mnist1d": 0.1, "breast_cancer": 0.63}
TRAIN_SPLIT_ROWS = {"mnist1d": 4000, "breast_cancer": 150}  # breast_cancer smaller than a size of 200 rows
EXAMPLES = 200
CLASSES = {"mnist1d": 10, "breast_cancer": 2}


def _labels(dataset: str) -> np.ndarray:
    """Balanced classes for mnist1d; for breast_cancer, a majority class of CHANCE's share."""
    if dataset == "breast_cancer":
        return (np.arange(EXAMPLES) < round(CHANCE[dataset] * EXAMPLES)).astype(np.int16)
    return (np.arange(EXAMPLES) % CLASSES[dataset]).astype(np.int16)


def _predicted(dataset: str, accuracy: float | None, name: str) -> np.ndarray:
    """Right on the examples easiest for this run (their dataset's difficulty, a little varied by run), wrong
    (the next class) on the others; a diverged run predicts class 0 everywhere."""
    labels = _labels(dataset)
    if accuracy is None:
        return np.zeros(EXAMPLES, dtype=np.int16)
    difficulty = np.random.default_rng(len(dataset)).random(EXAMPLES)
    jitter = np.random.default_rng(zlib.crc32(f"{dataset}/{name}".encode())).random(EXAMPLES)
    right = np.argsort(difficulty + 0.2 * jitter)[: round(accuracy * EXAMPLES)]
    predicted = (labels + 1) % CLASSES[dataset]
    predicted[right] = labels[right]
    return predicted.astype(np.int16)


def study_params() -> Params:
    """Two datasets (a sequence and a table), four families, eight seeds, a grid of two lrs on four seeds of its
    own."""
    datasets = {**DATASETS, "rbm": ["breast_cancer"]}
    sweep = {family: {"datasets": datasets[family], "depths": depths} for family, depths in DEPTHS.items()}
    return make_params(
        data={"datasets": ["mnist1d", "breast_cancer"]},
        train={"seeds": SEEDS, "lr": GRID, "selection": {"seeds": SELECTION, "max_steps": 30}},
        sweep={**NO_SWEEP, **sweep},
    )


def _accuracy(dataset: str, family: str, depth: int, seed: int, lr: float, pays: float = 1.0) -> float | None:
    """Depth pays on mnist1d up to a family's peak (`pays` times as much), not on breast_cancer; deep plain
    mlps collapse on some seeds; one rbm seed diverges; the larger lr is a little worse everywhere."""
    if family == "rbm" and depth == 2 and seed == 3:
        return None
    if dataset == "breast_cancer":
        base = 0.93 + (0.01 if family == "resmlp" else 0.0) - 0.002 * depth
    else:
        peak = {"mlp": 2, "resmlp": 4, "cnn": 2}[family]
        rise = pays * 0.12 * min(depth, peak) - 0.05 * max(depth - peak, 0)
        base = 0.35 + rise + (0.1 if family == "cnn" else 0.0)
        if family == "mlp" and depth == 4 and seed % 3 == 0:
            return CHANCE[dataset]
    return base - (0.02 if lr == GRID[1] else 0.0) + 0.01 * np.sin(7 * seed + depth)


def _summary(dataset: str, family: str, depths: list[int], cells: list[Cell]) -> tuple[Summary, dict]:
    """One (family, dataset)'s summary.json and predictions, in every cell, in which depth pays on mnist1d only
    at the largest budget."""
    predictions = {"labels": _labels(dataset)}
    main = largest(cells)
    results, grids = [], []
    for cell in cells:
        pays = 1.0 if cell.steps == main.steps else 0.0
        points, grid = _cell(dataset, family, depths, cell, pays, predictions)
        results.append(CellResults(cell, points))
        grids += grid
    summary = Summary(
        dataset=dataset,
        family=family,
        train_split_rows=TRAIN_SPLIT_ROWS[dataset],
        chance=CHANCE[dataset],
        prior_loss=prior_loss(predictions["labels"]),
        predictions="predictions.npz",
        cells=results,
        grid=grids,
    )
    return summary, predictions


def _cell(
    dataset: str, family: str, depths: list[int], cell: Cell, pays: float, predictions: dict[str, np.ndarray]
) -> tuple[dict[int, DepthResults], list[GridRun]]:
    """One cell's depths and lr grid, its runs' answers added to `predictions`."""
    chosen = {depth: GRID[0] for depth in depths}
    seconds = {depth: 2.0 * (1 + depth) * (1.5 if family == "cnn" else 1.0) for depth in depths}
    prior = prior_loss(predictions["labels"])
    where = "" if cell.rows is None else f"-{cell.steps}steps-{cell.rows}rows"

    def accuracy_of(depth: int, seed: int, lr: float) -> float | None:
        return _accuracy(dataset, family, depth, seed, lr, pays)

    def diverged(depth: int, seed: int, lr: float) -> bool:
        return accuracy_of(depth, seed, lr) is None

    def run(depth: int, seed: int, lr: float, phase: str) -> dict[str, Any]:
        name = f"d{depth}{where}-lr{lr:g}-{phase}-seed-{seed}"
        predictions[name] = _predicted(dataset, accuracy_of(depth, seed, lr), f"{family}/{name}")
        accuracy = float((predictions[name] == predictions["labels"]).mean())
        time = seconds[depth] * (1 + 0.001 * seed)
        return {
            "test_accuracy": accuracy,
            "train_time_s": time,
            "train_samples_per_s": 3000 / time,
            "diverged": diverged(depth, seed, lr),
            "predictions": name,
        }

    def seed_result(depth: int, seed: int) -> SeedResult:
        result = run(depth, seed, chosen[depth], "final")
        collapsed = accuracy_of(depth, seed, chosen[depth]) in (None, CHANCE[dataset])
        return SeedResult(
            **result,
            train_loss=None if result["diverged"] else prior * (1.0 if collapsed else 0.4),
            test_loss=None if result["diverged"] else -math.log(max(result["test_accuracy"], 0.01)),
            test_macro_f1=None,  # the report does not read it
            throughput_samples_per_s=9000 / seconds[depth],
            latency_ms_per_sample=0.1 * (1 + depth),
            run_id=f"{dataset}-{family}-{depth}-{seed}",
        )

    points = {}
    for depth in depths:
        per_seed = {seed: seed_result(depth, seed) for seed in SEEDS}
        points[depth] = DepthResults(
            param_count=(100 + 40 * depth) * (3 if family == "resmlp" else 1) + len(family),
            lr=chosen[depth],
            representative_seed=representative_seed({seed: s.test_accuracy for seed, s in per_seed.items()}),
            per_seed=per_seed,
        )
    grid = [
        GridRun(
            depth=depth,
            lr=lr,
            seed=seed,
            steps=cell.steps,
            cell=cell,
            val_accuracy=accuracy_of(depth, seed, lr),
            selected=lr == chosen[depth],
            **run(depth, seed, lr, "grid"),
        )
        for depth in depths
        for lr in GRID
        for seed in SELECTION
    ]
    return points, grid


def write_evaluations(params: Params, out: Path) -> Path:
    """summary.json and predictions.npz per (family, dataset) of `params`'s study, where the report reads them."""
    for dataset, family, depths in params.study():
        folder = out / family / dataset
        folder.mkdir(parents=True, exist_ok=True)
        summary, predictions = _summary(dataset, family, depths, params.train.cells)
        summary.write(folder / "summary.json")
        np.savez_compressed(folder / summary.predictions, **predictions)
    return out
