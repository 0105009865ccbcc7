"""A train stage's plan: which ensembles train, and how the lr each configuration trains at is chosen.

A configuration, a (dataset, depth), first trains its lr grid as one ensemble: every lr over the selection
seeds (where the grid has more than one lr: otherwise there is nothing to choose). Its final ensemble, every
other seed, is made from that grid's outcome, at the lr the grid chose (`choose_lr`): a job exists only once
what it trains is known. Which seeds choose and which are reported, and how the choice is made, live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from depthlab.params import Params
from depthlab.training.jobs import FINAL, GRID, EnsembleJob, TrainedSeed

Configuration = tuple[str, int]  # (dataset, depth)


@dataclass(frozen=True)
class Plan:
    """The ensembles of one family's train stage, on every dataset it trains on."""

    params: Params
    family: str
    data_digests: Mapping[str, str]  # per dataset: the prepared data's digest, part of every key
    out_dir: Path  # the family's outputs: a folder per dataset
    code: str  # digest of the training code (`code_digest`)
    cache_dir: Path | None = None

    @property
    def configurations(self) -> list[Configuration]:
        return [(dataset, depth) for dataset in self.data_digests for depth in self.params.depths(dataset, self.family)]

    @property
    def has_grid(self) -> bool:
        """Whether there is an lr to choose: a grid of one lr is that lr."""
        return len(self.params.train.grid) > 1

    def first_jobs(self) -> list[EnsembleJob]:
        """The ensembles that can start at once: every configuration's grid or, without a grid, every final
        ensemble at the one lr."""
        cfg = self.params.train
        if not self.has_grid:
            return [job for configuration in self.configurations if (job := self.final_job(configuration, cfg.grid[0]))]
        members = [(seed, lr) for lr in cfg.grid for seed in cfg.selection_seeds()]
        return [self._job(c, GRID, members, cfg.selection.max_steps) for c in self.configurations]

    def final_job(self, configuration: Configuration, lr: float) -> EnsembleJob | None:
        """The configuration's final ensemble at `lr`, the one its grid chose; None where its grid already
        trained every seed with as many steps."""
        seeds = self._final_seeds()
        if not seeds:
            return None
        return self._job(configuration, FINAL, [(seed, lr) for seed in seeds], self.params.train.max_steps)

    @property
    def job_count(self) -> int:
        """How many ensembles the stage trains, grids and final ones."""
        per_configuration = int(self.has_grid) + int(bool(self._final_seeds()))
        return per_configuration * len(self.configurations)

    def _final_seeds(self) -> list[int]:
        """Every seed but those the grid trains at every lr with as many steps: they are reported with the
        others."""
        cfg = self.params.train
        reused = cfg.selection_seeds() if self.has_grid and cfg.selection.max_steps == cfg.max_steps else []
        return [seed for seed in cfg.seeds if seed not in reused]

    def _job(
        self, configuration: Configuration, phase: str, members: list[tuple[int, float]], steps: int
    ) -> EnsembleJob:
        dataset, depth = configuration
        return EnsembleJob(
            params=self.params,
            dataset=dataset,
            family=self.family,
            depth=depth,
            members=tuple(members),
            max_steps=steps,
            phase=phase,
            data_digest=self.data_digests[dataset],
            out_dir=self.out_dir / dataset,
            code=self.code,
            cache_dir=self.cache_dir,
        )


def choose_lr(params: Params, grid: list[TrainedSeed]) -> float:
    """The lr whose seeds have the best mean final validation accuracy (a diverged seed counts as 0); a tie
    goes to the smaller lr. The test split is never looked at."""
    scores = {lr: float(np.mean([s.val_accuracy or 0.0 for s in grid if s.lr == lr])) for lr in params.train.grid}
    return max(params.train.grid, key=lambda lr: (scores[lr], -lr))


def mark_selection(
    params: Params, trained: list[tuple[str, TrainedSeed]], chosen: dict[Configuration, float]
) -> list[tuple[str, TrainedSeed]]:
    """Which runs trained at their configuration's chosen lr, and which the report uses: the final runs and,
    where the grid ran as many steps, its runs at the chosen lr."""
    marked = []
    for dataset, seed in trained:
        selected = seed.lr == chosen[dataset, seed.depth]
        full_length = seed.phase == FINAL or params.train.selection.max_steps == params.train.max_steps
        marked.append((dataset, replace(seed, selected=selected, reported=selected and full_length)))
    return marked
