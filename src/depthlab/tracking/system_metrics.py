"""CPU, memory, disk, network (and GPU) sampled on a thread into the buffers of live runs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from depthlab.tracking.run import Run


class SystemSampler:
    """MLflow's own collectors, sampled on a thread into runs' buffers.

    MLflow's SystemMetricsMonitor builds a client and reads the run back from the store at every sample, a
    cost a small model's training step notices; its collectors are cheap. The runs of one ensemble share the
    process, so each sample goes to every one of them. Metrics keep MLflow's `system/` names, so the UI shows
    them as system metrics.
    """

    def __init__(self, runs: list[Run], interval_s: float):
        from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
        from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
        from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

        self.runs = runs
        self.interval_s = interval_s
        self.monitors = [CPUMonitor(), DiskMonitor(), NetworkMonitor(), *_gpu_monitors()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="depthlab-system-metrics", daemon=True)

    def _sample(self) -> None:
        step = 0
        while True:
            metrics: dict[str, float] = {}
            for monitor in self.monitors:
                monitor.collect_metrics()
                metrics.update(monitor.aggregate_metrics())
                monitor.clear_metrics()
            for run in self.runs:
                run.log_metrics({f"system/{key}": value for key, value in metrics.items()}, step)
            step += 1
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> SystemSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _gpu_monitors() -> list[Any]:
    """MLflow's GPU collector (utilisation, memory, power, through nvidia-ml-py) where NVML sees a GPU; asked
    of the fingerprint, which reads NVML, not of torch.cuda, which would create a CUDA context here."""
    from depthlab import hardware

    if hardware.fingerprint()["gpu_count"] == "0":
        return []
    from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

    return [GPUMonitor()]
