import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from depthlab.data import load_arrays, load_meta, prepare
from depthlab.errors import DataError
from tests.helpers.sources import damaged, fuzzing, refused_or_read, source_data, truncated, write_image_folder


def folder_data(root, **entry):
    return source_data("image_folder", root=str(root), **entry)


def test_grayscale_folder_is_an_image_dataset_of_its_own_size(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=30, size=(6, 9))
    meta = prepare(folder_data(root), "user", tmp_path / "out")
    assert meta.kind == "image" and meta.sample_shape == (6, 9) and meta.classes == ["dark", "light"]
    assert sum(meta.rows.values()) == 60 and meta.dropped == {"duplicates": 0}
    x, y = load_arrays(tmp_path / "out", "train", meta)
    assert x.shape[1:] == (6, 9) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    pixels = np.asarray(Image.open(root / "light" / "000.png")) / 255  # brightness tells the classes apart
    assert x[y == 1].mean() > x[y == 0].mean() and pixels.shape == (6, 9)


def test_colour_is_inferred_and_declared_size_resamples_with_stretch(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=20, channels=3, suffix=".jpg")
    meta = prepare(folder_data(root), "user", tmp_path / "out")
    assert meta.sample_shape == (3, 8, 8) and meta.features[:2] == ["pixel_0_0_0", "pixel_0_0_1"]
    meta = prepare(folder_data(root, size=[4, 4], channels=1, resize="stretch"), "user", tmp_path / "small")
    assert meta.sample_shape == (4, 4) and load_arrays(tmp_path / "small", "test", meta)[0].shape[1:] == (4, 4)


def test_an_image_of_another_size_is_refused_naming_it_or_left_out_where_params_say(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=30)
    Image.new("L", (5, 7)).save(root / "dark" / "odd.png")
    with pytest.raises(DataError, match=r"dark/odd.png: 7x5 pixels \(height x width\), but the images are 8x8"):
        prepare(folder_data(root), "user", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    meta = prepare(folder_data(root, resize="skip"), "user", tmp_path / "out")
    assert meta.dropped["other_size"] == 1 and sum(meta.rows.values()) == 60
    assert meta.dropped_text == "1 images of another size dropped"


def test_an_unreadable_image_is_refused_naming_it_or_left_out_where_params_say(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=30)
    (root / "light" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    truncated = (root / "dark" / "000.png").read_bytes()
    (root / "dark" / "cut.png").write_bytes(truncated[: len(truncated) // 2])
    with pytest.raises(DataError, match=r"dark/cut.png: not a readable image .*unreadable: skip"):
        prepare(folder_data(root), "user", tmp_path / "out")
    meta = prepare(folder_data(root, unreadable="skip"), "user", tmp_path / "out")
    assert meta.dropped["unreadable"] == 2 and sum(meta.rows.values()) == 60


@pytest.mark.parametrize(
    ("damage", "entry", "message"),
    [
        (lambda root: None, {"classes": ["dark", "light", "grey"]}, r"class folders? \['grey'\] missing"),
        (lambda root: (root / "empty").mkdir(), {}, r"empty: class folder holds no images"),
        (lambda root: (root / "extra").mkdir(), {"classes": ["dark", "light"]}, r"folders \['extra'\] are not among"),
        (lambda root: (root / "dark" / "000.png").rename(root / "loose.png"), {}, "one folder per class"),
    ],
    ids=["missing class folder", "empty class folder", "undeclared folder", "image outside a class folder"],
)
def test_a_folder_not_in_the_imagefolder_layout_is_refused(tmp_path, damage, entry, message):
    root = write_image_folder(tmp_path / "imgs", per_class=10)
    damage(root)
    with pytest.raises(DataError, match=message):
        prepare(folder_data(root, **entry), "user", tmp_path / "out")


def test_a_missing_or_empty_root_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"imgs: image folder is missing \(data.image_folder.user.root\)"):
        prepare(folder_data(tmp_path / "imgs"), "user", tmp_path / "out")
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        prepare(folder_data(tmp_path / "imgs"), "user", tmp_path / "out")


def test_repeated_images_are_dropped_and_one_image_in_two_classes_is_refused_naming_files(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=30)
    (root / "dark" / "copy.png").write_bytes((root / "dark" / "001.png").read_bytes())
    meta = prepare(folder_data(root), "user", tmp_path / "out")
    assert meta.dropped == {"duplicates": 1} and sum(meta.rows.values()) == 60
    (root / "light" / "copy.png").write_bytes((root / "dark" / "002.png").read_bytes())
    with pytest.raises(DataError) as refused:
        prepare(folder_data(root), "user", tmp_path / "out2")
    assert "2 images share their features with an image of another label" in str(refused.value)
    assert "files ['dark/002.png', 'light/copy.png']" in str(refused.value)
    assert "data.image_folder.user.conflicting_labels: drop" in str(refused.value)
    meta = prepare(folder_data(root, conflicting_labels="drop"), "user", tmp_path / "out2")
    assert meta.dropped == {"duplicates": 1, "conflicting_labels": 2}


def test_a_folder_is_prepared_in_chunks_to_the_same_data(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from depthlab.sources import repeats

    root = write_image_folder(tmp_path / "imgs", per_class=30)
    whole = prepare(folder_data(root), "user", tmp_path / "whole")
    monkeypatch.setattr(repeats, "CELLS_PER_CHUNK", 64 * 5)  # five images a chunk
    chunked = prepare(folder_data(root), "user", tmp_path / "chunked")
    assert chunked.digest == whole.digest
    assert pq.ParquetFile(tmp_path / "chunked" / "train.parquet").num_row_groups == 9  # 42 rows
    assert load_meta(tmp_path / "chunked").rows == whole.rows


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@fuzzing
@given(content=st.data())
def test_a_damaged_image_is_refused_naming_it_never_a_traceback(tmp_path, content, suffix):
    root = tmp_path / "imgs"
    if not root.exists():  # once: the examples share tmp_path
        write_image_folder(root, per_class=10, size=(6, 6), suffix=suffix, channels=3)
        (tmp_path / "good").write_bytes((root / "dark" / f"000{suffix}").read_bytes())
    path, good = root / "dark" / f"000{suffix}", (tmp_path / "good").read_bytes()
    named = f"dark/000{suffix}"  # as the file's path, or among the files of a repeated image
    path.write_bytes(content.draw(damaged(good)))
    refused_or_read(folder_data(root), named, tmp_path / "out")
    path.write_bytes(content.draw(truncated(good, tail={".png": 20, ".jpg": 2}[suffix])))
    assert refused_or_read(folder_data(root), named, tmp_path / "out")
