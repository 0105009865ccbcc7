import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from depthlab.data import load_arrays, prepare
from depthlab.errors import DataError
from tests.helpers.sources import class_images, damaged, fuzzing, npz_declaring, refused_or_read, source_data, truncated


def npz_data(path, **entry):
    return source_data("npz", path=str(path), **entry)


def signals(count=100, length=12, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 3
    return rng.normal(size=(count, length)).astype(np.float32) + y[:, None], y


def test_x_and_y_make_a_sequence_dataset_split_by_params(tmp_path):
    x, y = signals()
    np.savez(tmp_path / "s.npz", x=x, y=y)
    meta = prepare(npz_data(tmp_path / "s.npz", kind="sequence"), "user", tmp_path / "out")
    assert meta.kind == "sequence" and meta.sample_shape == (12,) and meta.classes == ["0", "1", "2"]
    assert meta.rows == {"train": 70, "val": 10, "test": 20} and meta.features[:2] == ["x00", "x01"]


def test_keras_style_channels_last_images_keep_their_test_split(tmp_path):
    images = np.concatenate([class_images(30, (5, 5), label, 0, channels=3) for label in (0, 1)])
    labels = np.repeat([0, 1], 30)
    test = np.concatenate([class_images(8, (5, 5), label, 1, channels=3) for label in (0, 1)])
    np.savez(tmp_path / "k.npz", x_train=images, y_train=labels, x_test=test, y_test=np.repeat([0, 1], 8))
    data = npz_data(tmp_path / "k.npz", kind="image", layout="channels_last", classes=["cat", "dog"])
    meta = prepare(data, "user", tmp_path / "out")
    assert meta.sample_shape == (3, 5, 5) and meta.classes == ["cat", "dog"] and meta.rows["test"] == 16
    x, _ = load_arrays(tmp_path / "out", "test", meta)  # the given test split, in its order
    assert np.array_equal(x, test.transpose(0, 3, 1, 2).astype(np.float32))


def test_a_training_sample_equal_to_a_given_test_sample_is_dropped_from_training(tmp_path):
    x, y = signals()
    np.savez(tmp_path / "s.npz", x=x, y=y, x_test=x[:12], y_test=y[:12])
    meta = prepare(npz_data(tmp_path / "s.npz", kind="tabular"), "user", tmp_path / "out")
    assert meta.rows["test"] == 12 and meta.rows["train"] + meta.rows["val"] == 88
    assert meta.dropped == {"duplicates": 12}


@pytest.mark.parametrize(
    ("arrays", "entry", "message"),
    [
        ({"x": np.zeros((20, 3))}, {}, r"no array 'y' \(or 'y_train'\); the file holds \['x'\]"),
        ({"features": np.zeros((20, 3))}, {}, r"no array 'x'"),
        ({"x": np.zeros((20, 3)), "y": np.zeros(20), "x_test": np.zeros((4, 3))}, {}, "'x_test' and 'y_test' come"),
        ({"x": np.zeros((20, 3, 2)), "y": np.arange(20) % 2}, {}, r"shape \(20, 3, 2\); tabular samples need"),
        ({"x": np.eye(20), "y": np.arange(20) % 3}, {"classes": ["a", "b"]}, r"labels out of range: .* found \[2\]"),
        ({"x": np.eye(20), "y": np.arange(19) % 2}, {}, "'x' has 20 samples, 'y' 19 labels"),
        ({"x": np.full((20, 2), np.nan), "y": np.arange(20) % 2}, {}, "NaN or infinite values in 20 samples"),
        (
            {"x": np.eye(20) * 1e300, "y": np.arange(20) % 2},
            {},
            r"beyond float32's range in 20 samples \(rows \[0, 1, 2",
        ),
        ({"x": np.zeros((0, 3)), "y": np.zeros(0)}, {}, r"'x' holds no samples \(shape \(0, 3\)\)"),
    ],
    ids=[
        "missing y",
        "missing x",
        "half a split",
        "wrong shape",
        "labels out of range",
        "lengths",
        "NaN",
        "huge",
        "empty",
    ],
)
def test_a_bad_npz_is_refused_naming_the_file(tmp_path, arrays, entry, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as refused:
        prepare(npz_data(tmp_path / "bad.npz", kind="tabular", **entry), "user", tmp_path / "out")
    assert str(tmp_path / "bad.npz") in str(refused.value) and not (tmp_path / "out").exists()


def test_a_missing_or_damaged_npz_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"\.npz file is missing \(data.npz.user.path\)"):
        prepare(npz_data(tmp_path / "no.npz", kind="tabular"), "user", tmp_path / "out")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match=r"bad.npz: not a readable .npz file"):
        prepare(npz_data(tmp_path / "bad.npz", kind="tabular"), "user", tmp_path / "out")


def good_npz(path):
    x, y = signals(count=40, length=6)
    np.savez(path, x=x, y=y, x_test=x[:6] + 100, y_test=y[:6])
    return path.read_bytes()


@fuzzing
@given(content=st.data())
def test_a_damaged_npz_is_refused_naming_it_never_a_traceback(tmp_path, content):
    path = tmp_path / "d.npz"
    good = good_npz(path)
    path.write_bytes(content.draw(damaged(good)))
    refused_or_read(npz_data(path, kind="tabular"), path, tmp_path / "out")
    path.write_bytes(content.draw(truncated(good)))
    assert refused_or_read(npz_data(path, kind="tabular"), path, tmp_path / "out")


@fuzzing
@given(shape=st.lists(st.integers(0, 2**62), min_size=0, max_size=4).map(tuple))
def test_an_npz_header_declaring_any_shape_is_checked_before_memory_is_asked(tmp_path, shape):
    path = tmp_path / "h.npz"
    path.write_bytes(npz_declaring(shape, np.zeros((40, 6)).tobytes()))
    refused = refused_or_read(npz_data(path, kind="tabular"), path, tmp_path / "out")
    assert refused or shape == (40, 6)
