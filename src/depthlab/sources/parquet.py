"""A Parquet table (`data.parquet.<name>`): a label column and numeric feature columns, or one list column
holding each sample's sequence; an image's pixels reshaped to a declared `sample_shape`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from depthlab.errors import DataError
from depthlab.sources.arrays import ArrayParams, shaped
from depthlab.sources.base import Samples

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


class ParquetParams(ArrayParams):
    label_column: str = "label"
    features: list[str] | None = Field(
        None, min_length=1, description="the feature columns, in order; null: every column but the label"
    )
    sample_shape: list[int] | None = Field(
        None, description="image samples: [height, width] or [channels, height, width] of each row's features"
    )
    index_columns: Literal["drop", "refuse"] = Field(
        "drop",
        description="columns that hold a pandas index (the file's pandas metadata names them, as to_parquet writes "
        "a filtered frame's): leave them out of the features (counted), or refuse the file; `features` decides alone",
    )

    @model_validator(mode="after")
    def _images_have_a_shape(self) -> ParquetParams:
        if self.kind == "image" and not (self.sample_shape and len(self.sample_shape) in (2, 3)):
            raise ValueError("kind image needs sample_shape: [height, width] or [channels, height, width]")
        return self


def load(params: ParquetParams, key: str) -> Samples:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from depthlab.sources import labels

    path, label = params.path, params.label_column
    if not path.is_file():
        raise DataError(f"{path}: Parquet file is missing ({key}.path)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from None
    columns = table.column_names
    if label not in columns:
        raise DataError(f"{path}: label column '{label}' ({key}.label_column) not found; columns are {columns}")
    index = [c for c in _pandas_index(table, path) if c != label] if params.features is None else []
    if index and params.index_columns == "refuse":
        raise DataError(
            f"{path}: columns {index} hold a pandas index (the file's pandas metadata says so: to_parquet writes the "
            f"index of a filtered or re-indexed frame), not features: set {key}.index_columns: drop to leave them "
            "out, list the features in features, or write the file with index=False"
        )
    features = params.features or [c for c in columns if c != label and c not in index]
    missing = [c for c in features if c not in columns]
    if missing or not features:
        wanted = missing or features
        raise DataError(f"{path}: feature columns {wanted} ({key}.features) not found; columns are {columns}")
    if table.num_rows == 0:
        raise DataError(f"{path}: the table has no rows")
    for column in [*features, label]:
        nulls = table.column(column).null_count
        if nulls:
            rows = np.flatnonzero(table.column(column).is_null().to_numpy(zero_copy_only=False))[:3].tolist()
            raise DataError(f"{path}: column '{column}' has {nulls} empty values (rows {rows})")
    first = table.schema.field(features[0]).type
    if len(features) == 1 and (pa.types.is_list(first) or pa.types.is_fixed_size_list(first)):
        x = _sequences(table.column(features[0]).combine_chunks(), path, features[0])
        names = [f"{features[0]}_{i:0{len(str(x.shape[1] - 1))}d}" for i in range(x.shape[1])]
    else:
        x = _numeric(table, features, path)
        names = list(features)
    if params.sample_shape:
        if int(np.prod(params.sample_shape)) != x.shape[1]:
            raise DataError(f"{path}: {x.shape[1]} features per row do not make sample_shape {params.sample_shape}")
        x = x.reshape(len(x), *params.sample_shape)
        names = None
    x = shaped(x, params.kind, path, "the features")
    codes, classes = labels.encode(table.column(label).to_numpy(), params.classes, path, f"column '{label}'")
    dropped = {"index_columns": len(index)} if index else {}
    return Samples.of_array(x, path, codes, classes, dropped=dropped, **({"features": names} if names else {}))


def _pandas_index(table: pa.Table, path: Path) -> list[str]:
    """The columns the pandas metadata marks as the frame's index (`__index_level_0__`, or a named index); a
    RangeIndex is kept in the metadata alone, as no column."""
    try:
        metadata = table.schema.pandas_metadata or {}
        return [c for c in metadata.get("index_columns", []) if isinstance(c, str) and c in table.column_names]
    except (ValueError, AttributeError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        raise DataError(f"{path}: the file's pandas metadata is damaged ({type(err).__name__}: {err})") from None


def _sequences(column: pa.Array, path: Path, name: str) -> np.ndarray:
    """A list column as (rows, length): every row's list must have the same length."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_fixed_size_list(column.type):
        column = column.cast(pa.list_(column.type.value_type))
    lengths = np.diff(column.offsets.to_numpy())
    if len(set(lengths.tolist())) > 1:
        rows = np.flatnonzero(lengths != lengths[0])[:3].tolist()
        raise DataError(
            f"{path}: column '{name}' holds sequences of {sorted(set(lengths.tolist()))[:5]} values; a sequence "
            f"column needs one length (row 0 has {lengths[0]}, rows {rows} other lengths)"
        )
    values = column.flatten()
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)) or values.null_count:
        raise DataError(f"{path}: column '{name}' must hold lists of numbers without empty values")
    return values.to_numpy().reshape(len(column), int(lengths[0]))


def _numeric(table: pa.Table, features: list[str], path: Path) -> np.ndarray:
    """Numeric feature columns as one array (rows, features), float64: `shaped` refuses what float32 cannot hold."""
    import numpy as np
    import pyarrow as pa

    for name in features:
        kind = table.schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise DataError(f"{path}: column '{name}' has type {kind}; features are numbers (or one list column)")
    x = np.empty((table.num_rows, len(features)), np.float64)
    for i, name in enumerate(features):
        x[:, i] = table.column(name).to_numpy()
    return x
