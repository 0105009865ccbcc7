"""Test-set quality and speed of every trained seed of one (family, depth), written as DVC metrics and to MLflow."""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import tracking
from depthlab.cell import Cell, ascending
from depthlab.data import Meta, load_arrays, load_meta
from depthlab.errors import DataError
from depthlab.families import build_network
from depthlab.outputs import staged_dir, write_json
from depthlab.params import Params
from depthlab.records import GRID, TrainedRuns, TrainedSeed, finite_or_none
from depthlab.summary import CellResults, DepthResults, GridRun, SeedResult, Summary

QUALITY = ("test_accuracy", "test_loss", "test_macro_f1")
HEADLINE = (*QUALITY, "latency_ms_per_sample", "throughput_samples_per_s")
PREDICTIONS = "predictions.npz"


def load_trained(params: Params, family: str, depth: int, meta: Meta, checkpoint: Path) -> nn.Module:
    """Rebuild the network and load its weights; `weights_only=True` never unpickles arbitrary objects."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    except FileNotFoundError:
        raise DataError(f"{checkpoint}: checkpoint is missing; re-run the train stage") from None
    except Exception as err:  # torch raises several types for a damaged or foreign file
        raise DataError(f"{checkpoint}: not a loadable checkpoint ({type(err).__name__}: {err})") from None
    net = build_network(params.models, family, depth, meta.shape)
    net.load_state_dict(state)
    return net.eval()


def measure(net: nn.Module, x: np.ndarray, y: np.ndarray, latency_samples: int) -> dict[str, Any]:
    """Quality on the whole test set, and the class `predicted` for each test example; with `latency_samples`,
    single-sample latency and batched throughput too (NaN without), on the CPU."""
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    latency_s = throughput = math.nan
    with torch.inference_mode():
        logits = net(inputs)
        loss = F.cross_entropy(logits, targets).item()
        predicted = logits.argmax(dim=-1).numpy()
        if latency_samples:
            latencies = []
            for i in range(min(latency_samples, len(x))):
                started = time.perf_counter()
                net(inputs[i : i + 1])
                latencies.append(time.perf_counter() - started)
            passes = []
            for _ in range(5):
                started = time.perf_counter()
                net(inputs)
                passes.append(time.perf_counter() - started)
            latency_s, throughput = statistics.median(latencies), len(x) / statistics.median(passes)
    confusion = confusion_matrix(y, predicted, logits.shape[1])
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "predicted": predicted,
        "test_accuracy": float((predicted == y).mean()),
        "test_loss": loss,
        "test_macro_f1": macro_f1(confusion),
        "latency_ms_per_sample": 1000 * latency_s,
        "throughput_samples_per_s": throughput,
        "per_class_accuracy": [float(a) for a in per_class],
        "confusion_matrix": confusion.tolist(),
    }


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts of (true class, predicted class), as scikit-learn's `confusion_matrix` with every class as a label.
    Not scikit-learn's own: importing `sklearn.metrics` costs an evaluate stage about a second, for one count."""
    return np.bincount(y * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def macro_f1(confusion: np.ndarray) -> float:
    """The mean over classes of F1 = 2 TP / (2 TP + FP + FN), 0 for a class never true nor predicted: scikit-learn's
    `f1_score(average="macro", zero_division=0)` over every class (tests compare the two)."""
    hits = confusion.diagonal()
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    return float(np.mean(np.divide(2 * hits, denominator, out=np.zeros(len(hits)), where=denominator > 0)))


def evaluate_family(
    params: Params, family: str, data_dirs: dict[str, Path], models_dir: Path, metrics_dir: Path, details_dir: Path
) -> dict[str, Summary]:
    """Evaluate every trained run of `family` on each dataset's test split and add its test metrics to its
    training run. Writes, all or nothing, the details (`details_dir/<dataset>/`: one file per run, and
    summary.json with every per-seed value the report reads) and the DVC metrics (`metrics_dir/<dataset>.json`:
    one headline per depth, the mean test accuracy in percent, so that `dvc metrics show` stays one short
    row per (family, dataset)). Runs the report uses are timed too; the
    other runs of the lr grid get their quality only."""
    summaries = {}
    with staged_dir(details_dir) as staging, staged_dir(metrics_dir) as metrics_staging:
        for dataset, data_dir in data_dirs.items():
            summary = _evaluate_dataset(params, dataset, family, data_dir, models_dir / dataset, staging / dataset)
            summary.write(staging / dataset / "summary.json")
            write_json(metrics_staging / f"{dataset}.json", headline(summary.at(params.train.main_cell)))
            summaries[dataset] = summary
    return summaries


def _evaluate_dataset(
    params: Params, dataset: str, family: str, data_dir: Path, models_dir: Path, details_dir: Path
) -> Summary:
    meta = load_meta(data_dir)
    x, y = load_arrays(data_dir, "test", meta)
    trained = TrainedRuns.read(models_dir / "runs.json")
    reported: dict[Cell, dict[int, list[TrainedSeed]]] = {}  # per cell, per depth: the reported runs
    results: dict[str, SeedResult] = {}  # per reported run id
    class_results: dict[str, dict[str, Any]] = {}  # per reported run id: its per-class results
    grid: list[GridRun] = []
    details_dir.mkdir(parents=True)
    predictions = {"labels": y}
    for run in trained.runs:
        net = load_trained(params, family, run.depth, meta, models_dir / run.checkpoint)
        result = measure(net, x, y, params.evaluate.latency_samples if run.reported else 0)
        name = Path(run.checkpoint).with_suffix("").as_posix().replace("/", "-")
        predictions[name] = result.pop("predicted").astype(np.int16)
        headline_keys = HEADLINE if run.reported else QUALITY
        tracking.log_to_finished_run(
            run.run_id,
            {k: result[k] for k in headline_keys},
            {"evaluation/test.json": {**result, "classes": meta.classes}},
        )
        write_json(details_dir / f"{name}.json", {**result, "classes": meta.classes})
        if run.phase == GRID:
            grid.append(
                GridRun(
                    depth=run.depth,
                    lr=run.lr,
                    seed=run.seed,
                    steps=run.steps,
                    cell=run.cell,
                    val_accuracy=run.val_accuracy,
                    test_accuracy=finite_or_none(result["test_accuracy"]),
                    selected=run.selected,
                    diverged=run.diverged,
                    predictions=name,
                    train_time_s=run.train_time_s,
                    train_samples_per_s=_samples_per_s(params, run),
                )
            )
        if not run.reported:
            continue
        reported.setdefault(run.cell, {}).setdefault(run.depth, []).append(run)
        class_results[run.run_id] = result
        results[run.run_id] = SeedResult(
            **{k: finite_or_none(result[k]) for k in HEADLINE},
            train_time_s=run.train_time_s,
            train_samples_per_s=_samples_per_s(params, run),
            train_loss=run.train_loss,
            diverged=run.diverged,
            run_id=run.run_id,
            predictions=name,
        )
    # Every run's class for every test example (int16, compressed: kilobytes), so the report can resample test
    # examples as well as seeds; keyed as the runs' `predictions` entries name them.
    np.savez_compressed(details_dir / PREDICTIONS, **predictions)
    cells = []
    for cell in ascending(reported):
        depths = {}
        for depth, runs in sorted(reported[cell].items()):
            per_seed = {run.seed: results[run.run_id] for run in runs}
            seed = representative_seed({seed: result.test_accuracy for seed, result in per_seed.items()})
            depths[depth] = DepthResults(runs[0].param_count, runs[0].lr, seed, per_seed)
            tracking.tag_finished_runs(
                {result.run_id: {"representative": str(s == seed).lower()} for s, result in per_seed.items()}
            )
            at = f" at {cell.label}" if len(reported) > 1 else ""
            _log_class_results(
                per_seed[seed].run_id,
                class_results[per_seed[seed].run_id],
                meta.classes,
                f"{tracking.run_name(family, depth, seed)} on {dataset}{at}",
            )
        cells.append(CellResults(cell, depths))
    return Summary(
        dataset=dataset,
        family=family,
        train_split_rows=meta.rows["train"],
        chance=float(np.bincount(y).max() / len(y)),
        prior_loss=prior_loss(y),
        predictions=PREDICTIONS,
        cells=cells,
        grid=grid,
    )


def prior_loss(labels: np.ndarray) -> float:
    """The cross-entropy of always predicting the class shares: the loss a network that learned nothing from
    its inputs can reach, against which a seed's training loss shows whether it ever left its start."""
    shares = np.bincount(labels) / len(labels)
    shares = shares[shares > 0]
    return float(-(shares * np.log(shares)).sum())


def representative_seed(accuracies: dict[int, float | None]) -> int:
    """Of seeds and their test accuracies (None: diverged), the seed of median accuracy (the lower of the two
    middle ones for an even count; ties go to the lower seed; a diverged seed counts lowest): the one run that
    stands for its configuration, in the registry and with per-class results."""
    ranked = sorted(accuracies, key=lambda seed: (accuracies[seed] or -math.inf, seed))
    return ranked[(len(ranked) - 1) // 2]


def _log_class_results(run_id: str, result: dict[str, Any], classes: list[str], configuration: str) -> None:
    """Per-class accuracy as a table and the confusion matrix as a figure, on the configuration's representative
    run only: logging a figure and a table to every one of a default run's thousand runs would cost more than
    evaluating them (docs/performance.md; every run has both in evaluation/test.json)."""
    from depthlab.confusion import confusion_figure

    confusion = np.array(result["confusion_matrix"])
    table = pd.DataFrame(
        {
            "class": [str(c) for c in classes],
            "accuracy": result["per_class_accuracy"],
            "test_samples": confusion.sum(axis=1),
        }
    )
    figure = confusion_figure(confusion, classes, f"{configuration}: test confusion matrix")
    tracking.log_class_results(run_id, table, figure)


def _samples_per_s(params: Params, run: TrainedSeed) -> float:
    return run.steps * params.train.batch_size / max(run.train_time_s, 1e-9)


def headline(results: CellResults) -> dict[str, float | int | None]:
    """Per depth of the main cell (`TrainParams.main_cell`), keyed by the depth in two digits (`04`): the mean
    test accuracy in percent over the seeds. Only the means, so that `dvc metrics show` stays one short row per
    (family, dataset) within 80 columns: its table pads every column to its header plus two, so a two-character
    key costs a column of four, the width of `92.5`, and a perfect score is written `100`, not `100.0`, the one
    value that needs five. Two digits, because DVC sorts its columns by name (16 would come before 2). The
    intervals are in the report and in DVC's plot data (reports/accuracy_by_depth.csv)."""
    return {f"{depth:02d}": _percent(point.mean("test_accuracy")) for depth, point in results.depths.items()}


def _percent(accuracy: float | None) -> float | int | None:
    if accuracy is None:
        return None
    percent = round(100 * accuracy, 1)
    return 100 if percent == 100 else percent
