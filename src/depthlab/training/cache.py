"""Finished members kept for reuse, outside DVC's outputs (which DVC may delete before a stage runs): a
member finished by one run of a train stage is reused by the next, so that adding an lr to the grid, a depth
or a dataset trains only what is new.

A member is found again by its key (`EnsembleJob.member_key`), a hash of everything that shapes its run:
params, seed, lr, steps, data and the training code; a change to any of them never reuses an old result. A
reused member keeps the record of the ensemble it trained in (`ensemble_seeds`, `ensemble_lrs`).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from depthlab.records import TrainedSeed
from depthlab.training.jobs import EnsembleJob


class FinishedMembers:
    """The cached outcomes of one ensemble's members: each a checkpoint and its runs.json entry."""

    def __init__(self, folder: Path, job: EnsembleJob):
        self.job = job
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _member(self, seed: int, lr: float) -> Path:
        return self.folder / self.job.member_name(seed, lr)

    def found(self) -> dict[tuple[int, float], TrainedSeed]:
        """The outcomes of this ensemble's members that finished in an earlier run."""
        found = {}
        for member in self.job.members:
            stem = self._member(*member)
            if stem.with_suffix(".done.json").exists() and stem.with_suffix(".ckpt").exists():
                found[member] = TrainedSeed.read(stem.with_suffix(".done.json"))
        return found

    def reuse(self, outcome: TrainedSeed, out_dir: Path) -> TrainedSeed:
        """A finished member's checkpoint put back among the stage's outputs, with this job's cell: its key holds
        its steps and rows, but a grid member of one budget may serve another cell's grid."""
        (out_dir / outcome.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self._member(outcome.seed, outcome.lr).with_suffix(".ckpt"), out_dir / outcome.checkpoint)
        return replace(outcome, cell=self.job.cell)

    def keep(self, out_dir: Path, trained: list[TrainedSeed]) -> None:
        """Members just trained, their checkpoints in `out_dir`, kept for the next run."""
        for seed in trained:
            stem = self._member(seed.seed, seed.lr)
            shutil.copy(out_dir / seed.checkpoint, stem.with_suffix(".ckpt"))
            seed.write(stem.with_suffix(".done.json"))

    def files(self) -> list[Path]:
        return [
            self._member(*member).with_suffix(suffix)
            for member in self.job.members
            for suffix in (".ckpt", ".done.json")
        ]


def reuse_finished(job: EnsembleJob) -> tuple[list[TrainedSeed], EnsembleJob | None]:
    """The members an earlier run finished, put back among the outputs, and the job of the others (None if
    there are none)."""
    cache = FinishedMembers(job.cache_dir, job) if job.cache_dir else None
    finished = cache.found() if cache else {}
    reused = [cache.reuse(finished[member], job.out_dir) for member in job.members if member in finished]
    if not reused:
        return [], job
    todo = tuple(member for member in job.members if member not in finished)
    print(
        f"[{job.label}] {len(reused)} of {len(job.members)} runs trained before with the same params, data "
        f"and code: reused",
        flush=True,
    )
    if not todo:
        return reused, None
    return reused, replace(job, members=todo)
