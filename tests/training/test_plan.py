from pathlib import Path

from depthlab.training.jobs import FINAL, GRID, TrainedSeed
from depthlab.training.plan import Plan, choose_lr, mark_selection
from tests.helpers.params import NO_SWEEP, make_params

MLP = {**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0, 1]}}


def plan_of(**train: object) -> Plan:
    params = make_params(train={"seeds": [0, 1, 2, 3], "max_steps": 30, **train}, sweep=MLP)
    return Plan(params, "mlp", {"mnist1d": "5eed" * 16}, Path("models"), "0123456789abcdef", Path("cache"))


def seed(lr: float, val_accuracy: float | None, phase: str = GRID, seed: int = 0) -> TrainedSeed:
    return TrainedSeed(
        1, seed, lr, phase, "run", "ckpt", 10, 1.0, 30, val_accuracy, val_accuracy is None, "cpu", [], []
    )


def test_a_grid_trains_every_lr_on_its_own_seeds_and_its_final_job_every_seed_at_the_chosen_lr():
    plan = plan_of(lr=[0.001, 0.03], selection={"seeds": [100, 101], "max_steps": 10})
    grids = plan.first_jobs()
    assert [(job.configuration, job.phase) for job in grids] == [(("mnist1d", 0), GRID), (("mnist1d", 1), GRID)]
    assert grids[0].members == ((100, 0.001), (101, 0.001), (100, 0.03), (101, 0.03)) and grids[0].max_steps == 10
    assert grids[1].out_dir == Path("models/mnist1d") and grids[1].cache_dir == Path("cache")
    final = plan.final_job(("mnist1d", 1), 0.03)
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
    marked = [(s.selected, s.reported) for _, s in mark_selection(runs, {("mnist1d", 1): 0.03})]
    assert marked == [(False, False), (True, False), (True, True)]
