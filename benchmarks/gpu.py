"""Where a GPU is present: depthlab's training path on it (Fabric picks the device), and its throughput."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchmarks.common import one_run, with_train
from depthlab.params import Params


def run(params: Params, data_dir: Path, steps: int) -> dict[str, Any] | None:
    if not torch.cuda.is_available():
        return None
    on_gpu = with_train(params, max_steps=steps, accelerator="gpu", seeds=[0])
    _, seconds = one_run(on_gpu, "mlp", 2, data_dir, torch.get_num_threads())
    return {
        "device": torch.cuda.get_device_name(0),
        "ms_per_step": 1000 * seconds / steps,
        "samples_per_s": steps * params.train.batch_size / seconds,
    }


def report(gpu: dict[str, Any] | None) -> list[str]:
    if not gpu:
        return ["   GPU: none present"]
    return [
        f"   GPU {gpu['device']}: {gpu['ms_per_step']:.3f} ms/step, {gpu['samples_per_s']:,.0f} samples/s (mlp depth 2)"
    ]
