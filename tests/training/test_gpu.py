"""Training on a GPU: the device started before the clock, deterministic kernels, every GPU used. These run
where NVML sees a GPU and are skipped (with the reason) elsewhere; the CPU path is tested everywhere else."""

from __future__ import annotations

import pytest
import torch
from mlflow import MlflowClient

from depthlab import hardware
from depthlab.training import train_family
from depthlab.training.ensemble_run import on_device
from tests.helpers.params import NO_SWEEP, make_params

pytestmark = pytest.mark.skipif(
    hardware.fingerprint()["gpu_count"] == "0", reason="no NVIDIA GPU visible to NVML on this machine"
)


def test_the_device_is_ready_and_deterministic_before_training_starts():
    fabric = on_device("auto", 0)
    assert fabric.device.type == "cuda" and torch.cuda.is_initialized()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert hardware.determinism()["deterministic_algorithms"] == "true"


def test_an_ensemble_on_the_gpu_records_it_and_trains_the_same_twice(tmp_path, prepared):
    params = make_params(
        train={"accelerator": "gpu"}, sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [2]}}
    )
    first, second = (
        train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / name)["mnist1d"] for name in ("a", "b")
    )
    tags = MlflowClient().get_run(first[0].run_id).data.tags
    assert tags["accelerator"] == "cuda" and tags["hw.gpu_name"] and tags["determinism.cudnn_deterministic"] == "true"
    for a, b in zip(first, second, strict=True):
        weights = [
            torch.load(tmp_path / n / "mnist1d" / t.checkpoint, weights_only=True)["model"]
            for n, t in (("a", a), ("b", b))
        ]
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
