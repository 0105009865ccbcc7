"""NumPy arrays in one .npz file (`data.npz.<name>`): features `x` and labels `y` (or `x_train`/`y_train`, as
Keras' mnist.npz has them), and optionally the file's own test and validation splits (`x_test`/`y_test`,
`x_val`/`y_val`), which are then kept as they are."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from depthlab.errors import DataError
from depthlab.sources.arrays import ArrayParams, shaped
from depthlab.sources.base import Samples

SPLIT_KEYS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}


class NpzParams(ArrayParams):
    layout: Literal["channels_first", "channels_last"] = Field(
        "channels_first", description="colour images (samples, c, h, w), or (samples, h, w, c) as Keras keeps them"
    )


def load(params: NpzParams, key: str) -> Samples:
    import zipfile

    import numpy as np

    from depthlab.sources import labels

    path = params.path
    if not path.is_file():
        raise DataError(f"{path}: .npz file is missing ({key}.path)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    if "x" not in arrays and "x_train" in arrays:
        arrays["x"], arrays["y"] = arrays.pop("x_train"), arrays.pop("y_train", None)
    for name in ("x", "y"):
        if arrays.get(name) is None:
            raise DataError(f"{path}: no array '{name}' (or '{name}_train'); the file holds {sorted(arrays)}")
    xs, ys, given = [], [], []
    for split, (x_key, y_key) in SPLIT_KEYS.items():
        if (x_key in arrays) != (y_key in arrays):
            raise DataError(f"{path}: '{x_key}' and '{y_key}' come together; the file holds {sorted(arrays)}")
        if x_key not in arrays:
            continue
        x, y = arrays[x_key], arrays[y_key]
        if params.layout == "channels_last" and x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        x = shaped(x, params.kind, path, f"'{x_key}'")
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
