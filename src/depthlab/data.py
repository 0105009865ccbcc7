"""Data sources, deterministic splits, and the prepared-data format every later stage reads.

Prepared data is one Parquet file per split (float32 feature columns plus an int64 `label`) and a
`meta.json` that declares the sample shape, the classes, the feature columns and a content digest.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from depthlab.errors import DataError
from depthlab.families import DataShape
from depthlab.outputs import read_json, staged_dir, write_json, write_text
from depthlab.params import CsvParams, DataParams

SPLITS = ("train", "val", "test")
LABEL = "label"


@dataclass(frozen=True)
class Table:
    """A labelled table before splitting: features (n, f) float32, integer labels (n,)."""

    x: np.ndarray
    y: np.ndarray
    features: list[str]
    classes: list[str]
    sample_shape: tuple[int, ...]
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out, by reason (see _drop_repeats)


@dataclass(frozen=True)
class Meta:
    """What meta.json declares about the prepared data."""

    name: str
    kind: str
    sample_shape: tuple[int, ...]
    classes: list[str]
    features: list[str]
    rows: dict[str, int]
    digest: str
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def shape(self) -> DataShape:
        return DataShape(kind=self.kind, sample_shape=self.sample_shape, num_classes=len(self.classes))

    @property
    def dataset_notes(self) -> dict[str, str]:
        """What prepare dropped, as tags of MLflow's dataset records (`rows_dropped.<reason>`)."""
        return {f"rows_dropped.{reason}": str(count) for reason, count in self.dropped.items()}

    @property
    def dropped_text(self) -> str:
        """What prepare left out of the source, for its output line; empty when nothing was."""
        reasons = {"duplicates": "repeated rows", "conflicting_labels": "rows of features with two labels"}
        return ", ".join(f"{count} {reasons[reason]} dropped" for reason, count in self.dropped.items() if count)


def prepare(params: DataParams, dataset: str, out_dir: Path) -> Meta:
    """Load one dataset of the study, split it, and write the prepared splits and meta.json."""
    splits, table = _load_and_split(params, dataset)
    meta = Meta(
        name=dataset,
        kind=params.kind(dataset),
        sample_shape=table.sample_shape,
        classes=table.classes,
        features=table.features,
        rows={split: len(y) for split, (_, y) in splits.items()},
        digest=_digest(splits),
        dropped=table.dropped,
    )
    with staged_dir(out_dir) as tmp:
        for split, (x, y) in splits.items():
            frame = pd.DataFrame(x, columns=table.features)
            frame[LABEL] = y
            frame.to_parquet(tmp / f"{split}.parquet", index=False)
        write_json(tmp / "meta.json", {**meta.__dict__, "source": params.source(dataset)})
    return meta


def export_sklearn_table(name: str, path: Path, label_column: str = "target") -> int:
    """Write one of scikit-learn's bundled tables (`load_<name>`, no download) as a CSV; return its rows.

    The study's tabular dataset enters through the csv source like any user's file would.
    """
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}", None)
    if loader is None:
        raise DataError(f"scikit-learn bundles no table called '{name}'")
    frame = loader(as_frame=True).frame.rename(columns={"target": label_column})
    write_text(path, frame.to_csv(index=False))
    return len(frame)


def load_meta(data_dir: Path) -> Meta:
    raw = read_json(data_dir / "meta.json")
    try:
        return Meta(
            name=raw["name"],
            kind=raw["kind"],
            sample_shape=tuple(raw["sample_shape"]),
            classes=list(raw["classes"]),
            features=list(raw["features"]),
            rows=dict(raw["rows"]),
            digest=raw["digest"],
            dropped=dict(raw.get("dropped", {})),
        )
    except (KeyError, TypeError) as err:
        raise DataError(f"{data_dir / 'meta.json'}: malformed, missing or wrong field {err}") from None


def load_frame(data_dir: Path, split: str) -> pd.DataFrame:
    path = data_dir / f"{split}.parquet"
    if not path.exists():
        raise DataError(f"{path}: file is missing; run `dvc repro` to prepare the data")
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from None


def load_arrays(data_dir: Path, split: str, meta: Meta) -> tuple[np.ndarray, np.ndarray]:
    return to_arrays(load_frame(data_dir, split), meta)


def to_arrays(frame: pd.DataFrame, meta: Meta) -> tuple[np.ndarray, np.ndarray]:
    """Features shaped (n, *sample_shape) as float32 and labels as int64, ready for torch."""
    missing = [c for c in [*meta.features, LABEL] if c not in frame.columns]
    if missing:
        raise DataError(f"prepared {meta.name} data: columns {missing[:5]} declared in meta.json are missing")
    # Row-major: pandas hands a frame's columns over column-major, and gathering a batch's rows from that
    # is a strided read per feature, slower at every batch.
    x = np.array(frame[meta.features].to_numpy(np.float32), order="C").reshape(-1, *meta.sample_shape)
    return x, frame[LABEL].to_numpy(np.int64, copy=True)


def _load_and_split(params: DataParams, dataset: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], Table]:
    source = params.source(dataset)
    if source == "mnist1d":
        train, test = _mnist1d(params)
        test_x, test_y = test.x, test.y
        table = train
    else:
        table = _digits() if source == "digits" else _csv(params.csv[dataset])
        rest_x, rest_y, test_x, test_y = _split(table.x, table.y, params.test_fraction, params.split_seed)
        table = replace(table, x=rest_x, y=rest_y)
    val_share = params.val_fraction if source == "mnist1d" else params.val_fraction / (1 - params.test_fraction)
    train_x, train_y, val_x, val_y = _split(table.x, table.y, val_share, params.split_seed)
    if source == "csv" and params.csv[dataset].standardize:
        mean, std = train_x.mean(axis=0), train_x.std(axis=0)
        std[std == 0] = 1.0
        train_x, val_x, test_x = ((x - mean) / std for x in (train_x, val_x, test_x))
    splits = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_x, test_y)}
    return {split: (x.astype(np.float32), y) for split, (x, y) in splits.items()}, table


def _split(x: np.ndarray, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, ...]:
    """Stratified split: (kept x, kept y, split-off x, split-off y); a share of 0 splits off nothing."""
    if share == 0:
        return x, y, x[:0], y[:0]
    from sklearn.model_selection import train_test_split  # here: stages that only read prepared data skip scipy

    counts = np.bincount(y)
    if (counts[counts > 0] < 2).any():
        rare = [int(c) for c in np.flatnonzero(counts == 1)]
        raise DataError(f"classes {rare} have a single row: too few to split into train, validation and test")
    kept_x, off_x, kept_y, off_y = train_test_split(x, y, test_size=share, random_state=seed, stratify=y)
    return kept_x, kept_y, off_x, off_y


def _mnist1d(params: DataParams) -> tuple[Table, Table]:
    """Generated offline; never `mnist1d.get_dataset`, which downloads."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = params.mnist1d.num_samples
    args.seed = params.mnist1d.generator_seed
    args.train_split = params.mnist1d.train_split
    raw = make_dataset(args)
    length = raw["x"].shape[1]
    features = [f"x{i:02d}" for i in range(length)]
    classes = [str(c) for c in range(10)]

    def table(x: np.ndarray, y: np.ndarray) -> Table:
        return Table(x.astype(np.float32), y.astype(np.int64), features, classes, (length,))

    return table(raw["x"], raw["y"]), table(raw["x_test"], raw["y_test"])


def _digits() -> Table:
    """scikit-learn's bundled 8x8 digit images (no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Table(
        digits.data.astype(np.float32),
        digits.target.astype(np.int64),
        list(digits.feature_names),
        [str(c) for c in digits.target_names],
        (8, 8),
    )


def _csv(params: CsvParams) -> Table:
    """A user's CSV: numeric feature columns and the label column named in params. Spaces after a comma are
    not part of a name or value (`a, b, label`)."""
    path, label = params.path, params.label_column
    if not path.exists():
        raise DataError(f"{path}: CSV file is missing (data.csv)")
    lines = _check_csv_shape(path)
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
        for problem, rows in (("empty", numeric.isna()), ("infinite", np.isinf(numeric))):
            if rows.any():
                raise DataError(
                    f"{path}: column '{column}' has {problem} values (rows {frame.index[rows][:3].tolist()})"
                )
        frame[column] = numeric
    if frame[label].isna().any():
        rows = frame.index[frame[label].isna()][:3].tolist()
        raise DataError(f"{path}: label column '{label}' has empty values (rows {rows})")
    frame, dropped = _drop_repeats(frame, features, label, params.conflicting_labels, path, lines)
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
    return Table(
        frame[features].to_numpy(np.float32),
        codes,
        [str(c) for c in features],
        [str(c) for c in classes],
        (len(features),),
        dropped,
    )


def _drop_repeats(
    frame: pd.DataFrame, features: list[str], label: str, conflicting: str, path: Path, lines: list[int]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Each input once, so that no row can land in both the training and the test split (a repeated row would
    be an overlap that validation refuses, and a test the model has seen). A row repeated whole is dropped
    and counted. Rows with the same features and different labels are refused, naming their lines (a
    training set cannot hold two answers for one input), or all dropped where params say
    `conflicting_labels: drop`. `lines[i]` is the file line of the frame's row i."""
    duplicates = frame.duplicated(subset=[*features, label])
    frame = frame[~duplicates]
    repeated = frame.duplicated(subset=features, keep=False)
    dropped = {"duplicates": int(duplicates.sum())}
    if repeated.any():
        groups = frame[repeated].groupby(features, sort=False)[label].nunique()
        shown = [lines[i] for i in frame.index[repeated][:6]]
        if conflicting == "refuse":
            raise DataError(
                f"{path}: {int(repeated.sum())} rows share their features with a row of another label "
                f"({len(groups)} input{'s' if len(groups) > 1 else ''} with two or more labels), e.g. lines "
                f"{shown}: a training set cannot hold two answers for one input, and each input is kept once so "
                "that none is in both train and test. Fix the labels, or set "
                "data.csv.<name>.conflicting_labels: drop to leave these rows out"
            )
        dropped["conflicting_labels"] = int(repeated.sum())
        frame = frame[~repeated]
    return frame, dropped


def _check_csv_shape(path: Path) -> list[int]:
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


def _digest(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Content digest over every split's features and labels, in split order."""
    h = hashlib.sha256()
    for split in SPLITS:
        x, y = splits[split]
        h.update(split.encode())
        h.update(np.ascontiguousarray(x).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()
