"""The machine a measurement was taken on, recorded by the project itself (MLflow does not record it)."""

from __future__ import annotations

import functools
import platform
from importlib.metadata import version
from pathlib import Path

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
    if info["torch"].endswith("+cpu"):  # a CPU build sees no GPU: no need to import torch (a second or two)
        return info
    import torch

    info["cuda"] = torch.version.cuda or "none"
    info["gpu_count"] = str(torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu_name"] = props.name
        info["gpu_memory_gb"] = f"{props.total_memory / 2**30:.1f}"
    return info


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
