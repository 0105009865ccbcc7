"""Labels of array sources (.npz, Parquet, MNIST, CIFAR-10) as class codes 0..k-1 and the classes' names.

Integers are class indices: with `classes` declared, label i is `classes[i]` and any label outside
0..len(classes)-1 is refused; without, the classes are the distinct labels, in order. Strings are class names:
with `classes` declared, a name not among them is refused. A CSV's labels are always names (`sources.csv`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthlab.errors import DataError


def encode(values: np.ndarray, classes: list[str] | None, origin: Path, what: str) -> tuple[np.ndarray, list[str]]:
    """(codes int64, class names); `what` names the labels in messages ("y", "column 'label'")."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{origin}: {what} has shape {values.shape}; labels are one value per sample")
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if not whole.all():
            rows = np.flatnonzero(~whole)[:3].tolist()
            raise DataError(f"{origin}: {what} holds values that are not whole numbers, e.g. at rows {rows}")
        values = values.astype(np.int64)
    if values.dtype.kind in "iu":
        return _indices(values.astype(np.int64), classes, origin, what)
    if values.dtype.kind in "OUS":
        names = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
        return _names(names, classes, origin, what)
    raise DataError(f"{origin}: {what} has dtype {values.dtype}; labels are integers or strings")


def _indices(values: np.ndarray, classes: list[str] | None, origin: Path, what: str) -> tuple[np.ndarray, list[str]]:
    if classes is None:
        present = np.unique(values)
        return np.searchsorted(present, values).astype(np.int64), [str(v) for v in present]
    outside = np.flatnonzero((values < 0) | (values >= len(classes)))
    if len(outside):
        raise DataError(
            f"{origin}: {what} has {len(outside)} labels out of range: the {len(classes)} declared classes are "
            f"0..{len(classes) - 1}, found {sorted(set(values[outside].tolist()))[:5]} (rows {outside[:3].tolist()})"
        )
    return values, list(classes)


def _names(names: np.ndarray, classes: list[str] | None, origin: Path, what: str) -> tuple[np.ndarray, list[str]]:
    known = sorted(set(names.tolist())) if classes is None else list(classes)
    codes = {name: code for code, name in enumerate(known)}
    unknown = np.flatnonzero([name not in codes for name in names])
    if len(unknown):
        raise DataError(
            f"{origin}: {what} has values outside the declared classes {known}: "
            f"{sorted(set(names[unknown].tolist()))[:5]} (rows {unknown[:3].tolist()})"
        )
    return np.array([codes[name] for name in names], dtype=np.int64), known
