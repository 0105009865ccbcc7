"""What one ensemble is: its members, steps, cell and data, and the keys its results are kept under (each
member's outcome is a `records.TrainedSeed`).

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
from depthlab.cell import Cell
from depthlab.data import Meta, SeedRows, seed_rows, subsample
from depthlab.families import family_of
from depthlab.params import Params, TrainParams
from depthlab.records import Phase

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
        """The data with `rows` of its training rows (`data.subsample`: nested, stratified); all for None, or for
        more rows than the split holds (the train stage refuses such a size unless `train.larger_than_split` is
        whole_split). The validation split stays whole: every size chooses its lr on the same examples."""
        x, y = self.train_xy
        if rows is None or rows >= len(y):
            return self
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
    max_steps: int  # the steps it trains: its cell's budget, or a grid's own (`train.selection.max_steps`)
    cell: Cell  # its configuration's budget and training-set size
    phase: Phase
    data_digest: str  # of the prepared dataset it trains on
    out_dir: Path  # the dataset's folder of the family's outputs
    code: str  # digest of the training code
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
    def train_rows(self) -> int | None:
        """The rows of the training split it trains on (`data.subsample`); None: all of them."""
        return self.cell.rows

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
    return hashlib.sha256(f"{package}\0{user_code_digest(models, family)}".encode()).hexdigest()[:16]


def user_code_digest(models: BaseModel, family: str) -> str | None:
    """A digest of a user's family's source files in the project (`imported.source_files`), each named by its path
    there; None for depthlab's own families. Also what a Ray node compares with the driver's."""
    if not family_of(models, family).imported:
        return None
    from depthlab.families import imported

    user = hashlib.sha256()
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
