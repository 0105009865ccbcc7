"""Peak memory and time of prepare, validate and the train stage's reading of the data, on data larger than
the study's: an image folder of small PNGs and MNIST-1D at many samples (docs/performance.md, "Memory of
prepare and validate", "Training data larger than memory").

    python -m benchmarks.data_memory                 # 50,000 images of 28x28 and MNIST-1D at 1,000,000 samples
    python -m benchmarks.data_memory --images 5000 --mnist1d 20000   # a quick look

Each stage runs in a fresh process, as under DVC, and reports its own peak resident memory (ru_maxrss). `load`
is the train stage's `load_study_data` (tracking off: MLflow's imports are not the data's), reading the data
into memory; `load-mapped` the same over `runtime.device_data_mb: 0`, writing the memory-mapped copy a first
train stage writes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.project import ROOT

STAGE = """
import json, resource, sys, time
from pathlib import Path
import yaml
from depthlab.params import Params
from depthlab.presets import merged
stage, dataset, override, work = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4])
params = Params.model_validate(merged(yaml.safe_load(Path(sys.argv[5]).read_text()), override))
started = time.perf_counter()
if stage == "prepare":
    from depthlab.data import prepare
    prepare(params.data, dataset, work / "prepared" / dataset)
elif stage == "validate":
    from depthlab.validation import validate
    validate(work / "prepared" / dataset, params.validation, work / "report" / dataset)
else:
    from depthlab.training import load_study_data
    load_study_data(params, dataset, work / "prepared" / dataset, work / "arrays")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak}))
"""


def write_images(root: Path, count: int, size: int = 28, classes: int = 10) -> None:
    """`count` distinct grayscale PNGs of size x size, in `classes` class folders."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(classes):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.clip(rng.integers(0, 200, (count // classes, size, size)) + 5 * label, 0, 255).astype(np.uint8)
        for i, image in enumerate(pixels):
            Image.fromarray(image).save(root / str(label) / f"{i:05d}.png")


def measure(dataset: str, override: dict, work: Path) -> None:
    untracked = {**override, "tracking": {"enabled": False}}
    mapped = {**untracked, "runtime": {"device_data_mb": 0}}
    for stage, settings in (
        ("prepare", override),
        ("validate", override),
        ("load", untracked),
        ("load-mapped", mapped),
    ):
        done = subprocess.run(
            [sys.executable, "-c", STAGE, stage, dataset, json.dumps(settings), str(work), str(ROOT / "params.yaml")],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{dataset:>8} {stage:<11} {result['seconds']:7.1f} s  peak {result['peak_mb']:7.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--mnist1d", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_images(work / "images", args.images)
        datasets = ["mnist1d", "digits", "breast_cancer", "images"]
        folder = {"data": {"datasets": datasets, "image_folder": {"images": {"root": str(work / "images")}}}}
        measure("images", folder, work)
        measure("mnist1d", {"data": {"mnist1d": {"num_samples": args.mnist1d}}}, work)


if __name__ == "__main__":
    main()
