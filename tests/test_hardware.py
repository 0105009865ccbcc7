"""The machine a run records: CPU facts everywhere, GPU facts from NVML where a GPU is, determinism settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from depthlab import hardware

GPU = hardware.fingerprint()["gpu_count"] != "0"
needs_gpu = pytest.mark.skipif(not GPU, reason="no NVIDIA GPU visible to NVML on this machine")


def test_the_fingerprint_names_the_cpu_and_says_when_there_is_no_gpu():
    info = hardware.fingerprint()
    assert info["cpu_model"] and int(info["cpu_logical_cores"]) >= 1 and float(info["ram_gb"]) > 0
    if not GPU:
        assert "gpu_name" not in info and hardware.summary().endswith(", no GPU")


def test_determinism_settings_are_recorded_as_they_are():
    import torch

    assert hardware.determinism()["deterministic_algorithms"] == "false"
    torch.use_deterministic_algorithms(True)
    try:
        assert hardware.determinism()["deterministic_algorithms"] == "true"
    finally:
        torch.use_deterministic_algorithms(False)
    assert set(hardware.determinism()) == {
        "deterministic_algorithms",
        "cudnn_deterministic",
        "cudnn_benchmark",
        "cublas_workspace_config",
    }


@needs_gpu
def test_a_gpu_is_described_without_creating_a_cuda_context():
    check = (
        "import torch; from depthlab import hardware; info = hardware.fingerprint(); "
        "print(torch.cuda.is_initialized(), sorted(info))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    initialized, keys = done.stdout.split(" ", 1)
    assert initialized == "False"
    for key in ("gpu_name", "gpu_memory_gb", "gpu_driver", "gpu_compute_capability", "gpu_mig", "cudnn"):
        assert f"'{key}'" in keys
