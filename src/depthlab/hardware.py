"""The machine a measurement was taken on, recorded by the project itself (MLflow does not record it)."""

from __future__ import annotations

import functools
import os
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil


@functools.cache
def fingerprint() -> dict[str, str]:
    """CPU, memory, GPU and software versions, as strings ready to become MLflow tags."""
    info = {
        "cpu_model": _cpu_model(),
        "cpu_physical_cores": str(psutil.cpu_count(logical=False)),
        "cpu_logical_cores": str(psutil.cpu_count(logical=True)),
        "ram_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "os": platform.platform(),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "lightning": version("lightning-fabric"),
        "mlflow": version("mlflow"),
        "cuda": "none",
        "gpu_count": "0",
    }
    if info["torch"].endswith("+cpu"):  # a CPU build sees no GPU: no need to import torch
        return info
    import torch

    info["cuda"] = torch.version.cuda or "none"
    if torch.version.cuda:
        info["cudnn"] = str(torch.backends.cudnn.version() or "none")
    return {**info, **_gpus()}


def _gpus() -> dict[str, str]:
    """The GPUs as NVML (nvidia-ml-py) sees them: name, memory, count, driver, compute capability, MIG mode.

    Asked of NVML rather than torch.cuda, because torch creates a CUDA context (device memory and
    start-up time) in every process that asks, and every process that records a run asks,
    CPU runs and the report included. GPU 0 is described; a machine of mixed GPUs lists every name."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no NVIDIA driver (or no nvidia-ml-py): a CUDA build on a machine without a GPU
        return {}
    try:
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        if not handles:
            return {}
        names = [_text(pynvml.nvmlDeviceGetName(handle)) for handle in handles]
        first = handles[0]
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(first)
        info = {
            "gpu_count": str(len(handles)),
            "gpu_name": names[0],
            "gpu_memory_gb": f"{pynvml.nvmlDeviceGetMemoryInfo(first).total / 2**30:.1f}",
            "gpu_driver": _text(pynvml.nvmlSystemGetDriverVersion()),
            "gpu_compute_capability": f"{major}.{minor}",
            "gpu_mig": _mig_mode(pynvml, first),
        }
        if len(set(names)) > 1:
            info["gpu_names"] = ", ".join(names)
        return info
    finally:
        pynvml.nvmlShutdown()


def _mig_mode(pynvml: Any, handle: Any) -> str:
    """'enabled' when the GPU is split into MIG slices (a run then has a slice, not the whole GPU)."""
    try:
        current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
    except pynvml.NVMLError:  # a GPU without MIG support
        return "unsupported"
    return "enabled" if current == pynvml.NVML_DEVICE_MIG_ENABLE else "disabled"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def determinism() -> dict[str, str]:
    """The settings that decide whether this process's kernels are deterministic, as run tags: a run trained
    with them off on a GPU may not reproduce bit for bit, and `reproduce` says so instead of "differs"."""
    import torch

    return {
        "deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()).lower(),
        "cudnn_deterministic": str(torch.backends.cudnn.deterministic).lower(),
        "cudnn_benchmark": str(torch.backends.cudnn.benchmark).lower(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", "unset"),
    }


def summary() -> str:
    """One line for report headers: 'cpu model, N cores, RAM, GPU'."""
    hw = fingerprint()
    gpu = f", {hw['gpu_count']}x {hw['gpu_name']}" if "gpu_name" in hw else ", no GPU"
    return f"{hw['cpu_model']}, {hw['cpu_logical_cores']} logical cores, {hw['ram_gb']} GiB RAM{gpu}"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
