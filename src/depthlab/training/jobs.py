"""What one ensemble is: its members, steps and data, the keys its results are kept under, and what each
member's training gives (`TrainedSeed`, one entry of runs.json).

A key is a hash of everything that shapes a run: the train params that do (`SHAPING_TRAIN_KEYS`), the
family's model params, family and depth, the members, the steps, the data's digest and the training code's
(`code_digest`), and `data.split_seeds` where it is on (each seed its own split). Finished members and
resumable states are found again by their keys only, so the formula must not change without reason: a test
pins it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

import depthlab
from depthlab.data import Meta, SeedRows, seed_rows, subsample
from depthlab.families import family_of
from depthlab.params import Cell, Params, TrainParams

GRID, FINAL = "grid", "final"  # the runs that choose a configuration's lr, and the others
# What shapes a run in `train`, besides the lr, steps and seeds an ensemble is given.
SHAPING_TRAIN_KEYS = {"batch_size", "weight_decay", "shuffle", "accelerator"}
PACKAGE = Path(depthlab.__file__).resolve().parent  # src/depthlab: source paths in digests are relative to it


@dataclass(frozen=True)
class StudyData:
    """One dataset as a train stage uses it: read, and described for MLflow, once for all its ensembles."""

    meta: Meta
    train_xy: tuple[np.ndarray, np.ndarray]
    val_xy: tuple[np.ndarray, np.ndarray]
    dataset_inputs: list[Any]

    def with_train_rows(self, rows: int | None) -> StudyData:
        """The data with `rows` of its training rows (`data.subsample`: nested, stratified); all for None. The
        validation split stays whole: every size chooses its lr on the same examples."""
        if rows is None:
            return self
        x, y = self.train_xy
        kept = subsample(y, rows)
        return replace(self, train_xy=(x[kept], y[kept]))


@dataclass(frozen=True, kw_only=True)
class EnsembleJob:
    """One ensemble to train: its members are (seed, lr) pairs, trained together as one stacked network; the
    lr grid of a configuration (dataset, depth) over its selection seeds, or its seeds at the chosen lr.
    `phase` is GRID for the runs that choose the lr, FINAL for the others. A few kilobytes: the data itself
    travels apart from it (`StudyData`), so that a job is cheap to send to another process."""

    params: Params
    dataset: str
    family: str
    depth: int
    members: tuple[tuple[int, float], ...]
    max_steps: int
    phase: str
    data_digest: str  # of the prepared dataset it trains on
    out_dir: Path  # the dataset's folder of the family's outputs
    code: str  # digest of the training code
    train_rows: int | None = None  # a subsample of the training split (`train.train_rows`); None: all of it
    budget: int | None = None  # the steps of its configuration's cell (a grid may train fewer); None: max_steps
    cache_dir: Path | None = None  # where finished members and resumable states are kept, if anywhere
    threads: int = 1  # torch threads of the process that trains it (set by its executor)
    device: int = 0  # the GPU it trains on, where there are several (set by its executor; not in its key)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(seed for seed, _ in self.members)

    @property
    def lrs(self) -> tuple[float, ...]:
        return tuple(lr for _, lr in self.members)

    @property
    def cell(self) -> Cell:
        """The budget and training-set size of its configuration."""
        return Cell.of(self.budget, self.max_steps, self.train_rows)

    @property
    def configuration(self) -> tuple[str, int, Cell]:
        return self.dataset, self.depth, self.cell

    @property
    def config(self) -> TrainParams:
        """The train section as this ensemble trains: its own steps and training rows."""
        return self.params.train.model_copy(update={"max_steps": self.max_steps, "train_rows": self.train_rows})

    def _hash(self, members: list[tuple[int, float]]) -> str:
        shaping = {
            "train": self.params.train.model_dump(mode="json", include=SHAPING_TRAIN_KEYS),
            "members": members,
            "max_steps": self.max_steps,
            "model": getattr(self.params.models, self.family).model_dump(mode="json"),
            "family": self.family,
            "depth": self.depth,
            "data": self.data_digest,
            "code": self.code,
        }
        if self.train_rows is not None:  # only then: keys of the whole training split are those from before
            shaping["train_rows"] = self.train_rows
        if self.params.data.split_seeds:  # only then: the keys of the shared split stay those it always had
            shaping["split_seeds"] = True
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def key(self) -> str:
        """A hash of everything that shapes this ensemble's runs, its members in order included."""
        return self._hash(list(self.members))

    def member_key(self, seed: int, lr: float) -> str:
        """A hash of everything that shapes one member's run, whichever ensemble it trains in."""
        return self._hash([(seed, lr)])

    @property
    def state_name(self) -> str:
        """The file name of this ensemble's resumable training state: its members in order in its key."""
        return f"{self.dataset}-d{self.depth}-{self.key}.state"

    def seed_rows(self, data: StudyData) -> SeedRows:
        """Each member's own split of the dataset's training and validation rows (`data.split_seeds`), drawn from
        its seed and the data's digest: the same in every ensemble, whatever its lr."""
        return seed_rows(data.train_xy[1], data.val_xy[1], self.seeds, self.data_digest)

    def member_name(self, seed: int, lr: float) -> str:
        """The stem of one finished member's files, found again whichever ensemble trains it next."""
        return f"{self.dataset}-d{self.depth}-{self.member_key(seed, lr)}"

    @property
    def label(self) -> str:
        lrs = sorted(set(self.lrs))
        lr = f"lr {lrs[0]:g}" if len(lrs) == 1 else f"lr grid {', '.join(f'{v:g}' for v in lrs)}"
        per_lr = len(self.seeds) // len(lrs)
        rows = "" if self.train_rows is None else f" on {self.train_rows} rows"
        each = " each" if len(lrs) > 1 else ""
        return f"{self.dataset}/{self.family}-d{self.depth}{rows} {lr}, {seeds_text(per_lr)}{each}"

    def checkpoint(self, seed: int, lr: float) -> Path:
        """Relative to the dataset's output folder; unique per (lr, steps, training rows, seed) of a depth."""
        rows = "" if self.train_rows is None else f"-{self.train_rows}rows"
        return Path(f"d{self.depth}") / f"lr{lr:g}-{self.max_steps}steps{rows}" / f"seed-{seed}.ckpt"


@dataclass(frozen=True)
class TrainedSeed:
    """One seed's outcome, as runs.json lists it. `train_time_s` is its share of its ensemble's training
    time (the ensemble's time over its members): what training one model cost. `ensemble_seeds` and
    `ensemble_lrs`: the members it trained with, in order; its weights are reproduced bit for bit only in that
    same ensemble. `phase`: grid (choosing the lr) or final; `selected`: trained at the lr chosen for its
    configuration; `reported`: one of the runs the report's verdicts rest on; `train_loss`: the mean training
    loss of its last epochs (None for a member finished before it was recorded); `budget` and `train_rows`: the
    cell of its configuration (`EnsembleJob.cell`; a grid run may train fewer steps than its cell's budget)."""

    depth: int
    seed: int
    lr: float
    phase: str
    run_id: str
    checkpoint: str
    param_count: int
    train_time_s: float
    steps: int
    val_accuracy: float | None
    diverged: bool
    accelerator: str
    ensemble_seeds: list[int]
    ensemble_lrs: list[float]
    selected: bool = False
    reported: bool = False
    train_loss: float | None = None
    budget: int | None = None
    train_rows: int | None = None

    @property
    def cell(self) -> Cell:
        return Cell.of(self.budget, self.steps, self.train_rows)


def seeds_text(count: int) -> str:
    return f"{count} seed{'s' if count != 1 else ''}"


def code_digest(models: BaseModel, family: str) -> str:
    """A digest of the depthlab modules a train stage has imported (the family's network included): the code
    that shapes its results. Report or benchmark code is not among them, so changing it reuses ensembles. A user's
    family (named by import path) adds its module and the project's modules it imports (`imported.source_files`),
    so editing them retrains that family alone; depthlab's own families' digests are what they were."""
    own = family_of(models, family)
    importlib.import_module(own.network_module)
    package = source_digest(
        Path(module.__file__).resolve()
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "depthlab" and getattr(module, "__file__", None)
    )
    if not own.imported:
        return package
    from depthlab.families import imported

    user = hashlib.sha256(package.encode())
    root = imported.project_root()
    for path in imported.source_files(getattr(models, family)):
        user.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return user.hexdigest()[:16]


def source_digest(files: Iterable[Path]) -> str:
    """A digest of depthlab source files, each named by its path within the package, so that the same code
    gives the same digest wherever it is installed (a Ray node compares its own with the driver's)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
