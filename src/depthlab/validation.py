"""The Great Expectations suite that gates training: prepared data must match what meta.json declares.

Four kinds of checks, all run by GX on pandas frames:
- every split: columns as declared (on the file's header), enough rows and known labels (on its labels); its
  feature values, in long form (one row per (row, column) cell), without nulls or infinities and in range;
- every column of every split: the dtype meta.json implies;
- per split and class: enough rows and a class share within the configured bounds;
- train against test: no feature row appears in both.

Long form keeps GX's cost flat in the number of features: an expectation has a fixed cost in GX before it
reads a value, and one per (column, check) made hundreds of expectations for MNIST-1D's 40 features
(measured in docs/performance.md, `make bench` target 7). The long frame is the values alone, row-major, so it
costs one copy of the features; a bad value is located by decoding its row number into the split's row and column.

Splits are read from their Parquet files a part at a time, never whole: the labels are held, the features
only as one part (CELLS_PER_CHECK values) and one 64-bit hash per row, so validating a split larger than
memory needs about what a part does. Checks are made one after another and dropped once GX has run them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from depthlab.data import LABEL, SPLITS, Meta, load_meta
from depthlab.errors import DataError, ValidationFailed
from depthlab.outputs import write_text
from depthlab.params import ValidationParams

if TYPE_CHECKING:
    import pyarrow.parquet as pq

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

FEATURE_VALUE = "feature_value"  # the value column of a split's features in long form
# GX holds several temporary copies of a frame it validates: larger splits are checked in parts of this many
# cells, which keeps its memory to a part's (docs/performance.md, "Memory of prepare and validate").
CELLS_PER_CHECK = 1_000_000


@dataclass(frozen=True)
class Check:
    """One GX validation: a named frame, its expectations, and the columns that locate a bad row; or, for a
    split's feature values in long form, the split's feature columns that its row numbers decode to."""

    name: str
    frame: pd.DataFrame | None  # None once GX has run it
    expectations: list[Any]
    locate_by: list[str]
    cells_of: list[str] | None = None


def validate(data_dir: Path, params: ValidationParams, report_dir: Path) -> dict[str, Any]:
    """Run the suite; write the GX result and Data Docs to `report_dir`; raise ValidationFailed on a violation."""
    meta = load_meta(data_dir)
    # A validation split is optional (data.val_fraction 0); train and test are not.
    splits = [split for split in SPLITS if split != "val" or meta.rows.get("val", 0) > 0]
    files = {split: _open(data_dir / f"{split}.parquet") for split in splits}
    labels = {split: _labels(file) for split, file in files.items()}

    def checks() -> Iterator[Check]:
        for split, file in files.items():
            yield from _split_checks(split, file, labels[split], meta, params)
        yield _dtype_check(files, meta)
        yield _balance_check(labels, meta, params)
        yield _leakage_check(files, meta)

    ran, results = _run_gx(checks(), report_dir / "data_docs")
    write_text(report_dir / "result.json", json.dumps(results, indent=2, default=str) + "\n")

    failures = [line for check in ran for line in _failure_lines(check, results[check.name])]
    total = sum(r["statistics"]["evaluated_expectations"] for r in results.values())
    if failures:
        shown = "\n".join(f"  - {line}" for line in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        raise ValidationFailed(
            f"{data_dir}: {len(failures)} of {total} expectations failed; nothing downstream runs.\n"
            f"{shown}{more}\n"
            f"Full GX result: {report_dir / 'result.json'}; Data Docs: {report_dir / 'data_docs' / 'index.html'}"
        )
    return {"dataset": meta.name, "digest": meta.digest, "expectations": total, "success": True}


def _open(path: Path) -> pq.ParquetFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise DataError(f"{path}: file is missing; run `dvc repro` to prepare the data")
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from None


def _labels(file: pq.ParquetFile) -> pd.Series | None:
    """The split's label column, None where the file has none (the column check reports it)."""
    if LABEL not in file.schema_arrow.names:
        return None
    return file.read(columns=[LABEL]).column(LABEL).to_pandas()


def _feature_parts(file: pq.ParquetFile, columns: list[str], rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, values (rows, columns) row-major) of consecutive parts of at most `rows` rows."""
    first = 0
    for batch in file.iter_batches(batch_size=rows, columns=columns):
        values = np.empty((batch.num_rows, len(columns)), np.result_type(*[c.type.to_pandas_dtype() for c in batch]))
        for i, column in enumerate(batch.columns):
            values[:, i] = column.to_numpy(zero_copy_only=False)
        yield first, values
        first += batch.num_rows


def _split_checks(
    split: str, file: pq.ParquetFile, labels: pd.Series | None, meta: Meta, params: ValidationParams
) -> Iterator[Check]:
    """The split's columns (from its header), rows and labels, and its feature values in long form, in parts."""
    import great_expectations.expectations as gxe

    names = file.schema_arrow.names
    yield Check(
        f"{split}_columns",
        pd.DataFrame(columns=names),
        [gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*meta.features, LABEL])],
        [],
    )
    rows = file.metadata.num_rows
    table: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=params.min_rows)]
    if labels is not None:
        table += [
            gxe.ExpectColumnValuesToNotBeNull(column=LABEL),
            gxe.ExpectColumnValuesToBeInSet(column=LABEL, value_set=list(range(len(meta.classes)))),
        ]
    frame = pd.DataFrame({LABEL: labels}) if labels is not None else pd.DataFrame(index=pd.RangeIndex(rows))
    yield Check(split, frame, table, [])
    columns = [column for column in meta.features if column in names]  # others: the column check reports
    rows_per_check = max(1, CELLS_PER_CHECK // max(len(columns), 1))
    for first, values in _feature_parts(file, columns, rows_per_check):
        cells = values.ravel()  # row-major: cell number = row * len(columns) + column
        start = first * len(columns)
        name = f"{split}_features" if rows_per_check >= rows else f"{split}_features_from_row_{first}"
        part = pd.DataFrame({FEATURE_VALUE: cells}, index=pd.RangeIndex(start, start + len(cells)))
        yield Check(name, part, _value_expectations(params), [], cells_of=columns)


def _value_expectations(params: ValidationParams) -> list[Any]:
    """New expectation objects for each part: a GX suite takes ownership of those it is given."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column=FEATURE_VALUE),
        gxe.ExpectColumnValuesToBeBetween(
            column=FEATURE_VALUE, min_value=-params.max_abs_feature, max_value=params.max_abs_feature
        ),
    ]


def _dtype_check(files: dict[str, pq.ParquetFile], meta: Meta) -> Check:
    """One row per (split, column): its dtype, as pandas reads the file, against the declared one (float32
    features, int64 labels)."""
    import great_expectations.expectations as gxe

    declared = {**dict.fromkeys(meta.features, "float32"), LABEL: "int64"}
    rows = [
        {"split": split, "column": column, "dtype": str(dtype), "declared": declared[column]}
        for split, file in files.items()
        for column, dtype in file.schema_arrow.empty_table().to_pandas().dtypes.items()
        if column in declared
    ]
    expectations = [gxe.ExpectColumnPairValuesToBeEqual(column_A="dtype", column_B="declared")]
    return Check("dtypes", pd.DataFrame(rows), expectations, ["split", "column"])


def _balance_check(labels: dict[str, pd.Series | None], meta: Meta, params: ValidationParams) -> Check:
    """One row per (split, declared class): its row count and share of the split."""
    import great_expectations.expectations as gxe

    k = len(meta.classes)
    rows = []
    for split, column in labels.items():
        counts = column.value_counts() if column is not None else pd.Series(dtype=int)
        for label in range(k):
            n = int(counts.get(label, 0))
            share = n / max(len(column), 1) if column is not None else 0.0
            rows.append({"split": split, "label": label, "rows": n, "share": share})
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(
            column="share", min_value=params.min_class_share_ratio / k, max_value=params.max_class_share_ratio / k
        ),
    ]
    return Check("class_balance", pd.DataFrame(rows), expectations, ["split", "label"])


def _leakage_check(files: dict[str, pq.ParquetFile], meta: Meta) -> Check:
    """Distinct feature rows of train and test, hashed (64 bits, read in parts): a repeated hash is a row in both
    splits."""
    import great_expectations.expectations as gxe

    from depthlab.sources.repeats import hash_rows

    parts = []
    for split in ("train", "test"):
        file = files[split]
        columns = [c for c in meta.features if c in file.schema_arrow.names]
        rows = max(1, CELLS_PER_CHECK // max(len(columns), 1))
        hashes = [hash_rows(values) for _, values in _feature_parts(file, columns, rows)]
        row_hash = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        part = pd.DataFrame({"split": split, "row": np.arange(len(row_hash)), "row_hash": row_hash})
        parts.append(part.drop_duplicates("row_hash"))
    expectations = [gxe.ExpectColumnValuesToBeUnique(column="row_hash")]
    return Check("train_test_overlap", pd.concat(parts, ignore_index=True), expectations, ["split", "row"])


def _run_gx(checks: Iterator[Check], docs_dir: Path) -> tuple[list[Check], dict[str, dict[str, Any]]]:
    """Run each check as it is made; return the checks run (their frames dropped) and GX's results by name."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    for site in list(context.get_site_names()):
        context.delete_data_docs_site(site)
    context.add_data_docs_site(
        "depthlab",
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_pandas("prepared")
    results, ran = {}, []
    for check in checks:
        batch = source.add_dataframe_asset(check.name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=check.name, expectations=check.expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=check.name, data=batch, suite=suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": check.frame},
            result_format={"result_format": "SUMMARY", "unexpected_index_column_names": check.locate_by},
        )
        results[check.name] = result.to_json_dict()
        ran.append(replace(check, frame=None))
        _release(source.get_execution_engine())
    context.build_data_docs()
    return ran, results


def _release(engine: Any) -> None:
    """Drop what GX's pandas engine keeps of a validated frame: the batch, its data, and every metric computed
    on it (per-row Series that hold the frame). GX keeps them for the context's lifetime, so memory would grow with
    every part of a large split; without them it stays at one part.
    Private attributes of the pinned great-expectations: tests/test_validation.py checks they still exist."""
    engine.batch_manager.reset_batch_cache()
    engine.batch_manager._batch_data_cache.clear()
    engine._metric_cache.clear()


def _failure_lines(check: Check, result: dict[str, Any]) -> list[str]:
    lines = []
    for outcome in result["results"]:
        if outcome["success"]:
            continue
        config = outcome["expectation_config"]
        column = config["kwargs"].get("column")
        where = f"{check.name}: {config['type']}" + (f" on column '{column}'" if column else "")
        lines.append(f"{where}: {_evidence(outcome, check)}")
    return lines


def _evidence(outcome: dict[str, Any], check: Check) -> str:
    """A short 'what and where' from a failed expectation's result."""
    info = outcome.get("exception_info") or {}
    if info.get("raised_exception"):
        return f"could not be evaluated: {info.get('exception_message')}"
    result = outcome.get("result") or {}
    if "unexpected_count" in result:
        values = result.get("partial_unexpected_list", [])[:3]
        places = [_place(example, check) for example in (result.get("partial_unexpected_index_list") or [])[:3]]
        return f"{result['unexpected_count']} unexpected value(s), e.g. {values} at {'; '.join(places)}"
    declared = outcome["expectation_config"]["kwargs"].get("column_list")
    observed = result.get("observed_value")
    if declared is not None and isinstance(observed, list):
        missing = [c for c in declared if c not in observed]
        extra = [c for c in observed if c not in declared]
        return f"columns differ from meta.json: missing {missing[:5]}, unexpected {extra[:5]}" + (
            "" if missing or extra else ", order differs"
        )
    return f"observed {observed}"


def _place(example: Any, check: Check) -> str:
    """Where a bad value sits: the locating columns, the column and row of a cell, or the row of a split."""
    if isinstance(example, dict):
        return ", ".join(f"{k}={example[k]}" for k in check.locate_by if k in example)
    if check.cells_of is not None:
        row, column = divmod(int(example), len(check.cells_of))
        return f"column={check.cells_of[column]}, row={row}"
    return f"row {example}"
