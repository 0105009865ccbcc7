"""A family's train stage: every configuration, (dataset, depth) pair, trained over every configured seed at
the learning rate its validation accuracy chose, its outputs written all-or-nothing.

The stage reads each dataset once, makes its plan once (`Plan`), and hands it to the scheduler with an
executor (`scheduling`); what the plan trained also decides which files the cache keeps.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np

from depthlab import tracking
from depthlab.data import LABEL, Meta, load_arrays, load_meta
from depthlab.errors import ParamsError
from depthlab.outputs import staged_dir
from depthlab.params import Params
from depthlab.records import FINAL, TrainedRuns, TrainedSeed
from depthlab.training.cache import FinishedMembers
from depthlab.training.ensemble_run import check_user_module
from depthlab.training.jobs import EnsembleJob, StudyData, code_digest
from depthlab.training.plan import Plan, mark_selection
from depthlab.training.pool import in_child_process
from depthlab.training.residence import host_limit_bytes
from depthlab.training.scheduling import executor_for, train_configurations


def train_family(
    params: Params,
    family: str,
    data_dirs: dict[str, Path],
    out_dir: Path,
    cache_dir: Path | None = None,
    arrays_dir: Path | None = None,
) -> dict[str, list[TrainedSeed]]:
    """Train every configuration of `family` in the sweep, on every dataset of `data_dirs`: first the lr grid
    on the selection seeds (where the grid has more than one lr), then every seed at the lr each
    configuration chose. Writes checkpoints and one runs.json per dataset to `out_dir` all-or-nothing. With
    `cache_dir`, members finished by an earlier run are reused and interrupted ensembles continue;
    afterwards it keeps what this run used and nothing else. With `arrays_dir`, a study's data too large for
    the host's memory is memory-mapped from copies kept there (`load_study_data`)."""
    depths = {dataset: params.depths(dataset, family) for dataset in data_dirs}
    previous = {run.run_id for runs in out_dir.glob("*/runs.json") for run in TrainedRuns.read(runs).runs}
    with staged_dir(out_dir) as staging:
        data = {
            dataset: load_study_data(params, dataset, data_dirs[dataset], arrays_dir)
            for dataset in data_dirs
            if depths[dataset]
        }
        check_user_module(params, family, depths, data)  # before anything is tracked or trained
        if params.tracking.enabled:
            tracking.import_store_modules()  # once here, not once in each process forked below
            for dataset in data:
                # Orphaned runs closed, the experiment (and a fresh database's tables) created before writers start.
                in_child_process(tracking.prepare_experiment, dataset)
        _check_sizes(params, data)
        digests = {dataset: study.meta.digest for dataset, study in data.items()}
        plan = Plan(params, family, digests, staging, code_digest(params.models, family), cache_dir)
        trained = train_configurations(plan, executor_for(params, data, plan.job_count))
        runs = mark_selection(trained.runs, trained.chosen)
        if params.tracking.enabled:
            # The runs this stage's outputs replace are no longer reported, whatever they were.
            superseded = previous - {s.run_id for _, s in runs}
            tracking.tag_finished_runs(
                {
                    **{run_id: {"reported": "false", "superseded": "true"} for run_id in superseded},
                    **{
                        s.run_id: {"selected": str(s.selected).lower(), "reported": str(s.reported).lower()}
                        for _, s in runs
                    },
                }
            )
        by_dataset: dict[str, list[TrainedSeed]] = {}
        for dataset, seed in runs:
            by_dataset.setdefault(dataset, []).append(seed)
        for dataset, seeds in by_dataset.items():
            seeds.sort(key=lambda t: (t.depth, t.cell.order, t.phase != FINAL, t.lr, t.seed))
            TrainedRuns(dataset, family, params.data.split_seeds, seeds).write(staging / dataset / "runs.json")
    if cache_dir:
        _prune(cache_dir, trained.jobs)
    return by_dataset


def _check_sizes(params: Params, data: dict[str, StudyData]) -> None:
    """Refuse, before anything trains, a training-set size larger than a dataset's training split, unless
    `train.larger_than_split` asks for the whole split there (`StudyData.with_train_rows`)."""
    largest = max((rows for rows in params.train.sizes if rows is not None), default=None)
    if params.train.larger_than_split == "whole_split":
        return
    for dataset, study in data.items():
        available = len(study.train_xy[1])
        if largest is not None and largest > available:
            raise ParamsError(
                f"train.train_rows: {largest} rows asked of {dataset}, whose training split holds {available} "
                "(data.val_fraction and the test split take the rest); ask for fewer, make more data "
                "(MNIST-1D: data.mnist1d.num_samples), or set train.larger_than_split: whole_split"
            )


def load_study_data(params: Params, dataset: str, data_dir: Path, arrays_dir: Path | None = None) -> StudyData:
    """A dataset's training and validation splits as arrays, and their MLflow description.

    Read into memory where they fit the host's memory (`residence.host_limit_bytes`); otherwise, with
    `arrays_dir`, memory-mapped from .npy copies there, written once per prepared data (its digest) and reused by
    every train stage, so that a study's data need not fit in memory (each batch is then read from the page
    cache or the disk: streamed)."""
    meta = load_meta(data_dir)
    splits = ("train", "val") if meta.rows.get("val", 0) else ("train",)
    row_bytes = 4 * math.prod(meta.sample_shape) + 8  # float32 features, int64 label
    needed = row_bytes * sum(meta.rows.get(split, 0) for split in ("train", "val"))
    limit = host_limit_bytes(params.runtime.device_data_mb, params.train.accelerator)
    mapped = _mapped_folder(arrays_dir, meta) if arrays_dir is not None and needed > limit else None
    arrays = {split: _split_arrays(data_dir, split, meta, mapped) for split in ("train", "val")}
    inputs = []
    if params.tracking.enabled:
        import pandas as pd

        contexts = {"train": "training", "val": "validation"}
        described = {}
        for split in splits:
            x, y = arrays[split]
            head = pd.DataFrame(x[:1].reshape(1, -1), columns=meta.features).assign(**{LABEL: y[:1]})
            described[split] = (head, len(y), data_dir / f"{split}.parquet", contexts[split])
        inputs = tracking.describe_datasets(described, meta.name, meta.digest, meta.dataset_notes)
    return StudyData(meta, arrays["train"], arrays["val"], inputs)


def _mapped_folder(arrays_dir: Path, meta: Meta) -> Path:
    """Where the dataset's memory-mapped arrays are kept: one folder per prepared data, those of the dataset's
    earlier data deleted (a stage trains on the current data only)."""
    folder = arrays_dir / f"{meta.name}-{meta.digest[:16]}"
    for old in arrays_dir.glob(f"{meta.name}-*"):
        if old != folder and old.name.rpartition("-")[0] == meta.name:
            shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _split_arrays(data_dir: Path, split: str, meta: Meta, mapped: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """One split's arrays: in memory, or memory-mapped from `mapped`, written there first if not yet."""
    if mapped is None:
        return load_arrays(data_dir, split, meta)
    x_file, y_file = mapped / f"{split}-x.npy", mapped / f"{split}-y.npy"
    if x_file.exists() and y_file.exists():
        return np.load(x_file, mmap_mode="c"), np.load(y_file)
    x, y = load_arrays(data_dir, split, meta, into=x_file)
    partial = y_file.with_name(f"{y_file.name}.{os.getpid()}.partial")
    with partial.open("wb") as out:
        np.save(out, y)
    os.replace(partial, y_file)  # last: the pair counts as written once both files are
    return x, y


def ensemble_job(
    params: Params, dataset: str, family: str, depth: int, data_dir: Path, out_dir: Path
) -> tuple[EnsembleJob, StudyData]:
    """One configuration's ensemble of every seed at the grid's first lr, as a train stage makes its final
    ones, and its data (for benchmarks, which time one ensemble)."""
    data = load_study_data(params, dataset, data_dir)
    cell = params.train.main_cell
    job = EnsembleJob(
        params=params,
        dataset=dataset,
        family=family,
        depth=depth,
        members=tuple((seed, params.train.grid[0]) for seed in params.train.seeds),
        max_steps=cell.steps,
        cell=cell,
        phase=FINAL,
        data_digest=data.meta.digest,
        out_dir=out_dir,
        code=code_digest(params.models, family),
    )
    return job, data


def _prune(cache_dir: Path, jobs: list[EnsembleJob]) -> None:
    """Delete every cached file but the resumable states and finished members of `jobs`."""
    keep = {cache_dir / job.state_name for job in jobs}
    keep.update(path for job in jobs for path in FinishedMembers(cache_dir, job).files())
    for path in cache_dir.glob("*"):
        if path.is_file() and path not in keep:
            path.unlink()
