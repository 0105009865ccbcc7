"""A user's CSV (`data.csv.<name>`): numeric feature columns plus a label column; each row one tabular sample."""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import Field

from depthlab.errors import DataError
from depthlab.sources.base import Kind, Samples, SourceParams


class CsvParams(SourceParams):
    path: Path
    label_column: str = "label"
    classes: list[str] | None = Field(None, min_length=2, description="the labels allowed; any other is an error")
    standardize: bool = Field(True, description="scale features by the training split's mean and std")

    @property
    def kind(self) -> Kind:
        return "tabular"

    @property
    def inputs(self) -> list[Path]:
        return [self.path]


def load(params: CsvParams, key: str) -> Samples:
    """A user's CSV: numeric feature columns and the label column named in params. Spaces after a comma are
    not part of a name or value (`a, b, label`). Messages name the file and `data.csv`, not `key`."""
    import numpy as np
    import pandas as pd

    path, label = params.path, params.label_column
    if not path.exists():
        raise DataError(f"{path}: CSV file is missing (data.csv)")
    lines = _check_shape(path)
    try:
        frame = pd.read_csv(path, index_col=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: CSV file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from None
    frame.columns = [str(name).strip() for name in frame.columns]
    if label not in frame.columns:
        raise DataError(
            f"{path}: label column '{label}' (label_column in data.csv) not found; columns are {list(frame.columns)}"
        )
    if frame.empty:
        raise DataError(f"{path}: CSV file has a header but no rows")
    features = [c for c in frame.columns if c != label]
    if not features:
        raise DataError(f"{path}: no feature columns besides the label column '{label}'")
    for column in features:
        numeric = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column][numeric.isna() & frame[column].notna()]
        if len(bad):
            raise DataError(
                f"{path}: column '{column}' has non-numeric values, e.g. {bad.head(3).tolist()} "
                f"(rows {bad.index[:3].tolist()})"
            )
        too_large = np.isfinite(numeric) & (numeric.abs() > np.finfo(np.float32).max)  # prepared data is float32
        for problem, rows in (("empty", numeric.isna()), ("infinite", np.isinf(numeric)), ("too large", too_large)):
            if rows.any():
                raise DataError(
                    f"{path}: column '{column}' has {problem} values (rows {frame.index[rows][:3].tolist()})"
                )
        frame[column] = numeric
    if frame[label].isna().any():
        rows = frame.index[frame[label].isna()][:3].tolist()
        raise DataError(f"{path}: label column '{label}' has empty values (rows {rows})")
    classes = sorted(frame[label].unique().tolist())
    if params.classes is not None:
        labels = frame[label].astype(str)
        unknown = frame.index[~labels.isin(params.classes)]
        if len(unknown):
            raise DataError(
                f"{path}: label column '{label}' has values outside the declared classes {params.classes}: "
                f"{sorted(set(labels[unknown]))[:5]} (rows {unknown[:3].tolist()})"
            )
        frame[label] = labels
        classes = list(params.classes)
    present = sorted(frame[label].astype(str).unique())
    if len(present) < 2:
        raise DataError(f"{path}: label column '{label}' holds a single class {present}; need at least two")
    codes = frame[label].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    return Samples.of_array(
        frame[features].to_numpy(np.float32),
        path,
        codes,
        [str(c) for c in classes],
        features=[str(c) for c in features],
        where=lambda rows: f"lines {[lines[i] for i in rows]}",
    )


def _check_shape(path: Path) -> list[int]:
    """Refuse what `pandas.read_csv` would silently reinterpret: a repeated column name (renamed `name.1`), an
    empty one (named `Unnamed: 2`), and a row with more or fewer fields than the header (one more field in
    every row makes the first column the index; a trailing comma adds an unnamed column). Returns the file
    line of each row pandas will read (blank lines are skipped by both), for messages that name lines."""
    lines: list[int] = []
    try:
        with path.open(newline="") as handle:
            rows = csv.reader(handle, skipinitialspace=True)
            header = next(rows, None)
            if header is None:
                return lines  # empty: pandas says so
            seen: dict[str, int] = {}
            for position, name in enumerate(name.strip() for name in header):
                if not name:
                    raise DataError(f"{path}: column {position + 1} of the header has no name")
                if name in seen:
                    raise DataError(
                        f"{path}: column '{name}' appears twice in the header, at columns {seen[name]} and "
                        f"{position + 1}"
                    )
                seen[name] = position + 1
            for row in rows:
                if row and len(row) != len(header):
                    raise DataError(f"{path}: line {rows.line_num} has {len(row)} fields, the header {len(header)}")
                if row:
                    lines.append(rows.line_num)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from None
    return lines
