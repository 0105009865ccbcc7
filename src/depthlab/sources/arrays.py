"""What the array sources (.npz, Parquet) share: a declared sample kind checked against the arrays' shape,
finite features, and the same options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from depthlab.errors import DataError
from depthlab.sources.base import Kind, SourceParams

if TYPE_CHECKING:
    import numpy as np


class ArrayParams(SourceParams):
    path: Path
    kind: Kind = Field(description="what one sample is: tabular, sequence or image (decides the families)")
    classes: list[str] | None = Field(
        None, min_length=2, description="class names: integer label i is classes[i]; null: the distinct labels"
    )
    standardize: bool = Field(False, description="scale features by the training split's mean and std")

    @property
    def inputs(self) -> list[Path]:
        return [self.path]


def shaped(x: np.ndarray, kind: Kind, origin: Path, what: str) -> np.ndarray:
    """x (samples, *sample) as the kind wants it: tabular and sequence samples are 1-D; an image is
    (height, width) or (channels, height, width), a single channel squeezed away. Refuses other shapes and
    values that are not finite numbers."""
    import numpy as np

    if x.dtype.kind not in "biuf":
        raise DataError(f"{origin}: {what} has dtype {x.dtype}; features are numbers")
    wanted = {"tabular": (2,), "sequence": (2,), "image": (3, 4)}[kind]
    if x.ndim not in wanted:
        form = "(samples, features)" if kind != "image" else "(samples, height, width) or (samples, channels, h, w)"
        raise DataError(f"{origin}: {what} has shape {x.shape}; {kind} samples need {form}")
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        if len(bad):
            rows = bad[:3].tolist()
            raise DataError(f"{origin}: {what} has NaN or infinite values in {len(bad)} samples (rows {rows})")
        large = np.flatnonzero((np.abs(x.reshape(len(x), -1)) > np.finfo(np.float32).max).any(axis=1))
        if len(large):  # float64 beyond float32's range: prepared data is float32, where they would be infinite
            raise DataError(
                f"{origin}: {what} has values beyond float32's range in {len(large)} samples (rows "
                f"{large[:3].tolist()}); prepared data is float32"
            )
    return x
