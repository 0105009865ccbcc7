"""Small files of every source's format, made by the tests themselves: image folders, IDX, CIFAR-10 batches."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def class_images(count: int, size: tuple[int, int], label: int, seed: int, channels: int = 1) -> np.ndarray:
    """`count` distinct uint8 images (count, h, w[, 3]) whose brightness says their class: a model can learn it."""
    rng = np.random.default_rng(seed * 100 + label)
    base = 60 + 120 * label
    shape = (count, *size) if channels == 1 else (count, *size, channels)
    return np.clip(base + rng.integers(-50, 50, shape), 0, 255).astype(np.uint8)


def write_image_folder(
    root: Path, classes: tuple[str, ...] = ("dark", "light"), per_class: int = 60, size: tuple[int, int] = (8, 8),
    channels: int = 1, suffix: str = ".png", seed: int = 0,
) -> Path:  # fmt: skip
    """root/<class>/<i>.png: `per_class` distinct images of each class."""
    from PIL import Image

    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, pixels in enumerate(class_images(per_class, size, label, seed, channels)):
            Image.fromarray(pixels).save(root / name / f"{i:03d}{suffix}")
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file of `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(
    folder: Path, train: int = 100, test: int = 30, size: tuple[int, int] = (8, 8), gz: bool = True
) -> Path:
    """MNIST's four IDX files (10 classes) in `folder`, gzipped as published or plain."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", train, 0), ("t10k", test, 1)):
        labels = np.arange(count) % 10
        images = np.stack(
            [class_images(1, size, 0, seed * 10_000 + i)[0] // 2 + 12 * label for i, label in enumerate(labels)]
        )
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def write_cifar(folder: Path, per_batch: int = 20, test: int = 20) -> Path:
    """CIFAR-10's python batches (5 training batches, a test batch, batches.meta) of 32x32 colour images."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        count = test if name == "test_batch" else per_batch
        labels = [i % 10 for i in range(count)]
        data = np.stack(
            [class_images(1, (32, 32), 0, b * 1000 + i, 3)[0] // 2 + 12 * label for i, label in enumerate(labels)]
        )
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data.transpose(0, 3, 1, 2).reshape(count, -1),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {
        b"label_names": [
            n.encode()
            for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
        ]
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder


def source_data(section: str, name: str = "user", **entry: object):  # -> DataParams
    """The tiny profile's data params with one dataset of a user source, `data.<section>.<name>`."""
    from tests.helpers.params import make_params

    return make_params(data={"datasets": ["mnist1d", name], section: {name: entry}}).data


def damaged(good: bytes, ends: int = 64) -> st.SearchStrategy[bytes]:
    """Damaged copies of a good file: cut short, one bit flipped (in its first or last `ends` bytes, where formats
    keep their headers, footers and directories, or anywhere), or a few of its first bytes overwritten."""
    ends = min(ends, len(good))

    def flip(position: int, bit: int) -> bytes:
        return good[:position] + bytes([good[position] ^ (1 << bit)]) + good[position + 1 :]

    def overwrite(position: int, data: bytes) -> bytes:
        return (good[:position] + data + good[position + len(data) :])[: len(good)]

    anywhere = st.integers(0, ends - 1) | st.integers(len(good) - ends, len(good) - 1) | st.integers(0, len(good) - 1)
    return st.one_of(
        truncated(good),
        st.builds(flip, anywhere, st.integers(0, 7)),
        st.builds(overwrite, st.integers(0, ends - 1), st.binary(min_size=1, max_size=8)),
    )


def npz_declaring(shape: tuple[int, ...], data: bytes, name: str = "x.npy") -> bytes:
    """An .npz whose member `name` has a header declaring `shape` (float64) over `data`, and `y` of 40 labels."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(name, header.getvalue() + data)
        labels = io.BytesIO()
        np.save(labels, np.arange(40) % 2)
        zipped.writestr("y.npy", labels.getvalue())
    return archive.getvalue()


def truncated(good: bytes, tail: int = 0) -> st.SearchStrategy[bytes]:
    """A good file cut short anywhere before its last `tail` bytes (checks and markers decoders do without, after
    the last pixel: a PNG's zlib and chunk checksums and IEND chunk, a JPEG's end marker), to nothing at all."""
    return st.integers(0, len(good) - 1 - tail).map(lambda length: good[:length])


# The same cases every run (derandomize), nothing saved between runs (no .hypothesis/ folder), few enough for
# make test-fast; the examples share one tmp_path, each writing its file anew.
fuzzing = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def refused_or_read(data, named: str | Path, out: Path) -> Exception | None:  # data: DataParams
    """Prepare `data` in-process: it reads (None), or a DataError whose message holds `named` (the file) is
    returned; any other exception escapes and fails the test."""
    from depthlab.data import prepare
    from depthlab.errors import DataError

    try:
        prepare(data, "user", out)
    except DataError as refused:
        assert str(named) in str(refused), str(refused)
        return refused
    return None
