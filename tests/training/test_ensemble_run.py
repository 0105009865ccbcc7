import torch

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
