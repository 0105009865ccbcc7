"""A family's train stage: every configuration, (dataset, depth) pair, trained over every configured seed at
the learning rate its validation accuracy chose, its outputs written all-or-nothing.

The stage reads each dataset once, makes its plan once (`Plan`), and hands it to the scheduler with an
executor (`scheduling`); what the plan trained also decides which files the cache keeps.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from depthlab import tracking
from depthlab.data import load_frame, load_meta, to_arrays
from depthlab.outputs import read_json, staged_dir, write_json
from depthlab.params import Params
from depthlab.training.cache import FinishedMembers
from depthlab.training.jobs import FINAL, EnsembleJob, StudyData, TrainedSeed, code_digest
from depthlab.training.plan import Plan, mark_selection
from depthlab.training.pool import in_child_process
from depthlab.training.scheduling import executor_for, train_configurations


def train_family(
    params: Params, family: str, data_dirs: dict[str, Path], out_dir: Path, cache_dir: Path | None = None
) -> dict[str, list[TrainedSeed]]:
    """Train every configuration of `family` in the sweep, on every dataset of `data_dirs`: first the lr grid
    on the selection seeds (where the grid has more than one lr), then every seed at the lr each
    configuration chose. Writes checkpoints and one runs.json per dataset to `out_dir` all-or-nothing. With
    `cache_dir`, members finished by an earlier run are reused and interrupted ensembles continue;
    afterwards it keeps what this run used and nothing else."""
    depths = {dataset: params.depths(dataset, family) for dataset in data_dirs}
    previous = {run["run_id"] for runs in out_dir.glob("*/runs.json") for run in read_json(runs)["runs"]}
    with staged_dir(out_dir) as staging:
        data = {
            dataset: load_study_data(params, dataset, data_dirs[dataset]) for dataset in data_dirs if depths[dataset]
        }
        if params.tracking.enabled:
            tracking.import_store_modules()  # once here, not once in each process forked below
            for dataset in data:
                # Orphaned runs closed, the experiment (and a fresh database's tables) created before writers start.
                in_child_process(tracking.prepare_experiment, dataset)
        digests = {dataset: study.meta.digest for dataset, study in data.items()}
        plan = Plan(params, family, digests, staging, code_digest(family), cache_dir)
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
            seeds.sort(key=lambda t: (t.depth, t.phase != FINAL, t.lr, t.seed))
            write_json(
                staging / dataset / "runs.json",
                {
                    "dataset": dataset,
                    "family": family,
                    "lr_grid": params.train.grid,
                    "split_seeds": params.data.split_seeds,  # each seed its own train/validation split
                    "chosen_lr": {str(depth): trained.chosen[dataset, depth] for depth in depths[dataset]},
                    "runs": [asdict(t) for t in seeds],
                },
            )
    if cache_dir:
        _prune(cache_dir, trained.jobs)
    return by_dataset


def load_study_data(params: Params, dataset: str, data_dir: Path) -> StudyData:
    meta = load_meta(data_dir)
    splits = ("train", "val") if meta.rows.get("val", 0) else ("train",)
    frames = {split: load_frame(data_dir, split) for split in ("train", "val")}
    inputs = []
    if params.tracking.enabled:
        contexts = {"train": "training", "val": "validation"}
        inputs = tracking.describe_datasets(
            {split: (frames[split], data_dir / f"{split}.parquet", contexts[split]) for split in splits},
            meta.name,
            meta.digest,
            meta.dataset_notes,
        )
    return StudyData(meta, *(to_arrays(frames[split], meta) for split in ("train", "val")), inputs)


def ensemble_job(
    params: Params, dataset: str, family: str, depth: int, data_dir: Path, out_dir: Path
) -> tuple[EnsembleJob, StudyData]:
    """One configuration's ensemble of every seed at the grid's first lr, as a train stage makes its final
    ones, and its data (for benchmarks, which time one ensemble)."""
    data = load_study_data(params, dataset, data_dir)
    job = EnsembleJob(
        params=params,
        dataset=dataset,
        family=family,
        depth=depth,
        members=tuple((seed, params.train.grid[0]) for seed in params.train.seeds),
        max_steps=params.train.max_steps,
        phase=FINAL,
        data_digest=data.meta.digest,
        out_dir=out_dir,
        code=code_digest(family),
    )
    return job, data


def _prune(cache_dir: Path, jobs: list[EnsembleJob]) -> None:
    """Delete every cached file but the resumable states and finished members of `jobs`."""
    keep = {cache_dir / job.state_name for job in jobs}
    keep.update(path for job in jobs for path in FinishedMembers(cache_dir, job).files())
    for path in cache_dir.glob("*"):
        if path.is_file() and path not in keep:
            path.unlink()
