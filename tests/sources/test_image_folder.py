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


def write_file(path, text="to do\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


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
        (lambda root: write_file(root / "notes" / "todo.txt"), {}, r"notes: class folder holds no images"),
        (
            lambda root: write_file(root / "extra" / "a.txt"),
            {"classes": ["dark", "light"]},
            r"folders \['extra'\] are not",
        ),
        (lambda root: (root / "dark" / "000.png").rename(root / "loose.png"), {}, "one folder per class"),
    ],
    ids=["missing class folder", "class folder without images", "undeclared folder", "image outside a class folder"],
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


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
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
    path.write_bytes(content.draw(truncated(good, tail={".png": 20, ".jpg": 2, ".tif": 0}[suffix])))
    assert refused_or_read(folder_data(root), named, tmp_path / "out")


def prepared_rows(data, out):
    """Every prepared sample's pixels, one row each, sorted: the folder's images whatever split they landed in."""
    meta = prepare(data, "user", out)
    x = np.concatenate([load_arrays(out, split, meta)[0] for split in ("train", "val", "test")])
    rows = x.reshape(len(x), -1)
    return meta, rows[np.lexsort(rows.T[::-1])]


def sorted_rows(images):
    rows = np.stack([image.ravel() for image in images]).astype(np.float32)
    return rows[np.lexsort(rows.T[::-1])]


RNG = np.random.default_rng(7)
PALETTE = RNG.integers(0, 256, 3 * 16).tolist()
# mode: (suffix, stored values (h, w[, bands]) -> an image, -> the pixels prepare must give, (c,) h, w; range drawn)
MODES = {
    "1": (".png", lambda a: Image.fromarray(a.astype(bool)), lambda a: a.astype(np.float32), 2),
    "L": (".png", lambda a: Image.fromarray(a.astype(np.uint8)), lambda a: a / np.float32(255), 256),
    "P": (
        ".png",
        lambda a: palette_image(a),
        lambda a: np.array(PALETTE, np.float32).reshape(-1, 3)[a].transpose(2, 0, 1) / np.float32(255),
        16,
    ),
    "LA": (
        ".png",
        lambda a: Image.fromarray(np.stack([a, 255 - a], -1).astype(np.uint8), "LA"),
        lambda a: a / np.float32(255),
        256,
    ),
    "RGBA": (
        ".png",
        lambda a: Image.fromarray(np.stack([a, a // 2, 255 - a, a], -1).astype(np.uint8), "RGBA"),
        lambda a: np.stack([a, a // 2, 255 - a]) / np.float32(255),
        256,
    ),
    "I;16": (".png", lambda a: Image.fromarray(a.astype(np.uint16)), lambda a: a / np.float32(65535), 65536),
    "I;16B": (
        ".tif",
        lambda a: Image.frombytes("I;16B", a.shape[::-1], a.astype(">u2").tobytes()),
        lambda a: a / np.float32(65535),
        65536,
    ),
    "I": (".tif", lambda a: Image.fromarray(a.astype(np.int32)), lambda a: a / np.float32(65535), 65536),
    "F": (
        ".tif",
        lambda a: Image.fromarray((a / 7 - 3).astype(np.float32)),
        lambda a: (a / 7 - 3).astype(np.float32),
        1000,
    ),
}


def palette_image(indices):
    image = Image.fromarray(indices.astype(np.uint8), "P")
    image.putpalette(PALETTE)
    return image


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_is_prepared_as_its_stored_values_scaled_by_their_own_range(tmp_path, mode):
    """16-bit by 65535 (not cut to 8 bits), float as stored; palette as its colours; alpha left out."""
    suffix, image, expected, values = MODES[mode]
    root, stored = tmp_path / "imgs", []
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(10):
            array = RNG.integers(0, values, (3, 4))
            image(array).save(root / label / f"{i}{suffix}")
            assert Image.open(root / label / f"{i}{suffix}").mode == mode
            stored.append(expected(array))
    meta, rows = prepared_rows(folder_data(root), tmp_path / "out")
    assert meta.sample_shape == stored[0].shape
    assert np.array_equal(rows, sorted_rows(stored))


def test_cmyk_becomes_rgb_as_pillow_converts_it(tmp_path):
    root, stored = tmp_path / "imgs", []
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(10):
            cmyk = RNG.integers(0, 256, (3, 4, 4))
            Image.fromarray(cmyk.astype(np.uint8), "CMYK").save(root / label / f"{i}.tif")
            stored.append((255 - cmyk[..., :3]) * (255 - cmyk[..., 3:]) / 255 / 255)  # Pillow's formula, rounded
    meta, rows = prepared_rows(folder_data(root), tmp_path / "out")
    assert meta.sample_shape == (3, 3, 4)
    expected = [image.transpose(2, 0, 1) for image in stored]
    assert np.abs(rows - sorted_rows(expected)).max() <= 0.5 / 255 + 1e-6


def test_16_bit_grayscale_among_colour_images_keeps_its_range_in_three_channels(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=10, channels=3)
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(root / "dark" / "deep.png")
    meta, rows = prepared_rows(folder_data(root), tmp_path / "out")
    assert meta.sample_shape == (3, 8, 8)
    assert np.isclose(rows, 40000 / 65535).all(axis=1).sum() == 1  # not 255 / 255, as an 8-bit cut gave


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda path: write_16_bit_rgb(path.with_suffix(".png")), "a 16-bit image with colour or alpha, which Pillow"),
        (
            lambda path: Image.fromarray(np.full((8, 8), 70000, np.int32)).save(path.with_suffix(".tif")),
            r"32-bit integer pixels from 70000 to 70000",
        ),
        (
            lambda path: Image.fromarray(np.full((8, 8), np.nan, np.float32)).save(path.with_suffix(".tif")),
            "32-bit float pixels from nan to nan",
        ),
    ],
    ids=["16-bit colour", "32-bit integers beyond 16 bits", "NaN floats"],
)
def test_pixels_that_cannot_be_kept_as_stored_are_refused_naming_the_file(tmp_path, write, message):
    root = write_image_folder(tmp_path / "imgs", per_class=10)
    write(root / "dark" / "odd")
    with pytest.raises(DataError, match=message) as refused:
        prepare(folder_data(root, unreadable="skip"), "user", tmp_path / "out")
    assert "dark/odd." in str(refused.value)


def write_16_bit_rgb(path):
    """A 16-bit RGB PNG (Pillow writes none), chunk by chunk."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + np.full((8, 3), 40000, ">u2").tobytes() for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def test_images_in_sub_folders_of_a_class_are_read_and_other_files_counted(tmp_path):
    """As torchvision's ImageFolder: every image under a class folder, at any depth. Files that are not images
    (other types, hidden names such as macOS's `._x.png`) are passed over, and counted."""
    root = write_image_folder(tmp_path / "imgs", per_class=20)
    flat = prepare(folder_data(root), "user", tmp_path / "flat")
    nested = root / "light" / "2024" / "march"
    nested.mkdir(parents=True)
    for name in ("000.png", "001.png"):
        (root / "light" / name).rename(nested / name)
    Image.new("L", (8, 8), 7).save(root / "dark" / "extra.png")
    write_file(root / "dark" / "notes.txt")
    (root / "light" / "._000.png").write_bytes(b"\0\5\26\7 AppleDouble")
    write_file(root / "README.md")
    meta = prepare(folder_data(root), "user", tmp_path / "nested")
    assert sum(meta.rows.values()) == sum(flat.rows.values()) + 1  # the moved images still read, one more
    assert meta.dropped == {"other_files": 3, "duplicates": 0}
    assert meta.dropped_text == "3 files that are not images dropped"


def test_a_folder_without_files_is_no_class_as_git_and_dvc_record_none(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=20)
    before = prepare(folder_data(root), "user", tmp_path / "before")
    (root / "grey" / "empty" / "too").mkdir(parents=True)
    (root / "light" / "nothing").mkdir()
    after = prepare(folder_data(root), "user", tmp_path / "after")
    assert after == before and after.classes == ["dark", "light"]
    with pytest.raises(
        DataError, match=r"class folder \['grey'\] missing or without files \(found \['dark', 'light'\]"
    ):
        prepare(folder_data(root, classes=["dark", "light", "grey"]), "user", tmp_path / "declared")
