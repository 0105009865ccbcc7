"""A train stage's plan: which ensembles train, and how the lr each configuration trains at is chosen.

A configuration, a (dataset, depth, cell), first trains its lr grid as one ensemble: every lr over the selection
seeds (where the grid has more than one lr: otherwise there is nothing to choose). Its final ensemble, every
seed of `train.seeds`, is made from that grid's outcome, at the lr the grid chose (`choose_lr`): a job exists
only once what it trains is known. The selection seeds are apart from the reported ones, so the lr is never
chosen on the runs the verdicts rest on (choosing and reporting on the same runs flatters the chosen lr:
Tsamardinos et al. 2018). Which seeds choose and which are reported, and how the choice is made, live here.

A cell is a training budget and a training-set size (`depthlab.cell`): one unless `train.max_steps` or
`train.train_rows` is a list. Each cell of a (dataset, depth) chooses its own lr, on its own rows and (where
`selection.max_steps` is null, as a swept budget requires) at its own budget: the best lr for 800 steps need
not be the best for 6000, and a verdict per budget should not rest on an lr tuned for another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from depthlab.cell import Cell
from depthlab.params import Params
from depthlab.records import FINAL, GRID, Phase, TrainedSeed
from depthlab.training.jobs import EnsembleJob

Configuration = tuple[str, int, Cell]  # (dataset, depth, cell)


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
        return [
            (dataset, depth, cell)
            for dataset in self.data_digests
            for depth in self.params.depths(dataset, self.family)
            for cell in self.params.train.cells
        ]

    @property
    def has_grid(self) -> bool:
        """Whether there is an lr to choose: a grid of one lr is that lr."""
        return len(self.params.train.grid) > 1

    def first_jobs(self) -> list[EnsembleJob]:
        """The ensembles that can start at once: every configuration's grid or, without a grid, every final
        ensemble at the one lr."""
        cfg = self.params.train
        if not self.has_grid:
            return [self.final_job(configuration, cfg.grid[0]) for configuration in self.configurations]
        members = [(seed, lr) for lr in cfg.grid for seed in cfg.selection_seeds()]
        return [self._job(c, GRID, members, cfg.selection_steps(c[2])) for c in self.configurations]

    def final_job(self, configuration: Configuration, lr: float) -> EnsembleJob:
        """The configuration's final ensemble, every seed at `lr`, the one its grid chose."""
        cfg = self.params.train
        return self._job(configuration, FINAL, [(seed, lr) for seed in cfg.seeds], configuration[2].steps)

    @property
    def job_count(self) -> int:
        """How many ensembles the stage trains, grids and final ones."""
        return (int(self.has_grid) + 1) * len(self.configurations)

    def _job(
        self, configuration: Configuration, phase: Phase, members: list[tuple[int, float]], steps: int
    ) -> EnsembleJob:
        dataset, depth, cell = configuration
        return EnsembleJob(
            params=self.params,
            dataset=dataset,
            family=self.family,
            depth=depth,
            members=tuple(members),
            max_steps=steps,
            cell=cell,
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
    trained: list[tuple[str, TrainedSeed]], chosen: dict[Configuration, float]
) -> list[tuple[str, TrainedSeed]]:
    """Which runs trained at their configuration's chosen lr, and which the report uses: the final runs only,
    never the grid's, whose seeds chose the lr."""
    marked = []
    for dataset, seed in trained:
        selected = seed.lr == chosen[dataset, seed.depth, seed.cell]
        marked.append((dataset, replace(seed, selected=selected, reported=selected and seed.phase == FINAL)))
    return marked
