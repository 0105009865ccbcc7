"""Benchmarks: ratios measured side by side in one run, on this machine, printed with its hardware.

    python -m benchmarks.bench            (or: make bench; --only SECTION,... for some of them)

One module a benchmark, each with its `run` and its `report`:

1. `steps`: depthlab's training path at one seed (tracking and checkpointing on) vs a plain PyTorch loop;
   `gpu`: the same path on a GPU, where there is one
2. `tracking_cost`: a whole training run with MLflow tracking on vs off
3. `parallel`: one train stage with its depths in worker processes vs one at a time
4. `noop`: no-op `dvc repro` time
5. `scaling`: MNIST-1D at 5k to 1M samples and an image folder of 5,000 and 50,000 images, the data resident
   and streamed: time per sample and peak memory
6. `ensemble`: time per seed-step of ten seeds trained as one ensemble vs a plain loop training one; peak memory
7. `startup`: each stage kind on a negligible workload, this code vs the baseline commit's
8. `study`: `dvc repro` of the defaults, this code (ten seeds as ensembles) vs the baseline commit's (three
   seeds, each its own run)
9. `ray_cluster`: the default study's mlp train stage on MNIST-1D on a local Ray cluster of two one-CPU nodes vs
   the local executor's two worker processes (on 2 cores this shows Ray's overhead, not a speed-up)
10. `own_model`: a user's module stacked with torch.func vs depthlab's own stacked form, and seed by seed vs a
   plain PyTorch loop, per seed-step
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    ensemble,
    gpu,
    noop,
    own_model,
    parallel,
    ray_cluster,
    scaling,
    startup,
    steps,
    study,
    tracking_cost,
)
from benchmarks.common import quiet, with_train
from benchmarks.project import DATASET, ROOT
from depthlab import hardware
from depthlab.data import prepare
from depthlab.params import load_params

# Each section's benchmark module, in the order they run and report.
SECTIONS = {
    "steps": steps,
    "gpu": gpu,
    "tracking": tracking_cost,
    "parallel": parallel,
    "noop": noop,
    "scaling": scaling,
    "ensemble": ensemble,
    "startup": startup,
    "study": study,
    "ray": ray_cluster,
    "own_model": own_model,
}


def format_results(results: dict[str, Any]) -> str:
    lines = [f"depthlab benchmark on: {hardware.summary()}", ""]
    lines.append("(ratios: medians of ratios taken within rounds, never ratios of medians taken minutes apart;")
    lines.append(" targets 1, 3 and 6 alternate their arms back to back, target 2 runs a crossover on two cores)")
    for section, module in SECTIONS.items():
        if section in results:
            lines += module.report(results[section])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="fewer steps and repeats, smaller scaling sizes, no whole study"
    )
    parser.add_argument("--only", help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else [s for s in SECTIONS if not (args.quick and s == "study")]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    work = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    # One lr, the reference's: the benchmarks time ensembles, stages and tracking, not the choice of an lr.
    params = with_train(load_params(ROOT / "params.yaml"), lr=[0.01])
    data_dir = work / "prepared"
    quiet(lambda: prepare(params.data, DATASET, data_dir))
    step_count, repeats, tracking_repeats, parallel_repeats = (300, 1, 1, 1) if args.quick else (2000, 7, 12, 3)
    long_steps = step_count if args.quick else tracking_cost.REFERENCE_RUN_STEPS
    sizes = [5_000, 20_000] if args.quick else [5_000, 50_000, 500_000, 1_000_000]
    image_sizes = [1_000, 2_000] if args.quick else [5_000, 50_000]
    ensemble_budget_s, ensemble_repeats = (0.3, 1) if args.quick else (1.5, 7)
    cache = ROOT / ".cache" / "bench"
    work_of: dict[str, tuple[str, Callable[[], Any]]] = {
        "steps": ("step overhead", lambda: steps.run(params, data_dir, step_count, repeats)),
        "gpu": ("GPU path (if present)", lambda: gpu.run(params, data_dir, step_count)),
        "tracking": ("tracking overhead", lambda: tracking_cost.run(params, data_dir, long_steps, tracking_repeats)),
        "parallel": (
            "parallel ensembles",
            lambda: parallel.run(
                with_train(params, max_steps=step_count) if args.quick else params, data_dir, parallel_repeats
            ),
        ),
        "noop": ("no-op dvc repro", lambda: noop.run(3)),
        "scaling": (
            "scaling with data (the first run generates 1M MNIST-1D samples and 50,000 images: minutes)",
            lambda: scaling.run(sizes, image_sizes, cache, repeats=1 if args.quick else 3),
        ),
        "ensemble": (
            "ensembles vs one seed",
            lambda: ensemble.run(params, data_dir, ensemble_budget_s, ensemble_repeats),
        ),
        "startup": ("stage start-up, before and after", lambda: startup.run(1 if args.quick else 3)),
        "study": ("whole study, before and after (about 15 minutes)", study.run),
        "ray": (
            "one train stage on a local Ray cluster vs the local executor",
            lambda: ray_cluster.run(1 if args.quick else 3, args.quick),
        ),
        "own_model": (
            "a user's module: stacked with torch.func, and seed by seed",
            lambda: own_model.run(params, data_dir, step_count // 2, repeats),
        ),
    }
    results: dict[str, Any] = {}
    for key in [s for s in SECTIONS if s in chosen]:
        label, work_fn = work_of[key]
        started = time.perf_counter()
        print(f"... {label}", file=sys.stderr, flush=True)
        results[key] = work_fn()
        print(f"    {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    results["hardware"] = hardware.fingerprint()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(format_results(results))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
