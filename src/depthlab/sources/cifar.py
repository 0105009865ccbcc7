"""CIFAR-10's python batches (`cifar-10-batches-py/`: data_batch_1..5, test_batch, batches.meta).

Each batch is a pickle of a dict: b"data", uint8 rows of 3072 values (1024 red, 1024 green, 1024 blue, each
32x32 row-major), and b"labels". Unpickled with only the numpy names such a batch needs: a pickle can run
any code, and a batch file is data.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from depthlab.errors import DataError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_pickle(path: Path) -> dict[bytes, Any]:
    try:
        with path.open("rb") as handle:
            loaded = _DataOnly(handle, encoding="bytes").load()
    except Exception as err:  # unpickling damaged bytes raises any type (pickle's documentation says so)
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from None
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (a {type(loaded).__name__}, not a dict)")
    return {k.encode() if isinstance(k, str) else k: v for k, v in loaded.items()}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3, 32, 32), labels (n,)) of one batch file."""
    batch = load_pickle(path)
    if b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: a CIFAR-10 batch holds b'data' and b'labels'; this one {sorted(batch)}")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != data.shape[:1]:
        raise DataError(
            f"{path}: data of shape {data.shape} ({data.dtype}) and labels of shape {labels.shape}; expected "
            "(n, 3072) unsigned bytes and n labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def label_names(folder: Path, default: list[str]) -> list[str]:
    meta = folder / "batches.meta"
    if not meta.exists():
        return default
    names = load_pickle(meta).get(b"label_names", default)
    if not isinstance(names, list) or len(names) != len(default) or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{meta}: label_names is not a list of {len(default)} names")
    return [n.decode(errors="replace") if isinstance(n, bytes) else n for n in names]
