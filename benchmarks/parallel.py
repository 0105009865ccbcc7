"""Target 3, parallel ensembles: one train stage with its depths in worker processes vs one at a time."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import interleaved, quiet, separate_store, verdict, with_runtime
from benchmarks.project import DATASET, sweep_of
from depthlab.params import Params
from depthlab.training import train_family

TARGET = 1.7
PARALLEL_DEPTHS = [1, 2, 3, 4]  # four ensembles that two workers split about evenly


def run(params: Params, data_dir: Path, repeats: int) -> dict[str, Any]:
    """Target 3: one train stage (mlp depths 1-4, each an ensemble of the configured seeds, at the configured
    run length, like a default train stage) in worker processes vs strictly one ensemble at a time.

    One at a time is measured with all cores' threads and with one thread; the faster is the baseline.
    """
    sweep = {**params.model_dump(mode="json"), "sweep": sweep_of("mlp", PARALLEL_DEPTHS)}

    def stage_seconds(workers: int, threads: int = 0) -> Callable[[], float]:
        configured = with_runtime(Params.model_validate(sweep), workers=workers, threads=threads)

        def measure() -> float:
            out = Path(tempfile.mkdtemp(prefix="depthlab-bench-")) / "mlp"
            previous = torch.get_num_threads()
            try:
                with separate_store():  # one at a time trains in this process: it connects to its store
                    started = time.perf_counter()
                    quiet(lambda: train_family(configured, "mlp", {DATASET: data_dir}, out))
                    return time.perf_counter() - started
            finally:
                torch.set_num_threads(previous)
                shutil.rmtree(out.parent, ignore_errors=True)

        return measure

    rounds = interleaved([stage_seconds(1), stage_seconds(1, threads=1), stage_seconds(0)], repeats)
    return {
        "sequential_all_threads_s": statistics.median(r[0] for r in rounds),
        "sequential_one_thread_s": statistics.median(r[1] for r in rounds),
        "parallel_s": statistics.median(r[2] for r in rounds),
        "depths": PARALLEL_DEPTHS,
        "seeds": len(params.train.seeds),
        "workers": min(os.cpu_count() or 1, len(PARALLEL_DEPTHS)),
        "repeats": repeats,
        "steps": params.train.max_steps,
        "speedup": statistics.median(min(r[0], r[1]) / r[2] for r in rounds),
    }


def report(p: dict[str, Any]) -> list[str]:
    # What a perfect split over the workers could reach: one thread each, against the faster one at a time.
    ceiling = min(p["sequential_all_threads_s"], p["sequential_one_thread_s"]) / (
        p["sequential_one_thread_s"] / p["workers"]
    )
    return [
        f"3. train stage, mlp depths {p['depths']} as ensembles of {p['seeds']} seeds x {p['steps']} steps"
        f" (median of {p['repeats']}):"
        f" one at a time {p['sequential_all_threads_s']:.2f}s (all threads) /"
        f" {p['sequential_one_thread_s']:.2f}s (1 thread),"
        f" {p['workers']} workers {p['parallel_s']:.2f}s, speedup {p['speedup']:.2f}x (target >= {TARGET}x)"
        f"  {verdict(p['speedup'] >= TARGET)}",
        f"   a perfect split over {p['workers']} one-thread workers would reach {ceiling:.2f}x here",
    ]
