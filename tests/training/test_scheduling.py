"""The one scheduling path, driven by an executor that trains nothing: each member's validation accuracy is
made up from its lr and depth."""

import sys
from concurrent.futures import Future
from pathlib import Path

import pytest

from depthlab.cell import Cell
from depthlab.records import FINAL, GRID, TrainedSeed
from depthlab.training.jobs import EnsembleJob
from depthlab.training.plan import Plan
from depthlab.training.scheduling import train_configurations
from tests.helpers.params import NO_SWEEP, make_params

BEST_LR = {0: 0.001, 1: 0.03}  # per depth
WHOLE = Cell(30, None)  # the plans' one cell: 30 steps on the whole training split


class MadeUp:
    """An executor whose jobs are done as soon as they are submitted."""

    def __init__(self, capacity: int, fail: str | None = None):
        self.capacity = capacity
        self.fail = fail
        self.submitted: list[tuple[str, int]] = []
        self.cancelled = False

    def __enter__(self) -> "MadeUp":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, job: EnsembleJob) -> Future:
        self.submitted.append((job.phase, job.depth))
        if job.phase == self.fail:
            raise RuntimeError("a run failed")
        done = Future()
        done.set_result(
            [
                TrainedSeed(job.depth, seed, lr, job.phase, "run", "ckpt", 1, 1.0, 1, float(lr == BEST_LR[job.depth]),
                            False, "cpu", list(job.seeds), list(job.lrs), None, job.cell)
                for seed, lr in job.members
            ]
        )  # fmt: skip
        return done

    def outcome(self, job: EnsembleJob, future: Future) -> list[TrainedSeed]:
        return future.result()

    def cancel(self) -> None:
        self.cancelled = True


def grid_plan(lr: list[float]) -> Plan:
    params = make_params(
        train={"seeds": [0, 1, 2], "lr": lr, "selection": {"seeds": [100], "max_steps": 30}, "max_steps": 30},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0, 1]}},
    )
    return Plan(params, "mlp", {"mnist1d": "5eed" * 16}, Path("models"), "0123456789abcdef")


def test_a_grids_final_job_is_made_at_its_chosen_lr_and_goes_ahead_of_the_grids_not_started():
    executor = MadeUp(capacity=1)  # as Inline: one job at a time
    trained = train_configurations(grid_plan([0.001, 0.03]), executor)
    assert executor.submitted == [(GRID, 1), (FINAL, 1), (GRID, 0), (FINAL, 0)], "deepest first, its final next"
    assert trained.chosen == {("mnist1d", 0, WHOLE): 0.001, ("mnist1d", 1, WHOLE): 0.03}
    finals = [seed for _, seed in trained.runs if seed.phase == FINAL]
    assert sorted((s.depth, s.seed, s.lr) for s in finals) == [(d, s, BEST_LR[d]) for d in (0, 1) for s in (0, 1, 2)]
    assert [(job.phase, job.depth) for job in trained.jobs] == executor.submitted


def test_an_executor_that_queues_gets_every_grid_at_once():
    executor = MadeUp(capacity=sys.maxsize)  # as a process pool or Ray
    trained = train_configurations(grid_plan([0.001, 0.03]), executor)
    assert executor.submitted[:2] == [(GRID, 1), (GRID, 0)]
    assert sorted(executor.submitted[2:]) == [(FINAL, 0), (FINAL, 1)]
    assert len(trained.runs) == 2 * 2 + 2 * 3  # per depth: the grid's 2 lrs x 1 seed, then all 3 seeds


def test_without_a_grid_every_configuration_is_chosen_at_the_one_lr():
    trained = train_configurations(grid_plan([0.03]), MadeUp(capacity=1))
    assert trained.chosen == {("mnist1d", 0, WHOLE): 0.03, ("mnist1d", 1, WHOLE): 0.03}
    assert {seed.phase for _, seed in trained.runs} == {FINAL}


def test_a_failed_job_cancels_the_others():
    executor = MadeUp(capacity=sys.maxsize, fail=FINAL)
    with pytest.raises(RuntimeError, match="a run failed"):
        train_configurations(grid_plan([0.001, 0.03]), executor)
    assert executor.cancelled
