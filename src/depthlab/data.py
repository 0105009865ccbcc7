"""Prepared data: deterministic splits of a source's samples, and the format every later stage reads.

Prepared data is one Parquet file per split (float32 feature columns plus an int64 `label`) and a
`meta.json` that declares the sample shape, the classes, the feature columns and a content digest. Where the
samples come from is `depthlab.sources`; here they are split from their labels alone and written a chunk
of rows at a time (a Parquet row group each), so preparing holds the labels whole and the features in pieces.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from depthlab.errors import DataError
from depthlab.families import DataShape
from depthlab.outputs import staged_dir, write_text
from depthlab.params import DataParams
from depthlab.records import Record

if TYPE_CHECKING:
    from depthlab.sources import Dataset, Samples

SPLITS = ("train", "val", "test")
LABEL = "label"


@dataclass(frozen=True)
class Meta(Record, format=1, writer="prepare"):
    """meta.json: what the prepare stage declares about the prepared data, for every later stage. `source`: the
    source it came from (csv, npz, ...; a built-in dataset's own name); `dropped`: the rows left out of the
    source, per reason."""

    name: str
    source: str
    kind: str
    sample_shape: tuple[int, ...]
    classes: list[str]
    features: list[str]
    rows: dict[str, int]
    digest: str
    dropped: dict[str, int]

    @property
    def shape(self) -> DataShape:
        return DataShape(kind=self.kind, sample_shape=self.sample_shape, num_classes=len(self.classes))

    @property
    def dataset_notes(self) -> dict[str, str]:
        """What prepare dropped, as tags of MLflow's dataset records (`dropped.<reason>`: rows, files, columns)."""
        return {f"dropped.{reason}": str(count) for reason, count in self.dropped.items()}

    @property
    def dropped_text(self) -> str:
        """What prepare left out of the source, for its output line; empty when nothing was."""
        reasons = {
            "duplicates": "repeated rows",
            "conflicting_labels": "rows of features with two labels",
            "unreadable": "unreadable images",  # image_folder's unreadable: skip
            "other_size": "images of another size",  # image_folder's resize: skip
            "other_files": "files that are not images",  # under an image folder's root (hidden, other extensions)
            "index_columns": "pandas index columns",  # parquet's index_columns: drop
        }
        return ", ".join(f"{count} {reasons[reason]} dropped" for reason, count in self.dropped.items() if count)


def prepare(params: DataParams, dataset: str, out_dir: Path) -> Meta:
    """Load one dataset of the study, split it, and write the prepared splits and meta.json."""
    resolved = params.resolve(dataset)
    samples, kept, dropped = _samples(resolved)
    splits = _draw_splits(params, samples, kept)
    scale = _standardization(samples, splits["train"]) if getattr(resolved.settings, "standardize", False) else None
    with staged_dir(out_dir) as tmp:
        digest = hashlib.sha256()
        for split in SPLITS:
            _write_split(tmp / f"{split}.parquet", samples, splits[split], scale, digest, split)
        meta = Meta(
            name=dataset,
            source=resolved.source,
            kind=resolved.kind,
            sample_shape=samples.sample_shape,
            classes=samples.classes,
            features=samples.features,
            rows={split: len(rows) for split, rows in splits.items()},
            digest=digest.hexdigest(),
            dropped=dropped,
        )
        meta.write(tmp / "meta.json")
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
    return Meta.read(data_dir / "meta.json")


def load_arrays(data_dir: Path, split: str, meta: Meta, into: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A split's features, (n, *sample_shape) float32 in row-major order, and its labels, int64, ready for torch.

    Read a Parquet row group at a time into one row-major array, so that reading holds the split once plus a
    row group; through pandas it held it three times (Arrow's columns, the frame, the row-major copy). Row-major
    because gathering a batch's rows from column-major arrays is a strided read per feature, slower at every
    batch. With `into`, the features are written to that .npy file instead (whole, then renamed into place)
    and memory-mapped from it: pages read from disk as they are touched and shared by every process that maps
    them, for a split larger than memory. The labels, 8 bytes a row, stay in memory.
    """
    import pyarrow.parquet as pq

    path = data_dir / f"{split}.parquet"
    if not path.exists():
        raise DataError(f"{path}: file is missing; run `dvc repro` to prepare the data")
    try:
        file = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from None
    missing = [c for c in [*meta.features, LABEL] if c not in file.schema_arrow.names]
    if missing:
        raise DataError(f"prepared {meta.name} data: columns {missing[:5]} declared in meta.json are missing")
    rows, width = file.metadata.num_rows, len(meta.features)
    x = np.empty((rows, width), np.float32) if into is None else None
    y = np.empty(rows, np.int64)
    with file, contextlib.ExitStack() as stack:
        if into is not None:
            partial = into.with_name(f"{into.name}.{os.getpid()}.partial")
            out = stack.enter_context(partial.open("wb"))
            header = {"descr": "<f4", "fortran_order": False, "shape": (rows, *meta.sample_shape)}
            np.lib.format.write_array_header_1_0(out, header)
        start = 0
        try:
            for group in range(file.num_row_groups):
                table = file.read_row_group(group, columns=[*meta.features, LABEL])
                stop = start + table.num_rows
                part = x[start:stop] if x is not None else np.empty((table.num_rows, width), np.float32)
                for column, name in enumerate(meta.features):
                    part[:, column] = table.column(name).to_numpy()
                y[start:stop] = table.column(LABEL).to_numpy()
                if x is None:
                    out.write(part.data)
                start = stop
        except Exception as err:
            if into is not None:
                partial.unlink(missing_ok=True)
            raise DataError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from None
    if into is None:
        return x.reshape(-1, *meta.sample_shape), y
    os.replace(partial, into)
    return np.load(into, mmap_mode="c"), y


SUBSAMPLE_SEED = 0  # the order training-set sizes are drawn in (`train.train_rows`): fixed, so sizes are comparable


def subsample(labels: np.ndarray, rows: int, seed: int = SUBSAMPLE_SEED) -> np.ndarray:
    """Indices of `rows` training rows, in the split's order: a stratified sample (each class within a row of
    its share of the split), nested (a smaller size is a part of every larger one, so sizes differ by rows
    added, not by other rows) and deterministic (it depends on the labels and the seed alone).

    Every row gets a place in one order: each class's rows shuffled, the k-th of a class of n at (k + 0.5) / n;
    a size is that order's first rows, so every prefix holds each class in proportion."""
    if rows > len(labels):
        raise ValueError(f"{rows} rows asked of a training split of {len(labels)}")
    shuffled = np.random.default_rng(seed).permutation(len(labels))
    place = np.empty(len(labels))
    for label in np.unique(labels):
        members = shuffled[labels[shuffled] == label]
        place[members] = (np.arange(len(members)) + 0.5) / len(members)
    order = shuffled[np.argsort(place[shuffled], kind="stable")]
    return np.sort(order[:rows])


@dataclass(frozen=True)
class SeedRows:
    """Each seed's own training and validation rows (`data.split_seeds`), as indices into the pooled rows: the
    prepared training split's, then its validation split's. Every seed has as many rows of each class in each
    split as the prepared splits have, so the seeds' sets are of one length and an ensemble stacks them."""

    train: np.ndarray  # (seeds, training rows), int64, each seed's in ascending order
    val: np.ndarray  # (seeds, validation rows)


def seed_rows(train_labels: np.ndarray, val_labels: np.ndarray, seeds: Sequence[int], digest: str) -> SeedRows:
    """Each seed's stratified split of the pooled training and validation rows, a function of the seed and the
    data's digest alone: the same whichever ensemble the seed trains in, and drawn again from what its run
    records (its seed, `dataset_digest` and `data.split_seeds`)."""
    labels = np.concatenate([train_labels, val_labels])
    by_class = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    kept = np.bincount(train_labels, minlength=len(by_class))  # per class: the training split's rows
    train, val = [], []
    for seed in seeds:
        rng = np.random.default_rng([int(digest, 16), seed % 2**64])  # SeedSequence: any size, never negative
        drawn = [rng.permutation(rows) for rows in by_class]
        train.append(np.sort(np.concatenate([rows[:n] for rows, n in zip(drawn, kept, strict=True)])))
        val.append(np.sort(np.concatenate([rows[n:] for rows, n in zip(drawn, kept, strict=True)])))
    return SeedRows(np.stack(train).astype(np.int64), np.stack(val).astype(np.int64))


def _split(
    rows: np.ndarray, labels: np.ndarray, share: float, seed: int, origin: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of sample indices: (kept, split off); a share of 0 splits off nothing. The same
    permutation as splitting the samples themselves: it depends on the labels and the seed alone. Refuses, naming
    the source, samples too few for a stratified split (each part needs a sample of every class)."""
    if share == 0:
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split  # here: stages that only read prepared data skip scipy

    y = labels[rows]
    counts = np.bincount(y)
    if (counts[counts > 0] < 2).any():
        rare = [int(c) for c in np.flatnonzero(counts == 1)]
        raise DataError(f"{origin}: classes {rare} have a single row: too few to split into train, validation and test")
    try:
        kept, off = train_test_split(rows, test_size=share, random_state=seed, stratify=y)
    except ValueError as err:
        raise DataError(
            f"{origin}: {len(rows)} rows of {np.count_nonzero(counts)} classes are too few to split off a share of "
            f"{share:.3g} holding every class ({err}); give more samples or a larger data.val_fraction / test_fraction"
        ) from None
    return kept, off


def _samples(dataset: Dataset) -> tuple[Samples, np.ndarray, dict[str, int]]:
    """The dataset's samples, the indices of those kept, and what was dropped by reason: a user source's
    repeats are dropped (`sources.repeats`); a built-in dataset is taken whole."""
    from depthlab.sources import repeats

    samples = dataset.samples()
    if dataset.built_in:
        return samples, np.arange(len(samples)), {}
    setting = f"{dataset.key}.conflicting_labels"
    kept, dropped = repeats.drop_repeats(samples, dataset.settings.conflicting_labels, setting)
    present = np.unique(samples.labels[kept])
    if len(present) < 2:
        single = [samples.classes[c] for c in present]
        raise DataError(f"{samples.origin}: the labels hold a single class {single}; need at least two")
    return samples, kept, {**samples.dropped, **dropped}


def _draw_splits(params: DataParams, samples: Samples, kept: np.ndarray) -> dict[str, np.ndarray]:
    """Sample indices per split. A split the source gives (MNIST's test set) is kept as it is; the others are
    drawn, stratified by label: the test split (test_fraction of all) from what the source does not assign,
    then the validation split, val_fraction of the training data (of the data before the test split was drawn
    where params drew it, so that test_fraction and val_fraction both count shares of the whole)."""
    given = samples.given[kept] if samples.given is not None else np.full(len(kept), "train")
    splits = {split: kept[given == split] for split in SPLITS}
    labels = samples.labels
    val_share = params.val_fraction
    if not (given == "test").any():
        splits["train"], splits["test"] = _split(
            splits["train"], labels, params.test_fraction, params.split_seed, samples.origin
        )
        val_share = params.val_fraction / (1 - params.test_fraction)
    if not (given == "val").any():
        splits["train"], splits["val"] = _split(splits["train"], labels, val_share, params.split_seed, samples.origin)
    return splits


def _standardization(samples: Samples, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training split's feature means and standard deviations (1 where a feature is constant)."""
    x = samples.read(train)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    return mean, std


def _write_split(
    path: Path,
    samples: Samples,
    rows: np.ndarray,
    scale: tuple[np.ndarray, np.ndarray] | None,
    digest: hashlib._Hash,
    split: str,
) -> None:
    """One split as Parquet, a row group per chunk of samples; the digest covers the split's name, its features
    and then its labels (the order `Meta.digest` has always had)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from depthlab.sources.repeats import chunks

    schema = pa.schema([*(pa.field(name, pa.float32()) for name in samples.features), pa.field(LABEL, pa.int64())])
    labels = samples.labels[rows]
    digest.update(split.encode())
    with pq.ParquetWriter(path, schema) as writer:
        start = 0
        for part in chunks(rows, len(samples.features)):
            x = samples.read(part)
            if scale is not None:
                x = (x - scale[0]) / scale[1]
            x = np.ascontiguousarray(x, dtype=np.float32)
            digest.update(x)
            columns = [pa.array(column) for column in np.asfortranarray(x).T]  # each column contiguous: no copy
            y = pa.array(labels[start : start + len(part)])
            writer.write_table(pa.Table.from_arrays([*columns, y], schema=schema), row_group_size=len(part))
            start += len(part)
        if not len(rows):
            writer.write_table(schema.empty_table())
    digest.update(np.ascontiguousarray(labels).tobytes())
