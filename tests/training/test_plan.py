from dataclasses import replace
from pathlib import Path

from depthlab.cell import Cell
from depthlab.records import FINAL, GRID, TrainedSeed
from depthlab.training.plan import Plan, choose_lr, mark_selection
from tests.helpers.params import NO_SWEEP, make_params

MLP = {**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0, 1]}}
WHOLE = Cell(30, None)  # the one cell of a study that sweeps neither budget nor size


def plan_of(**train: object) -> Plan:
    params = make_params(train={"seeds": [0, 1, 2, 3], "max_steps": 30, **train}, sweep=MLP)
    return Plan(params, "mlp", {"mnist1d": "5eed" * 16}, Path("models"), "0123456789abcdef", Path("cache"))


def seed(lr: float, val_accuracy: float | None, phase: str = GRID, seed: int = 0) -> TrainedSeed:
    return TrainedSeed(
        1, seed, lr, phase, "run", "ckpt", 10, 1.0, 30, val_accuracy, val_accuracy is None, "cpu", [], [], None, WHOLE
    )


def test_a_grid_trains_every_lr_on_its_own_seeds_and_its_final_job_every_seed_at_the_chosen_lr():
    plan = plan_of(lr=[0.001, 0.03], selection={"seeds": [100, 101], "max_steps": 10})
    grids = plan.first_jobs()
    assert [(job.configuration, job.phase) for job in grids] == [
        (("mnist1d", 0, WHOLE), GRID),
        (("mnist1d", 1, WHOLE), GRID),
    ]
    assert grids[0].members == ((100, 0.001), (101, 0.001), (100, 0.03), (101, 0.03)) and grids[0].max_steps == 10
    assert grids[1].out_dir == Path("models/mnist1d") and grids[1].cache_dir == Path("cache")
    final = plan.final_job(("mnist1d", 1, WHOLE), 0.03)
    assert final.phase == FINAL and final.seeds == (0, 1, 2, 3) and set(final.lrs) == {0.03} and final.depth == 1
    assert final.max_steps == 30 and plan.job_count == 4


def test_without_a_grid_the_final_jobs_start_at_once_at_the_one_lr():
    plan = plan_of(lr=[0.01])
    assert [(job.phase, job.lrs) for job in plan.first_jobs()] == [(FINAL, (0.01,) * 4)] * 2
    assert plan.job_count == 2


def test_the_lr_of_best_mean_validation_accuracy_is_chosen_a_tie_going_to_the_smaller():
    params = make_params(train={"lr": [0.001, 0.01, 0.03]})
    assert choose_lr(params, [seed(0.001, 0.5), seed(0.01, 0.7), seed(0.01, 0.5), seed(0.03, 0.55)]) == 0.01
    assert choose_lr(params, [seed(0.001, 0.6), seed(0.01, 0.6), seed(0.03, 0.6)]) == 0.001
    assert choose_lr(params, [seed(0.001, 0.2), seed(0.01, None), seed(0.03, 0.1)]) == 0.001, "diverged counts as 0"


def test_the_report_uses_the_final_runs_at_the_chosen_lr_never_the_grids():
    runs = [("mnist1d", seed(0.001, 0.4)), ("mnist1d", seed(0.03, 0.6)), ("mnist1d", seed(0.03, 0.5, FINAL, 1))]
    marked = [(s.selected, s.reported) for _, s in mark_selection(runs, {("mnist1d", 1, WHOLE): 0.03})]
    assert marked == [(False, False), (True, False), (True, True)]


def test_each_cell_of_budget_and_size_has_its_own_grid_at_its_own_steps_and_its_own_final_job():
    plan = plan_of(
        max_steps=[60, 20], train_rows=[400, 100], lr=[0.001, 0.03], selection={"seeds": [100], "max_steps": None}
    )
    cells = [Cell(20, 100), Cell(20, 400), Cell(60, 100), Cell(60, 400)]
    grids = plan.first_jobs()
    assert [job.configuration for job in grids] == [("mnist1d", d, c) for d in (0, 1) for c in cells]
    assert {job.phase for job in grids} == {GRID} and plan.job_count == 16
    assert [(job.max_steps, job.train_rows) for job in grids[:4]] == [(20, 100), (20, 400), (60, 100), (60, 400)]
    finals = [plan.final_job(("mnist1d", 1, cell), 0.03) for cell in cells]
    assert [(job.phase, job.max_steps, job.train_rows, job.cell) for job in finals] == [
        (FINAL, cell.steps, cell.rows, cell) for cell in cells
    ]
    assert len({job.key for job in grids + finals}) == 12, "every ensemble its own key"
    assert len({job.checkpoint(0, 0.03) for job in finals}) == 4, "and its own checkpoints"


def test_a_cell_is_selected_by_its_own_lr():
    small, large = Cell(30, 100), Cell(30, 400)
    runs = [
        ("mnist1d", replace(seed(0.03, 0.6, FINAL), cell=small)),
        ("mnist1d", replace(seed(0.03, 0.6, FINAL), cell=large)),
    ]
    marked = mark_selection(runs, {("mnist1d", 1, small): 0.03, ("mnist1d", 1, large): 0.001})
    assert [s.reported for _, s in marked] == [True, False]


def test_a_cells_grid_trains_as_long_as_selection_max_steps_says_unless_that_is_null():
    assert [j.max_steps for j in plan_of(selection={"seeds": [100], "max_steps": 10}, lr=[0.1, 0.2]).first_jobs()] == [
        10,
        10,
    ]
    assert [
        j.max_steps for j in plan_of(selection={"seeds": [100], "max_steps": None}, lr=[0.1, 0.2]).first_jobs()
    ] == [
        30,
        30,
    ]
