import gzip

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from depthlab.data import load_arrays, prepare
from depthlab.errors import DataError, ParamsError
from depthlab.params import load_params
from tests.helpers.params import raw_params
from tests.helpers.sources import (
    damaged,
    fuzzing,
    idx_bytes,
    refused_or_read,
    source_data,
    truncated,
    write_cifar,
    write_idx_set,
)


def vision_data(root, dataset="mnist", **entry):
    return source_data("vision", root=str(root), dataset=dataset, **entry)


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_mnist_idx_files_in_torchvisions_layout_keep_their_test_split(tmp_path, gz):
    write_idx_set(tmp_path / "vision" / "MNIST" / "raw", train=100, test=30, gz=gz)
    meta = prepare(vision_data(tmp_path / "vision"), "user", tmp_path / "out")
    assert meta.kind == "image" and meta.sample_shape == (8, 8) and meta.classes == [str(d) for d in range(10)]
    assert meta.rows == {"train": 90, "val": 10, "test": 30}
    x, y = load_arrays(tmp_path / "out", "test", meta)
    assert x.max() <= 1 and list(y[:12]) == [*range(10), 0, 1]  # the published test set, in its order


def test_fashion_mnist_files_in_the_folder_itself_get_its_class_names(tmp_path):
    write_idx_set(tmp_path / "fashion")
    meta = prepare(vision_data(tmp_path / "fashion", dataset="fashion_mnist"), "user", tmp_path / "out")
    assert meta.classes[0] == "T-shirt/top" and meta.classes[-1] == "Ankle boot"


def test_cifar10_batches_are_colour_images(tmp_path):
    write_cifar(tmp_path / "root" / "cifar-10-batches-py")
    meta = prepare(vision_data(tmp_path / "root", dataset="cifar10"), "user", tmp_path / "out")
    assert meta.sample_shape == (3, 32, 32) and meta.classes[0] == "airplane" and meta.rows["test"] == 20
    assert sum(meta.rows.values()) == 120


def test_damaged_idx_files_and_labels_out_of_range_are_refused_naming_the_file(tmp_path):
    folder = write_idx_set(tmp_path / "m", gz=False)
    labels = folder / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.array([3, 12, 1] * 10)))
    with pytest.raises(DataError, match=r"labels out of range: the 10 declared classes are 0..9, found \[12\]"):
        prepare(vision_data(folder), "user", tmp_path / "out")
    labels.write_bytes(idx_bytes(np.arange(30) % 10)[:-5])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: IDX header declares shape \(30,\)"):
        prepare(vision_data(folder), "user", tmp_path / "out")
    labels.write_bytes(b"\x1f\x8b not gzip, not IDX")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: not an IDX file"):
        prepare(vision_data(folder), "user", tmp_path / "out")
    (folder / "train-images-idx3-ubyte").rename(folder / "elsewhere")
    with pytest.raises(DataError, match="train-images-idx3-ubyte: file is missing"):
        prepare(vision_data(folder), "user", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_bad_gzip_and_a_bad_cifar_batch_are_refused(tmp_path):
    folder = write_idx_set(tmp_path / "m")
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"x")[:-4])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: not a readable file"):
        prepare(vision_data(folder), "user", tmp_path / "out")
    cifar = write_cifar(tmp_path / "c")
    (cifar / "data_batch_3").write_bytes(b"\x80\x04 not a pickle")
    with pytest.raises(DataError, match="data_batch_3: not a readable CIFAR-10 batch"):
        prepare(vision_data(cifar, dataset="cifar10"), "user", tmp_path / "out")


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path):
    import os
    import pickle

    cifar = write_cifar(tmp_path / "c")

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (cifar / "test_batch").write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    with pytest.raises(DataError, match=r"refusing to load posix\.system"):
        prepare(vision_data(cifar, dataset="cifar10"), "user", tmp_path / "out")


def test_a_root_without_the_files_says_which_and_where_from(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no mnist files here or in .*MNIST/raw \(data.vision.user.root\): expected"):
        prepare(vision_data(tmp_path / "empty"), "user", tmp_path / "out")


def test_download_true_is_refused_when_params_are_read_saying_how_to_get_the_files(tmp_path):
    raw = raw_params(data={"datasets": ["mnist1d"], "vision": {"m": {"dataset": "mnist", "root": "data/raw/v"}}})
    raw["data"]["vision"]["m"]["download"] = True
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as refused:
        load_params(tmp_path / "params.yaml")
    message = str(refused.value)
    assert "data.vision.m: download: true is not supported" in message and "train-images-idx3-ubyte.gz" in message
    assert "into data/raw/v/MNIST/raw" in message and "set download: false" in message


def kept_copy(folder, name, write):
    """The good bytes of `folder / name` (a file `write(folder)` makes), the folder made once: the examples of a
    test share tmp_path, each damaging the file anew."""
    if not folder.exists():
        write(folder)
        (folder.parent / f"good-{name}").write_bytes((folder / name).read_bytes())
    return folder / name, (folder.parent / f"good-{name}").read_bytes()


@fuzzing
@given(content=st.data())
def test_a_damaged_idx_file_plain_or_gzipped_is_refused_naming_it_never_a_traceback(tmp_path, content):
    folder = tmp_path / "m"
    path, good = kept_copy(folder, "train-images-idx3-ubyte.gz", lambda f: write_idx_set(f, train=100, test=20))
    path.write_bytes(content.draw(damaged(good)))  # the gzip stream damaged
    refused_or_read(vision_data(folder), path, tmp_path / "out")
    path.write_bytes(gzip.compress(content.draw(damaged(gzip.decompress(good)))))  # the IDX data damaged
    refused_or_read(vision_data(folder), path, tmp_path / "out")
    path.write_bytes(gzip.compress(content.draw(truncated(gzip.decompress(good)))))
    assert refused_or_read(vision_data(folder), path, tmp_path / "out")


@fuzzing
@given(dims=st.lists(st.integers(0, 2**32 - 1), max_size=4), kind=st.sampled_from([0x08, 0x0C, 0x0E]))
def test_an_idx_header_declaring_any_shape_is_checked_before_memory_is_asked(tmp_path, dims, kind):
    folder = tmp_path / "m"
    write = lambda f: write_idx_set(f, train=100, test=20, gz=False)  # noqa: E731
    path, good = kept_copy(folder, "train-images-idx3-ubyte", write)
    path.write_bytes(bytes([0, 0, kind, len(dims)]) + np.array(dims, ">u4").tobytes() + good[16:])
    assert refused_or_read(vision_data(folder), path, tmp_path / "out") or (dims, kind) == ([100, 8, 8], 0x08)


@settings(fuzzing, max_examples=15)  # a batch read whole is prepared in about a second (3072 features to hash)
@given(content=st.data())
def test_a_damaged_cifar_batch_is_refused_naming_it_never_a_traceback(tmp_path, content):
    folder = tmp_path / "c"
    path, good = kept_copy(folder, "data_batch_1", write_cifar)
    path.write_bytes(content.draw(damaged(good)))
    refused_or_read(vision_data(folder, dataset="cifar10"), path, tmp_path / "out")
    path.write_bytes(content.draw(truncated(good)))
    assert refused_or_read(vision_data(folder, dataset="cifar10"), path, tmp_path / "out")
