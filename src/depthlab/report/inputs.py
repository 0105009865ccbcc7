"""What the report reads: the evaluate stage's summaries as the claims' runs and lr grid, and the settings the
claims are judged with."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from depthlab import claims
from depthlab.errors import DataError
from depthlab.families import family_of
from depthlab.params import Params
from depthlab.summary import Summary

RUN_COLUMNS = [  # what the report reads of each seed's results
    "test_accuracy",
    "train_time_s",
    "train_samples_per_s",
    "throughput_samples_per_s",
    "latency_ms_per_sample",
    "diverged",
    "train_loss",
    "test_loss",
]


def load_runs(params: Params, evaluations: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the evaluate stage's summary.json files: the reported runs, one row per (dataset, family, depth,
    cell, seed) at the configuration's chosen lr; and the lr grid's runs, one row per (dataset, family, depth,
    cell, lr, seed), empty where the grid has one lr. Each run's `correct` holds its right or wrong answer on
    every test example (from predictions.npz), what the report resamples besides seeds. A run's `cell` is its
    budget and training rows (a `Cell`): one unless they are axes."""
    rows, grid = [], []
    for dataset, family, _ in params.study():
        folder = evaluations / family / dataset
        summary = Summary.read(folder / "summary.json")
        correct = _answers(folder / summary.predictions)
        counts = {}
        for cell in summary.cells:
            for depth, point in cell.depths.items():
                counts[depth] = point.param_count
                for seed, values in point.per_seed.items():
                    rows.append(
                        {
                            "dataset": dataset,
                            "family": family,
                            "depth": depth,
                            "cell": cell.cell,
                            "seed": seed,
                            "lr": point.lr,
                            "param_count": point.param_count,
                            "chance": summary.chance,
                            "prior_loss": summary.prior_loss,
                            "train_split_rows": summary.train_split_rows,
                            **{key: getattr(values, key) for key in RUN_COLUMNS},
                            "run_id": values.run_id,
                            "representative": seed == point.representative_seed,
                            "correct": correct[values.predictions],
                        }
                    )
        for run in summary.grid:
            grid.append(
                {
                    "dataset": dataset,
                    "family": family,
                    "param_count": counts[run.depth],
                    "chance": summary.chance,
                    "throughput_samples_per_s": np.nan,  # grid runs are not timed
                    "latency_ms_per_sample": np.nan,
                    **vars(run),
                    "correct": correct[run.predictions],
                }
            )
    runs = pd.DataFrame(rows)
    losses = ["test_accuracy", "train_loss", "test_loss"]
    runs[losses] = runs[losses].astype(float)
    return runs, pd.DataFrame(grid)


def _answers(path: Path) -> dict[str, np.ndarray]:
    """Per run (as its `predictions` entry names it), whether it classified each test example right."""
    try:
        with np.load(path) as predictions:
            labels = predictions["labels"]
            return {name: predictions[name] == labels for name in predictions.files if name != "labels"}
    except FileNotFoundError:
        raise DataError(f"{path}: file is missing; run the evaluate stage (dvc repro)") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not readable predictions ({type(err).__name__}: {err})") from None


def settings(params: Params, machine: str) -> claims.Settings:
    return claims.Settings(
        confidence=params.report.confidence,
        collapse_margin=params.report.collapse_margin,
        resamples=params.report.resamples,
        agreement=params.report.verdict_agreement,
        deep_from=params.report.deep_from,
        kinds={d: params.data.kind(d) for d in params.data.datasets},
        hardware_summary=machine,
        types={name: family_of(params.models, name).article_type for name in params.families},
    )
