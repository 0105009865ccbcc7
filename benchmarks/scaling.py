"""Target 5, scaling with data: MNIST-1D at 5k to 1M samples and an image folder of 5,000 and 50,000 images, the
data resident and streamed: time per sample and peak memory. Each measurement runs in a fresh process
(`python -m benchmarks.scaling SPEC`)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from benchmarks.common import PeakMemory, interleaved, private_mb, quiet, rss_mb, verdict
from benchmarks.project import ROOT
from depthlab.data import load_arrays, prepare
from depthlab.families import build_network
from depthlab.params import Params, load_params

TARGET = 1.2
# The arms: runtime.device_data_mb for data kept whole in memory, and for data streamed from a mapped file.
SCALING_ARMS = {"resident": "auto", "streamed": 0}
# A small set trains for several epochs: its one epoch (a tenth of a second for 5,000 samples) is too short to
# time on this shared machine, and what is compared is the cost of a sample, not of an epoch's start.
SCALING_MIN_STEPS = 2000


def run(sizes: list[int], image_sizes: list[int], cache: Path, repeats: int) -> dict[str, Any]:
    """Target 5: the training loop over MNIST-1D of each size and over an image folder's images (`one_epoch`),
    with the data resident in memory and streamed from a memory-mapped .npy file (`runtime.device_data_mb: 0`),
    each in a fresh process for a clean peak-memory reading. Smaller sizes are the first rows of the largest.

    In `repeats` rounds of every measurement, the order rotated (`interleaved`): a size's figures are the
    medians of its rounds, and a ratio between sizes the median of the ratios within rounds."""
    sets = [
        ("mnist1d", mnist1d_arrays(max(sizes), cache), "sequence", sizes),
        ("images", image_folder_arrays(max(image_sizes), cache), "image", image_sizes),
    ]
    specs = [
        {"data": name, "folder": str(folder), "samples": count, "arm": arm, "kind": kind}
        for name, folder, kind, counts in sets
        for count in counts
        for arm in SCALING_ARMS
    ]
    rounds = interleaved([functools.partial(_epoch_in_child, spec) for spec in specs], repeats)
    rows = []
    for index, spec in enumerate(specs):
        measured = [results[index] for results in rounds]
        row = {key: spec[key] for key in ("data", "samples", "arm")}
        rows.append(row | {key: statistics.median(m[key] for m in measured) for key in measured[0]})
    ratios = []
    for name, _, _, counts in sets:
        for arm in SCALING_ARMS:
            smallest, largest = (
                specs.index(next(s for s in specs if (s["data"], s["samples"], s["arm"]) == (name, count, arm)))
                for count in (min(counts), max(counts))
            )
            per_round = [r[largest]["us_per_sample"] / r[smallest]["us_per_sample"] for r in rounds]
            ratios.append({"data": name, "arm": arm, "smallest": min(counts), "largest": max(counts)})
            ratios[-1]["ratio"] = statistics.median(per_round)
    return {"rows": rows, "ratios": ratios, "repeats": repeats}


def _epoch_in_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scaling", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mnist1d_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    size, seed = args
    config = get_dataset_args()
    config.num_samples, config.seed, config.train_split = size, seed, 1.0
    data = make_dataset(config)
    return data["x"].astype(np.float32), data["y"].astype(np.int64)


def mnist1d_arrays(size: int, cache: Path, chunk: int = 25_000) -> Path:
    """A folder of x.npy and y.npy: MNIST-1D of `size` samples from the official generator, in chunks of
    `chunk` samples (seeds 42, 43, ...) on every core; kept under `cache`, named by those parameters. The
    generator is pure Python: 1M samples take about 260 s of CPU (measured), so they are made once."""
    folder = cache / f"mnist1d-{size}-chunk{chunk}-seed42"
    if not (folder / "y.npy").exists():
        started = time.perf_counter()
        jobs = [(min(chunk, size - start), 42 + i) for i, start in enumerate(range(0, size, chunk))]
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            parts = list(pool.map(_mnist1d_chunk, jobs))
        _save_arrays(folder, np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
        print(f"    generated {size:,} MNIST-1D samples in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return folder


def image_folder_arrays(count: int, cache: Path, size: int = 28) -> Path:
    """A folder of x.npy and y.npy: an image folder of `count` distinct size x size grayscale PNGs written by
    `benchmarks.data_memory`, prepared by the image_folder source, its splits together; kept under `cache`."""
    from benchmarks.data_memory import write_images
    from depthlab.presets import merged

    folder = cache / f"image-folder-{count}-{size}px"
    if not (folder / "y.npy").exists():
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_images(Path(tmp) / "images", count, size)
            raw = yaml.safe_load((ROOT / "params.yaml").read_text())
            datasets = [*raw["data"]["datasets"], "images"]
            entry = {"datasets": datasets, "image_folder": {"images": {"root": str(Path(tmp) / "images")}}}
            params = Params.model_validate(merged(raw, {"data": entry}))
            meta = quiet(lambda: prepare(params.data, "images", Path(tmp) / "prepared"))
            splits = [load_arrays(Path(tmp) / "prepared", split, meta) for split in ("train", "val", "test")]
        _save_arrays(folder, np.concatenate([x for x, _ in splits]), np.concatenate([y for _, y in splits]))
        print(f"    wrote and prepared {count:,} images in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return folder


def _save_arrays(folder: Path, x: np.ndarray, y: np.ndarray) -> None:
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.save(partial / "x.npy", x)
    np.save(partial / "y.npy", y)
    partial.rename(folder)


def one_epoch(spec: dict[str, Any]) -> dict[str, Any]:
    """Child of `run`: the real training loop (mlp depth 2, one seed, one thread) on the first `rows`
    samples of a folder's arrays, a tenth held out for validation, for an epoch or SCALING_MIN_STEPS steps,
    whichever is more; the data read into memory (resident) or memory-mapped and streamed. Time and peak
    memory."""
    import lightning_fabric as L

    from depthlab.families import DataShape
    from depthlab.training import Classifier, fit
    from depthlab.training.loop import Schedule, TrainingData

    params = load_params(ROOT / "params.yaml")
    torch.set_num_threads(1)  # as a train stage's workers; and steadier on a shared machine
    folder, rows, arm = Path(spec["folder"]), spec["samples"], spec["arm"]
    before, before_private = rss_mb(), private_mb()
    mapped = np.load(folder / "x.npy", mmap_mode="c")[:rows]
    x = mapped if arm == "streamed" else np.array(mapped)
    y = np.load(folder / "y.npy")[:rows]
    held_out = rows // 10
    train_xy, val_xy = (x[held_out:], y[held_out:]), (x[:held_out], y[:held_out])
    data_mb = (x.nbytes + y.nbytes) / 2**20
    batch, rows_trained = params.train.batch_size, len(train_xy[1])
    epoch_steps = -(-rows_trained // batch)
    steps = max(epoch_steps, SCALING_MIN_STEPS)
    epochs, extra = divmod(steps, epoch_steps)
    samples = epochs * rows_trained + min(extra * batch, rows_trained)
    shape = DataShape(kind=spec["kind"], sample_shape=x.shape[1:], num_classes=int(y.max()) + 1)
    module = Classifier(build_network(params.models, "mlp", 2, shape), 1, params.train.grid[0], 0.0)
    cfg = params.train.model_copy(update={"max_steps": steps})
    fabric = L.Fabric(accelerator="cpu", devices=1)
    with PeakMemory() as peak:
        started = time.perf_counter()
        state = fit(
            fabric=fabric,
            module=module,
            data=TrainingData(train_xy, val_xy, (0,), device_data_mb=SCALING_ARMS[arm]),
            schedule=Schedule.of(cfg, cfg.max_steps),
        )
        seconds = time.perf_counter() - started
    assert state.residence == arm, state.residence_note
    return {
        "train_samples": rows_trained,
        "steps": steps,
        "seconds": seconds,
        "us_per_sample": 1e6 * seconds / samples,
        "data_mb": data_mb,
        "peak_rss_mb": peak.mb,
        # What training holds privately beyond the process and the data it was given (resident: in memory).
        "peak_private_beyond_mb": peak.private_mb - before_private - (data_mb if arm == "resident" else 0),
        "before_mb": before,
    }


def report(scaling: dict[str, Any]) -> list[str]:
    lines = [
        "5. training by data size, mlp depth 2, one seed, one torch thread, tracking off, for an epoch or",
        f"   {SCALING_MIN_STEPS} steps (whichever is more): the data resident in memory, and streamed from a",
        "   memory-mapped .npy (runtime.device_data_mb: 0); peak memory: resident set (RSS, mapped pages included)",
        "   and what training holds privately beyond the process and, resident, its data (medians of"
        f" {scaling['repeats']} rounds):",
    ]
    for row in scaling["rows"]:
        lines.append(
            f"   {row['data']:<8} {row['samples']:>9,} samples, {row['data_mb']:6.1f} MB, {row['arm']:<8}"
            f" {row['seconds']:6.2f}s {row['us_per_sample']:6.2f} us/sample, peak RSS {row['peak_rss_mb']:5.0f} MB,"
            f" private beyond {row['peak_private_beyond_mb']:5.1f} MB"
        )
    for r in scaling["ratios"]:
        lines.append(
            f"   {r['data']} {r['arm']}: cost per sample at {r['largest']:,} / at {r['smallest']:,} samples"
            f" {r['ratio']:.2f}x (flat: <= {TARGET}x)  {verdict(r['ratio'] <= TARGET)}"
        )
    return lines


if __name__ == "__main__":
    print(json.dumps(one_epoch(json.loads(sys.argv[1]))))
