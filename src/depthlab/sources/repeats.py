"""Each input once, for every user source: repeated samples dropped and counted, one input with two labels
refused (or dropped where params say so).

Why: no sample may land in both the training and the test split (a repeated sample would be an overlap that
validation refuses, and a test the model has seen), and a training set cannot hold two answers for one input.
Samples are compared by their float32 features as prepared, so two images that decode to the same pixels
are one input whatever their files' bytes.

How: the features are read in chunks and each sample reduced to a 128-bit hash (two of pandas' vectorized
64-bit row hashes under different keys), so only the hashes and labels are held whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.errors import DataError
from depthlab.sources.base import Samples

CELLS_PER_CHUNK = 4_000_000  # features read at once (16 MB of float32)
HASH_KEYS = ("depthlab-hash-1a", "depthlab-hash-2b")  # pandas takes 16-character keys


def chunks(indices: np.ndarray, features: int) -> list[np.ndarray]:
    """`indices` cut into pieces of about CELLS_PER_CHUNK cells."""
    rows = max(1, CELLS_PER_CHUNK // max(features, 1))
    return [indices[start : start + rows] for start in range(0, len(indices), rows)]


def hash_rows(values: np.ndarray, key: str = HASH_KEYS[0]) -> np.ndarray:
    """A 64-bit hash of each row of `values` (rows, columns), equal for rows of equal values whatever their float
    type (validation compares a float64 column with its float32 declaration); -0.0 and 0.0 are one value."""
    frame = pd.DataFrame(values.astype(np.float64) + 0.0)
    return pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy()


def row_hashes(samples: Samples) -> pd.DataFrame:
    """Two 64-bit hashes of every sample's features, in sample order."""
    parts = []
    for rows in chunks(np.arange(len(samples)), len(samples.features)):
        values = samples.read(rows)
        parts.append({key: hash_rows(values, key) for key in HASH_KEYS})
    return pd.DataFrame({key: np.concatenate([part[key] for part in parts]) for key in HASH_KEYS})


def drop_repeats(samples: Samples, conflicting: str, setting: str) -> tuple[np.ndarray, dict[str, int]]:
    """The samples kept, as ascending indices, and what was dropped by reason. A sample repeated whole (same
    features, same label) is dropped, the first kept; where the source gives a test split (MNIST's, CIFAR-10's),
    the test copy is the one kept, so the published test set stays whole. Samples of equal features and other
    labels are refused, naming the first few, or all dropped when `conflicting` is "drop"; `setting` is the
    params key that says so (`data.csv.<name>.conflicting_labels`)."""
    table = row_hashes(samples)
    table["label"] = samples.labels
    order = np.arange(len(samples))
    if samples.given is not None:
        order = np.argsort(samples.given != "test", kind="stable")  # test samples first: they are kept
    table = table.iloc[order]
    repeated = table.duplicated(subset=[*HASH_KEYS, "label"])
    table = table[~repeated]
    dropped = {"duplicates": int(repeated.sum())}
    conflicts = table.duplicated(subset=list(HASH_KEYS), keep=False)
    if conflicts.any():
        inputs = table[conflicts].groupby(list(HASH_KEYS), sort=False).ngroups
        count, unit = int(conflicts.sum()), samples.unit
        article = "an" if unit[0] in "aeiou" else "a"
        shown = np.sort(table.index[conflicts].to_numpy())[:6].tolist()
        if conflicting == "refuse":
            raise DataError(
                f"{samples.origin}: {count} {unit}s share their features with {article} {unit} of another label "
                f"({inputs} input{'s' if inputs > 1 else ''} with two or more labels), e.g. {samples.where(shown)}: "
                "a training set cannot hold two answers for one input, and each input is kept once so that none "
                f"is in both train and test. Fix the labels, or set {setting}: drop to leave these {unit}s out"
            )
        dropped["conflicting_labels"] = count
        table = table[~conflicts]
    return np.sort(table.index.to_numpy()), dropped
