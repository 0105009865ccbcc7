import pytest
import torch

from depthlab.cell import Cell
from depthlab.tracking import UntrackedRun
from depthlab.training import ensemble_job
from depthlab.training.ensemble_run import train_members
from tests.helpers.params import NO_SWEEP, make_params


def test_a_training_process_flushes_denormals_to_zero(tmp_path, prepared):
    """Values below 1.2e-38 (a small table's gradients and Adam moments once its loss nears zero) cost an x86
    core tens of times more: the process that trains computes them as zero."""
    params = make_params(
        train={"seeds": [0], "max_steps": 2},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0]}},
        tracking={"enabled": False},
    )
    denormal = torch.tensor(1e-39)
    torch.set_flush_denormal(False)
    try:
        assert (denormal * 1.0).item() != 0.0
        job, data = ensemble_job(params, "mnist1d", "mlp", 0, prepared, tmp_path)
        train_members(job, data)
        assert (denormal * 1.0).item() == 0.0
    finally:
        torch.set_flush_denormal(True)


def _user_job(prepared, tmp_path, members, max_steps=16, tracked=False):
    """An ensemble job of the tiny profile, with its members and steps (its networks are the test's own)."""
    from dataclasses import replace

    params = make_params(
        train={"seeds": [0, 1], "max_steps": max_steps},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [1]}},
        tracking={"enabled": tracked},
    )
    job, data = ensemble_job(params, "mnist1d", "mlp", 1, prepared, tmp_path)
    return replace(job, members=members, max_steps=max_steps, cell=Cell(max_steps, None)), data


def _user_nets(cls, job):
    import lightning_fabric as L

    nets = []
    for seed in job.seeds:
        L.seed_everything(seed, verbose=False)  # as seed_networks does: the weights the seed has alone
        nets.append(cls())
    return nets


def _fit_user_module(cls, job, data, stacking, resume=None):
    from depthlab.training.ensemble_run import fit_members

    nets = _user_nets(cls, job)
    fitted = fit_members(job, data, nets, [UntrackedRun() for _ in nets], resume, stacking)
    return fitted, [member.module.seed_state(member.index) for member in fitted.members]


def test_a_module_both_paths_can_run_gets_the_same_weights_stacked_with_torch_func_and_seed_by_seed(prepared, tmp_path):
    """Two seeds at two lrs (an lr grid in one ensemble: MemberwiseAdam against each seed's own Adam), 16 steps.

    Tolerance: the stacked forward runs batched products where a seed alone runs torch's own, which sum
    in another order, so each step's gradients differ by rounding (float32: about 1e-7 relative), and Adam's
    normalised step can carry a rounding difference of a near-zero gradient into the weights. Measured after 16
    steps: at most 6e-8 absolute (a few float32 ulps of weights of order 0.1). atol 1e-6 (rtol 1e-5) holds that
    with a margin of over ten, while one step more or less, or a seed at the other's lr (Adam moves each weight by
    about its lr a step: 3e-3 to 1e-2), fails it by orders of magnitude.
    """
    from depthlab.training.user_module import PER_SEED, TORCH_FUNC, Stacking
    from tests.helpers.user_modules import MLP

    job, data = _user_job(prepared, tmp_path, ((0, 0.01), (1, 0.003)))
    stacked, stacked_weights = _fit_user_module(MLP, job, data, Stacking(TORCH_FUNC, "test"))
    alone, alone_weights = _fit_user_module(MLP, job, data, Stacking(PER_SEED, "test"))
    initial = _user_nets(MLP, job)
    for index in range(2):
        assert stacked.members[index].state.step == alone.members[index].state.step == 16
        for key, value in stacked_weights[index].items():
            torch.testing.assert_close(value, alone_weights[index][key], rtol=1e-5, atol=1e-6)
            assert not torch.allclose(value, initial[index].state_dict()[key], atol=1e-3), "it trained"
        assert stacked.members[index].state.last[index]["val_acc"] == alone.members[index].state.last[0]["val_acc"]


def test_a_lightning_module_trains_seed_by_seed_with_its_own_step_and_its_logs_reach_each_seeds_run(prepared, tmp_path):
    """Its training_step and its SGD (lr 50 as configured: the member's lr set instead, else it diverges); what it
    logs with self.log and log_dict goes to its own seed's MLflow run (under module/), once a step, at the steps
    taken before."""
    from mlflow import MlflowClient

    from depthlab import tracking
    from depthlab.training.ensemble_run import fit_members, run_specs
    from depthlab.training.user_module import PER_SEED, Stacking
    from tests.helpers.user_modules import LightningMLP

    job, data = _user_job(prepared, tmp_path, ((0, 0.05), (1, 0.05)), max_steps=12, tracked=True)
    nets = _user_nets(LightningMLP, job)
    stacking = Stacking(PER_SEED, "its own training_step")
    with tracking.tracked_runs(dataset=job.dataset, runs=run_specs(job, data.meta, 1, stacking)) as runs:
        fitted = fit_members(job, data, nets, runs, None, stacking)
    client = MlflowClient()
    for member, run in zip(fitted.members, runs, strict=True):
        assert not member.state.stopped and member.state.last[0]["train_loss"] < 2.3
        assert "train_acc" not in member.state.last[0], "its step returns a loss, not logits"
        own = client.get_metric_history(run.run_id, "module/own_loss")
        assert [m.step for m in own] == list(range(12))
        assert [m.value for m in client.get_metric_history(run.run_id, "module/own_batch")] == [
            float(s) for s in range(12)
        ]
        assert client.get_metric_history(run.run_id, "val_acc"), "validated as every family is"
        assert client.get_run(run.run_id).data.tags["seed_stacking"] == PER_SEED
    assert all(net.fabric is None for net in nets), "unhooked from Fabric: saved and pickled as the user's module"


def test_an_ensemble_trained_seed_by_seed_resumes_from_the_members_it_finished(prepared, tmp_path):
    """The interrupted stage had finished member 0 (its state saved once it finished) and not member 1: the next
    run takes member 0 from the file, trains member 1, and both end as in an uninterrupted run."""
    from depthlab.training.resume import ResumeFile
    from depthlab.training.user_module import PER_SEED, Stacking
    from tests.helpers.user_modules import BatchNormMLP

    job, data = _user_job(prepared, tmp_path, ((0, 0.01), (1, 0.01)))
    stacking = Stacking(PER_SEED, "buffers")
    _, whole = _fit_user_module(BatchNormMLP, job, data, stacking)
    cache = tmp_path / "cache"
    resume = ResumeFile(cache, job)
    _fit_user_module(BatchNormMLP, job, data, stacking, resume)
    assert sorted(p.name for p in cache.iterdir()) == [f"{job.state_name[:-6]}-member{i}.state" for i in (0, 1)]
    (cache / f"{job.state_name[:-6]}-member1.state").unlink()  # member 1 had not finished
    resumed, weights = _fit_user_module(BatchNormMLP, job, data, stacking, ResumeFile(cache, job))
    assert [m.state.resumed_from_step for m in resumed.members] == [16, 0]
    assert resumed.members[0].state.last[0]["val_acc"] is not None
    for index in (0, 1):
        assert weights[index].keys() == whole[index].keys() and "norm.running_mean" in weights[index]
        for key, value in weights[index].items():
            assert torch.equal(value, whole[index][key]), key
    ResumeFile(cache, job).discard()
    assert not list(cache.iterdir())


class _InterruptedAt(UntrackedRun):
    """A run whose stage is interrupted (Ctrl-C) when training reports `step`, before that epoch's state is saved."""

    def __init__(self, step: int):
        self.step = step

    def log_metrics(self, metrics, step=0):
        if step >= self.step:
            raise KeyboardInterrupt


def test_an_interrupted_ensemble_stacked_with_torch_func_resumes_where_its_state_was_saved(prepared, tmp_path):
    """Saved after every validation (resume_interval_s 0), interrupted at step 16 of 24: the next run continues
    from step 8's state (the stacked weights, Adam's moments, each seed's shuffle stream) and ends bit for bit where
    an uninterrupted run does."""
    from dataclasses import replace

    from depthlab.training.ensemble_run import fit_members
    from depthlab.training.resume import ResumeFile
    from depthlab.training.user_module import TORCH_FUNC, Stacking
    from tests.helpers.user_modules import MLP

    job, data = _user_job(prepared, tmp_path, ((0, 0.01), (1, 0.003)), max_steps=24)
    job = replace(job, params=job.params.model_copy(update={"runtime": job.params.runtime.model_copy(
        update={"resume_interval_s": 0})}))  # fmt: skip
    stacking = Stacking(TORCH_FUNC, "test")
    _, whole = _fit_user_module(MLP, job, data, stacking)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        fit_members(
            job, data, _user_nets(MLP, job), [_InterruptedAt(16), _InterruptedAt(16)], ResumeFile(cache, job), stacking
        )
    resumed, weights = _fit_user_module(MLP, job, data, stacking, ResumeFile(cache, job))
    assert resumed.members[0].state.resumed_from_step == 8 and resumed.members[0].state.step == 24
    for index in (0, 1):
        for key, value in weights[index].items():
            assert torch.equal(value, whole[index][key]), key
