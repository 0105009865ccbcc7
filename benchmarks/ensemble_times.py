"""Seconds per ensemble, side by side on several datasets: what sizes a study or a preset before it is run
(docs/performance.md, "Sizing a study").

    python -m benchmarks.ensemble_times --datasets mnist,mnist1d --configs mlp:0,2,8 cnn:1,3 --steps 800

Each dataset is prepared once from params.yaml (with `--train-rows`, subsampled as `train.train_rows` does);
then, per (family, depth), on each dataset in turn (so that datasets are compared at one load of the machine),
the two ensembles a configuration trains are timed one after the other in
this process on one torch thread, as a train stage's worker trains them: the lr grid's (every lr of
`train.lr` on each selection seed) and the final one (every seed of `train.seeds`), each for `--steps` steps.
Tracking is off (MLflow's share of a run is measured apart: docs/performance.md), so a stage's ensemble takes
somewhat longer. The load average is printed before and after each line: the machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import yaml

from depthlab.data import prepare
from depthlab.families import FAMILIES
from depthlab.params import PARAMS_FILE, DataParams, Params
from depthlab.presets import merged
from depthlab.records import GRID
from depthlab.training import ensemble_job, train_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="mnist,mnist1d", help="comma-separated names of data.datasets")
    parser.add_argument("--configs", nargs="+", default=["mlp:0,2,8"], help="family:depth,depth ...")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--train-rows", type=int, default=None, help="a subsample of the training split")
    parser.add_argument("--override", default="{}", help="JSON merged into params.yaml (e.g. a preset's data)")
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    configs = {family: [int(d) for d in depths.split(",")] for family, depths in (c.split(":") for c in args.configs)}
    raw = merged(yaml.safe_load(PARAMS_FILE.read_text()), json.loads(args.override))
    raw = merged(raw, {"data": {"datasets": datasets}})
    kinds = {dataset: DataParams.model_validate(raw["data"]).kind(dataset) for dataset in datasets}
    sweep = {  # each family on the datasets it can model
        family: {"datasets": [d for d in datasets if kinds[d] in FAMILIES[family].sample_kinds], "depths": depths}
        for family, depths in configs.items()
    }
    raw = merged(
        raw,
        {
            "train": {"max_steps": args.steps, "train_rows": args.train_rows},
            "tracking": {"enabled": False},
            "sweep": {family: sweep.get(family, {"datasets": [], "depths": []}) for family in raw["sweep"]},
        },
    )
    params = Params.model_validate(raw)
    with tempfile.TemporaryDirectory(prefix="depthlab-ensembles-") as work:
        folders = {dataset: Path(work) / "prepared" / dataset for dataset in datasets}
        for dataset, folder in folders.items():
            prepare(params.data, dataset, folder)
        for family, depths in configs.items():  # the datasets of a configuration back to back: one load
            for depth in depths:
                for dataset, folder in folders.items():
                    if params.depths(dataset, family):
                        print(json.dumps(time_configuration(params, dataset, family, depth, folder)), flush=True)


def time_configuration(params: Params, dataset: str, family: str, depth: int, data_dir: Path) -> dict[str, object]:
    """The seconds of a configuration's grid ensemble and of its final ensemble, with the load around them."""
    final, data = ensemble_job(params, dataset, family, depth, data_dir, data_dir.parent / "out")
    grid = [(seed, lr) for seed in params.train.selection_seeds() for lr in params.train.grid]
    jobs = {"grid": dataclasses.replace(final, members=tuple(grid), phase=GRID), "final": final}
    load_before = os.getloadavg()[0]
    seconds = {}
    for name, job in jobs.items():
        started = time.perf_counter()
        train_ensemble(job, data)
        seconds[name] = round(time.perf_counter() - started, 1)
    return {
        "dataset": dataset,
        "family": family,
        "depth": depth,
        "steps": final.max_steps,
        "train_rows": final.train_rows,
        "members": {name: len(job.members) for name, job in jobs.items()},
        "seconds": seconds,
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


if __name__ == "__main__":
    main()
