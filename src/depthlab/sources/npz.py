"""NumPy arrays in one .npz file (`data.npz.<name>`): features `x` and labels `y` (or `x_train`/`y_train`, as
Keras' mnist.npz has them), and optionally the file's own test and validation splits (`x_test`/`y_test`,
`x_val`/`y_val`), which are then kept as they are."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from depthlab.errors import DataError
from depthlab.sources.arrays import ArrayParams, shaped
from depthlab.sources.base import Samples

if TYPE_CHECKING:
    import zipfile

    import numpy as np

SPLIT_KEYS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}


class NpzParams(ArrayParams):
    layout: Literal["channels_first", "channels_last"] = Field(
        "channels_first", description="colour images (samples, c, h, w), or (samples, h, w, c) as Keras keeps them"
    )


def load(params: NpzParams, key: str) -> Samples:
    import numpy as np

    from depthlab.sources import labels

    path = params.path
    if not path.is_file():
        raise DataError(f"{path}: .npz file is missing ({key}.path)")
    arrays, held = _arrays(path)
    if "x" not in arrays and "x_train" in arrays:
        arrays["x"], arrays["y"] = arrays.pop("x_train"), arrays.pop("y_train", None)
    for name in ("x", "y"):
        if arrays.get(name) is None:
            raise DataError(f"{path}: no array '{name}' (or '{name}_train'); the file holds {held}")
    xs, ys, given = [], [], []
    for split, (x_key, y_key) in SPLIT_KEYS.items():
        if (x_key in arrays) != (y_key in arrays):
            raise DataError(f"{path}: '{x_key}' and '{y_key}' come together; the file holds {held}")
        if x_key not in arrays:
            continue
        x, y = arrays[x_key], arrays[y_key]
        if params.layout == "channels_last" and x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        if x.ndim and not len(x):
            raise DataError(
                f"{path}: '{x_key}' holds no samples (shape {x.shape}); write a split's arrays only with samples"
            )
        x = shaped(x, params.kind, path, f"'{x_key}'")
        if y.ndim != 1:
            raise DataError(f"{path}: '{y_key}' has shape {y.shape}; labels are one value per sample")
        if len(y) != len(x):
            raise DataError(f"{path}: '{x_key}' has {len(x)} samples, '{y_key}' {len(y)} labels")
        if xs and x.shape[1:] != xs[0].shape[1:]:
            raise DataError(f"{path}: '{x_key}' samples have shape {x.shape[1:]}, those of 'x' {xs[0].shape[1:]}")
        xs.append(x)
        ys.append(y)
        given += [split] * len(x)
    codes, classes = labels.encode(np.concatenate(ys), params.classes, path, "'y'")
    counted = " (counted over x, then x_val, then x_test)" if len(xs) > 1 else ""
    return Samples.of_array(
        np.concatenate(xs),
        path,
        codes,
        classes,
        given=np.array(given) if len(xs) > 1 else None,
        where=lambda rows: f"samples {list(rows)}{counted}",
    )


def _arrays(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The archive's arrays that name a split (`x`, `y_test`, ...), and the names of all its members (others
    are not read). Refuses, naming the file, what numpy would raise on or read as something else: a plain .npy
    (numpy.load reads one under any name), a file that is no zip, a damaged archive, a member that is no array."""
    import zipfile
    import zlib

    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            npy = handle.read(6) == b"\x93NUMPY"
        what = "a single .npy array, not an archive of named arrays" if npy else "not a zip archive"
        raise DataError(f"{path}: not a readable .npz file ({what}); write it with numpy.savez(path, x=..., y=...)")
    wanted = {name for pair in SPLIT_KEYS.values() for name in pair} | {"x_train", "y_train"}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist() if not info.is_dir()}
            arrays = {name: _member(archive, info, path) for name, info in members.items() if name in wanted}
    except zlib.error as err:
        raise DataError(f"{path}: not a readable .npz file (damaged compressed data: {err})") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, NotImplementedError) as err:
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    return arrays, sorted(members)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """One member's array, its header checked against the member's size first: numpy allocates what a header
    declares before it reads, so one damaged digit of a shape would ask for terabytes."""
    import numpy as np

    name = info.filename
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
        except ValueError:
            raise DataError(f"{path}: member '{name}' is not a NumPy array (numpy.savez writes .npy members)") from None
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = header(handle)
        if dtype.hasobject:
            raise DataError(
                f"{path}: member '{name}' holds Python objects (dtype {dtype}), which are not read (unpickling can "
                "run any code): save numbers, or strings for labels"
            )
        declared, stored = math.prod(shape) * dtype.itemsize, info.file_size - handle.tell()
        if declared != stored:
            raise DataError(
                f"{path}: member '{name}' declares shape {shape} of {dtype} ({declared} bytes), but holds {stored} "
                "bytes: the file is damaged; write it again"
            )
    with archive.open(info) as handle:
        return np.lib.format.read_array(handle, allow_pickle=False)
