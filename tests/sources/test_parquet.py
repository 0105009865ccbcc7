import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from depthlab.data import load_arrays, prepare
from depthlab.errors import DataError
from tests.helpers.sources import damaged, fuzzing, refused_or_read, source_data, truncated


def parquet_data(path, **entry):
    return source_data("parquet", path=str(path), **entry)


def table(count=90):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=count), "b": rng.integers(0, 9, count), "kind": np.arange(count) % 3})


def test_feature_columns_make_a_tabular_dataset_standardized_when_asked(tmp_path):
    table().to_parquet(tmp_path / "t.parquet")
    data = parquet_data(tmp_path / "t.parquet", kind="tabular", label_column="kind", standardize=True)
    meta = prepare(data, "user", tmp_path / "out")
    assert meta.features == ["a", "b"] and meta.sample_shape == (2,) and sum(meta.rows.values()) == 90
    x, _ = load_arrays(tmp_path / "out", "train", meta)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5)


def test_one_list_column_per_sample_makes_sequences(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"signal": [rng.normal(size=16) for _ in range(60)], "label": ["up", "down"] * 30})
    frame.to_parquet(tmp_path / "s.parquet")
    meta = prepare(parquet_data(tmp_path / "s.parquet", kind="sequence"), "user", tmp_path / "out")
    assert meta.sample_shape == (16,) and meta.classes == ["down", "up"] and meta.features[0] == "signal_00"


def test_image_rows_take_the_declared_sample_shape(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.integers(0, 255, (40, 12)).astype(float), columns=[f"p{i}" for i in range(12)])
    frame["label"] = np.arange(40) % 2
    frame.to_parquet(tmp_path / "i.parquet")
    meta = prepare(parquet_data(tmp_path / "i.parquet", kind="image", sample_shape=[3, 4]), "user", tmp_path / "out")
    assert meta.sample_shape == (3, 4)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"PAR1 garbage"), "not a readable Parquet file"),
        (lambda p: table().drop(columns="kind").to_parquet(p), r"label column 'kind' .* not found; columns are"),
        (lambda p: table().assign(a="x").to_parquet(p), r"column 'a' has type (large_)?string"),
        (
            lambda p: table().assign(a=[None, *[1.0] * 89]).to_parquet(p),
            r"column 'a' has 1 empty values \(rows \[0\]",
        ),
        (lambda p: table().head(0).to_parquet(p), "the table has no rows"),
    ],
    ids=["garbage", "no label column", "text feature", "empty value", "no rows"],
)
def test_a_bad_parquet_is_refused_naming_the_file(tmp_path, write, message):
    path = tmp_path / "bad.parquet"
    write(path)
    with pytest.raises(DataError, match=message) as refused:
        prepare(parquet_data(path, kind="tabular", label_column="kind"), "user", tmp_path / "out")
    assert str(path) in str(refused.value) and not (tmp_path / "out").exists()


def test_sequences_of_other_lengths_are_refused(tmp_path):
    frame = pd.DataFrame({"signal": [[1.0, 2.0], [1.0, 2.0, 3.0]] * 10, "label": [0, 1] * 10})
    frame.to_parquet(tmp_path / "s.parquet")
    with pytest.raises(DataError, match=r"sequences of \[2, 3\] values; a sequence column needs one length"):
        prepare(parquet_data(tmp_path / "s.parquet", kind="sequence"), "user", tmp_path / "out")


def test_an_image_kind_without_a_shape_is_refused_when_params_are_read(tmp_path):
    with pytest.raises(ValidationError, match="kind image needs sample_shape"):
        parquet_data(tmp_path / "i.parquet", kind="image")


@fuzzing
@given(content=st.data())
def test_a_damaged_parquet_is_refused_naming_it_never_a_traceback(tmp_path, content):
    path, good = tmp_path / "d.parquet", tmp_path / "good.parquet"
    if not good.exists():  # once: the examples share tmp_path
        table().to_parquet(good)
    data = parquet_data(path, kind="tabular", label_column="kind")
    path.write_bytes(content.draw(damaged(good.read_bytes())))
    refused_or_read(data, path, tmp_path / "out")
    path.write_bytes(content.draw(truncated(good.read_bytes())))
    assert refused_or_read(data, path, tmp_path / "out")


@pytest.mark.parametrize(
    ("frame", "index"),
    [
        (table().query("b > 2"), ["__index_level_0__"]),
        (table().assign(id=np.arange(90) ** 2).set_index("id"), ["id"]),  # not a range: a column
        (table().assign(site=np.arange(90) % 4, day=np.arange(90) // 4).set_index(["site", "day"]), ["site", "day"]),
    ],
    ids=["filtered frame", "named index", "two-level index"],
)
def test_a_pandas_index_saved_as_columns_is_no_feature(tmp_path, frame, index):
    """to_parquet keeps a frame's index as columns, which the pandas metadata names: dropped and counted, or
    refused where params say; a RangeIndex is metadata only and changes nothing."""
    frame.to_parquet(tmp_path / "t.parquet")
    assert all(name in pq_columns(tmp_path / "t.parquet") for name in index)
    meta = prepare(parquet_data(tmp_path / "t.parquet", kind="tabular", label_column="kind"), "user", tmp_path / "out")
    assert not set(index) & set(meta.features) and meta.dropped["index_columns"] == len(index)
    assert f"{len(index)} pandas index columns dropped" in meta.dropped_text
    refusing = parquet_data(tmp_path / "t.parquet", kind="tabular", label_column="kind", index_columns="refuse")
    with pytest.raises(DataError, match=re.escape(f"columns {index!r} hold a pandas index (")):
        prepare(refusing, "user", tmp_path / "refused")
    declared = parquet_data(tmp_path / "t.parquet", kind="tabular", label_column="kind", features=[*index, "a"][:2])
    assert prepare(declared, "user", tmp_path / "declared").features == [*index, "a"][:2]  # listed: read


def test_a_range_index_adds_no_column_and_nothing_is_dropped(tmp_path):
    table().to_parquet(tmp_path / "t.parquet")
    meta = prepare(parquet_data(tmp_path / "t.parquet", kind="tabular", label_column="kind"), "user", tmp_path / "out")
    assert meta.features == ["a", "b"] and "index_columns" not in meta.dropped


def pq_columns(path):
    import pyarrow.parquet as pq

    return pq.read_schema(path).names
