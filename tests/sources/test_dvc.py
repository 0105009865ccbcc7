"""Every user source through the real pipeline: a tiny study of an image folder, an .npz, a Parquet table, MNIST's
IDX files and CIFAR-10's batches trained end to end under `dvc repro`; then bad files of each, refused by prepare
with one message naming the file (exit 3) before any training, dvc.lock and earlier outputs kept."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from PIL import Image

from tests.helpers.params import NO_SWEEP, raw_params
from tests.helpers.project import copy_project, dvc, snapshot
from tests.helpers.sources import idx_bytes, npz_declaring, write_cifar, write_idx_set, write_image_folder

pytestmark = pytest.mark.slow  # real `dvc repro`

IMAGES = ["shapes", "mnist", "cifar"]
SOURCES = {
    "shapes": ("image_folder", {"root": "data/raw/shapes"}),
    "signals": ("npz", {"path": "data/raw/signals.npz", "kind": "sequence"}),
    "table": ("parquet", {"path": "data/raw/table.parquet", "kind": "tabular", "label_column": "kind"}),
    "mnist": ("vision", {"dataset": "mnist", "root": "data/raw/vision"}),
    "cifar": ("vision", {"dataset": "cifar10", "root": "data/raw/vision"}),
}


def study_params() -> dict:
    data: dict = {"datasets": list(SOURCES)}
    for name, (section, entry) in SOURCES.items():
        data.setdefault(section, {})[name] = entry
    sweep = {
        **NO_SWEEP,
        "mlp": {"datasets": list(SOURCES), "depths": [0, 1]},
        "cnn": {"datasets": IMAGES, "depths": [1, 2]},
    }
    return raw_params(data=data, train={"seeds": [0], "max_steps": 10}, sweep=sweep)


def write_sources(raw: Path) -> None:
    write_image_folder(raw / "shapes", per_class=60)
    rng = np.random.default_rng(0)
    y = np.arange(100) % 3
    np.savez(raw / "signals.npz", x=rng.normal(size=(100, 16)) + y[:, None], y=y)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120), "kind": ["x", "y", "z"] * 40})
    frame.to_parquet(raw / "table.parquet")
    write_idx_set(raw / "vision" / "MNIST" / "raw")
    write_cifar(raw / "vision" / "cifar-10-batches-py")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources")
    copy_project(root)
    write_sources(root / "data" / "raw")
    (root / "params.yaml").write_text(yaml.safe_dump(study_params()))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    first = dvc(root, "repro")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return root


def test_a_study_of_every_source_trains_mlp_and_cnn_on_the_images(project):
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    for dataset in SOURCES:
        experiment = client.get_experiment_by_name(f"depthlab-{dataset}")
        runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "training"]
        trained = sorted((r.data.tags["family"], r.data.tags["depth"]) for r in runs)
        cnn = [("cnn", "1"), ("cnn", "2")] if dataset in IMAGES else []
        assert trained == sorted([*cnn, ("mlp", "0"), ("mlp", "1")]), dataset
        assert all(r.info.status == "FINISHED" for r in runs)
    meta = yaml.safe_load((project / "data" / "prepared" / "cifar" / "meta.json").read_text())
    assert meta["kind"] == "image" and meta["sample_shape"] == [3, 32, 32] and meta["source"] == "vision"
    assert (project / "data" / "validated" / "shapes.json").exists()
    assert "shapes" in (project / "reports" / "claims.md").read_text()


def corrupt_png(raw: Path) -> None:
    (raw / "shapes" / "light" / "017.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)


def mixed_sizes(raw: Path) -> None:
    Image.new("L", (12, 8)).save(raw / "shapes" / "dark" / "wide.png")


def empty_class(raw: Path) -> None:
    """A class folder with a file and no image in it: DVC sees the file, prepare refuses the folder. (One with no
    file at all is no class, for both: test_a_folder_without_files_is_no_class_for_dvc_and_prepare_alike.)"""
    (raw / "shapes" / "grey").mkdir()
    (raw / "shapes" / "grey" / "notes.txt").write_text("to do\n")


def npz_without_y(raw: Path) -> None:
    np.savez(raw / "signals.npz", x=np.zeros((100, 16)))


def npz_declaring_enormous_shape(raw: Path) -> None:
    """numpy would allocate what the header declares (terabytes) before reading."""
    (raw / "signals.npz").write_bytes(npz_declaring((10**12, 16), np.zeros((100, 16)).tobytes()))


def other_size_test_images(raw: Path) -> None:
    folder = raw / "vision" / "MNIST" / "raw"
    write_idx_set(raw / "other", size=(10, 10))
    (raw / "other" / "t10k-images-idx3-ubyte.gz").replace(folder / "t10k-images-idx3-ubyte.gz")


def garbage_parquet(raw: Path) -> None:
    (raw / "table.parquet").write_bytes(b"PAR1 this is not parquet PAR1")


def labels_out_of_range(raw: Path) -> None:
    (raw / "vision" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    (raw / "vision" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(30) % 11))


def damaged_cifar(raw: Path) -> None:
    batch = raw / "vision" / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:100])


CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "corrupt image": (corrupt_png, "shapes", "data/raw/shapes/light/017.png: not a readable image"),
    "mixed sizes": (mixed_sizes, "shapes", "data/raw/shapes/dark/wide.png: 8x12 pixels (height x width), but the"),
    "class folder without images": (empty_class, "shapes", "data/raw/shapes/grey: class folder holds no images"),
    "npz missing a key": (npz_without_y, "signals", "data/raw/signals.npz: no array 'y' (or 'y_train')"),
    "npz header declaring an enormous shape": (
        npz_declaring_enormous_shape,
        "signals",
        "data/raw/signals.npz: member 'x.npy' declares shape (1000000000000, 16) of float64",
    ),
    "bad parquet": (garbage_parquet, "table", "data/raw/table.parquet: not a readable Parquet file"),
    "labels out of range": (labels_out_of_range, "mnist", "labels out of range: the 10 declared classes are 0..9"),
    "damaged CIFAR-10 batch": (damaged_cifar, "cifar", "data_batch_2: not a readable CIFAR-10 batch"),
    "test images of another size": (
        other_size_test_images,
        "mnist",
        "t10k-images-idx3-ubyte holds 10x10 images (height x width), the training images are 8x8",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_files_of_each_source_are_refused_before_training_and_lose_nothing(project, case, tmp_path):
    damage, dataset, message = CASES[case]
    raw = project / "data" / "raw"
    kept = tmp_path / "raw"
    subprocess.run(["cp", "-a", str(raw), str(kept)], check=True)
    before, stage = snapshot(project), f"prepare@{dataset}"
    locked = lock_entry(project, stage)
    damage(raw)
    try:
        done = dvc(project, "repro")
    finally:
        subprocess.run(["rm", "-rf", str(raw)], check=True)
        subprocess.run(["cp", "-a", str(kept), str(raw)], check=True)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"'prepare@{dataset}'" in done.stderr and "exited with 3" in done.stderr
    assert "Running stage 'train@" not in done.stdout
    # Every prepare stage depends on data/raw: those DVC ran before the failing one are recorded anew in dvc.lock
    # (with the same outputs); the failing stage's entry and every output stay as they were.
    assert lock_entry(project, stage) == locked
    assert {k: v for k, v in snapshot(project).items() if k != "dvc.lock"} == {
        k: v for k, v in before.items() if k != "dvc.lock"
    }


def lock_entry(project: Path, stage: str) -> dict:
    return yaml.safe_load((project / "dvc.lock").read_text())["stages"][stage]


def test_download_true_is_refused_with_where_to_get_the_files(project):
    before = snapshot(project)
    raw = study_params()
    raw["data"]["vision"]["mnist"]["download"] = True
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    try:
        done = dvc(project, "repro")
    finally:
        (project / "params.yaml").write_text(yaml.safe_dump(study_params()))
    assert done.returncode != 0 and "exited with 2" in done.stderr
    assert "data.vision.mnist: download: true is not supported" in done.stderr
    assert "into data/raw/vision/MNIST/raw" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(project) == before


def test_a_folder_without_files_is_no_class_for_dvc_and_prepare_alike(tmp_path):
    """DVC hashes no empty folder (nor does git keep one), so prepare reads none as a class: whichever comes first,
    the folder with an empty class folder or the one without, `dvc status` stays clean when the other follows and
    a forced run prepares the same data. What prepare reads is what DVC hashes."""
    copy_project(tmp_path)
    shapes = write_image_folder(tmp_path / "data" / "raw" / "shapes", per_class=30)
    (shapes / "grey" / "2024").mkdir(parents=True)  # damaged first: an empty class folder, an empty folder in it
    data = {"datasets": ["shapes"], "image_folder": {"shapes": {"root": "data/raw/shapes"}}}
    params = raw_params(data=data, sweep={**NO_SWEEP, "mlp": {"datasets": ["shapes"], "depths": [0]}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)

    def prepared(*args: str) -> dict:
        done = dvc(tmp_path, "repro", *args, "prepare@shapes")
        assert done.returncode == 0, done.stderr[-2000:]
        return yaml.safe_load((tmp_path / "data" / "prepared" / "shapes" / "meta.json").read_text())

    def clean() -> bool:
        done = dvc(tmp_path, "status", "prepare@shapes")
        return done.returncode == 0 and "up to date" in done.stdout

    with_empty = prepared()
    assert with_empty["classes"] == ["dark", "light"] and sum(with_empty["rows"].values()) == 60
    subprocess.run(["rm", "-r", str(shapes / "grey")], check=True)  # then good
    assert clean() and prepared("--force") == with_empty
    (shapes / "grey").mkdir()  # good, then damaged again
    assert clean() and prepared("--force") == with_empty
    (shapes / "grey" / "notes.txt").write_text("to do\n")  # a file: DVC sees it, prepare refuses the folder
    assert not clean()
    refused = dvc(tmp_path, "repro", "prepare@shapes")
    assert "data/raw/shapes/grey: class folder holds no images" in refused.stderr and "exited with 3" in refused.stderr
