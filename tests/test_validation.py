import json
import shutil

import numpy as np
import pandas as pd
import pytest

from depthlab import validation
from depthlab.errors import ValidationFailed
from depthlab.validation import validate


def test_clean_data_passes_and_writes_gx_result_and_data_docs(prepared, tiny_params, tmp_path):
    summary = validate(prepared, tiny_params.validation, tmp_path / "report")
    assert summary["success"] and summary["expectations"] == 3 * (4 + 2) + 3
    result = json.loads((tmp_path / "report" / "result.json").read_text())
    splits = {"train", "val", "test"}
    per_split = {f"{split}{part}" for split in splits for part in ("", "_columns", "_features")}
    assert set(result) == per_split | {"dtypes", "class_balance", "train_test_overlap"}
    assert (tmp_path / "report" / "data_docs" / "index.html").exists()


@pytest.fixture
def damaged(prepared, tmp_path):
    copy = tmp_path / "prepared"
    shutil.copytree(prepared, copy)
    return copy


def rewrite(path, change):
    frame = pd.read_parquet(path)
    change(frame)
    frame.to_parquet(path, index=False)


def test_violations_are_named_with_column_split_and_example(damaged, tiny_params, tmp_path):
    test_row = pd.read_parquet(damaged / "test.parquet").iloc[3]

    def corrupt(frame):
        frame.loc[5, "x03"] = np.nan
        frame.loc[7, "x10"] = np.inf
        frame.loc[9, "label"] = 12
        frame.iloc[20] = test_row
        frame["x05"] = frame["x05"].astype("float64")

    rewrite(damaged / "train.parquet", corrupt)
    with pytest.raises(ValidationFailed) as caught:
        validate(damaged, tiny_params.validation, tmp_path / "report")
    message = str(caught.value)
    assert "train_features: expect_column_values_to_not_be_null" in message and "column=x03, row=5" in message
    assert "train_features: expect_column_values_to_be_between" in message and "[inf] at column=x10, row=7" in message
    assert "train: expect_column_values_to_be_in_set on column 'label'" in message and "[12] at row 9" in message
    assert "dtypes: expect_column_pair_values_to_be_equal" in message and "split=train, column=x05" in message
    assert "train_test_overlap" in message and "split=test, row=3" in message
    assert (tmp_path / "report" / "result.json").exists()


def test_a_missing_class_breaks_the_balance_bounds(damaged, tiny_params, tmp_path):
    rewrite(damaged / "val.parquet", lambda f: f.drop(f.index[f.label == 4], inplace=True))
    with pytest.raises(ValidationFailed, match=r"class_balance.*split=val, label=4"):
        validate(damaged, tiny_params.validation, tmp_path / "report")


def test_a_split_with_other_columns_is_refused(damaged, tiny_params, tmp_path):
    rewrite(damaged / "test.parquet", lambda f: f.drop(columns=["x39"], inplace=True))
    with pytest.raises(
        ValidationFailed, match=r"test_columns: expect_table_columns_to_match_ordered_list.*missing \['x39'\]"
    ):
        validate(damaged, tiny_params.validation, tmp_path / "report")


def test_a_large_split_is_checked_in_parts_that_still_locate_a_bad_value(damaged, tiny_params, tmp_path, monkeypatch):
    monkeypatch.setattr(validation, "CELLS_PER_CHECK", 400)  # 10 rows of 40 features a part

    def corrupt(frame):
        frame.loc[25, "x07"] = np.inf

    rewrite(damaged / "train.parquet", corrupt)
    with pytest.raises(ValidationFailed) as caught:
        validate(damaged, tiny_params.validation, tmp_path / "report")
    assert "train_features_from_row_20: expect_column_values_to_be_between" in str(caught.value)
    assert "[inf] at column=x07, row=25" in str(caught.value)
    assert "1 of " in str(caught.value)


def test_gx_keeps_no_part_after_checking_it(damaged, tiny_params, tmp_path, monkeypatch):
    """Memory stays at one part: GX's engine holds no batch, data or metric of a part once it is checked."""
    engines = []
    release = validation._release

    def spy(engine):
        release(engine)
        engines.append(engine)

    monkeypatch.setattr(validation, "_release", spy)
    monkeypatch.setattr(validation, "CELLS_PER_CHECK", 4000)  # 100 rows of 40 features a part
    validate(damaged, tiny_params.validation, tmp_path / "report")
    engine = engines[-1]
    assert len(engines) > 10
    assert not engine.batch_manager._batch_data_cache and not engine._metric_cache
