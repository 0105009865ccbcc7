import numpy as np
import pandas as pd
import pytest

from depthlab.data import load_arrays, load_meta, prepare, subsample
from depthlab.errors import DataError
from tests.helpers.params import make_params


def test_mnist1d_prepared_splits_and_meta(prepared, tiny_params):
    meta = load_meta(prepared)
    assert meta.name == "mnist1d" and meta.kind == "sequence" and meta.sample_shape == (40,)
    assert meta.rows == {"train": 720, "val": 80, "test": 200}
    x, y = load_arrays(prepared, "train", meta)
    assert x.shape == (720, 40) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))


def test_prepare_is_deterministic_for_a_seed(tmp_path, prepared, tiny_params):
    again = prepare(tiny_params.data, "mnist1d", tmp_path / "again")
    assert again.digest == load_meta(prepared).digest
    other = make_params(data={"split_seed": 1}).data
    assert prepare(other, "mnist1d", tmp_path / "other").digest != again.digest


def test_reference_data_without_a_validation_split(tmp_path):
    data = make_params(data={"val_fraction": 0, "mnist1d": {"num_samples": 5000}}).data
    meta = prepare(data, "mnist1d", tmp_path / "ref")
    assert meta.rows == {"train": 4000, "val": 0, "test": 1000}


def test_digits_images(tmp_path):
    meta = prepare(make_params(data={"datasets": ["mnist1d", "digits"]}).data, "digits", tmp_path / "digits")
    assert meta.kind == "image" and meta.sample_shape == (8, 8) and len(meta.classes) == 10
    assert sum(meta.rows.values()) == 1797
    x, _ = load_arrays(tmp_path / "digits", "test", meta)
    assert x.shape[1:] == (8, 8)


def write_iris(path):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.assign(species=iris.target_names[iris.target])
    frame.to_csv(path, index=False)
    return frame


def csv_params(path, label="species", standardize=False, **more):
    table = {"path": str(path), "label_column": label, "standardize": standardize, **more}
    return make_params(data={"datasets": ["mnist1d", "user"], "csv": {"user": table}}).data


def two_class_rows(count: int) -> str:
    return "".join(f"{i},{(i * 7) % 13},{'yes' if i % 2 else 'no'}\n" for i in range(count))


def test_csv_source_with_string_labels(tmp_path):
    frame = write_iris(tmp_path / "iris.csv")
    meta = prepare(csv_params(tmp_path / "iris.csv"), "user", tmp_path / "out")
    assert meta.name == "user" and meta.kind == "tabular"
    assert meta.classes == ["setosa", "versicolor", "virginica"]
    assert meta.features == list(frame.columns[:4])
    assert sum(meta.rows.values()) == len(frame.drop_duplicates()) and meta.dropped == {"duplicates": 1}


def test_repeated_rows_are_dropped_and_counted_in_the_metadata(tmp_path):
    (tmp_path / "user.csv").write_text("a,b,species\n" + two_class_rows(60) * 2)
    meta = prepare(csv_params(tmp_path / "user.csv"), "user", tmp_path / "out")
    assert sum(meta.rows.values()) == 60 and meta.dropped == {"duplicates": 60}
    assert load_meta(tmp_path / "out").dropped == {"duplicates": 60}
    assert meta.dataset_notes == {"dropped.duplicates": "60"}
    assert meta.dropped_text == "60 repeated rows dropped"


def test_features_with_two_labels_are_refused_naming_lines_or_dropped_where_params_say(tmp_path):
    path = tmp_path / "user.csv"
    path.write_text(
        "a,b,species\n" + two_class_rows(60) + "\n3,8,no\n5,9,no\n"
    )  # the rows of lines 5 and 7, relabelled
    with pytest.raises(DataError) as refused:
        prepare(csv_params(path), "user", tmp_path / "out")
    message = str(refused.value)
    assert "4 rows share their features with a row of another label (2 inputs" in message
    assert "lines [5, 7, 63, 64]" in message and "in both train and test" in message  # line 62 is blank
    assert "conflicting_labels: drop" in message and not (tmp_path / "out").exists()
    meta = prepare(csv_params(path, conflicting_labels="drop"), "user", tmp_path / "out")
    assert sum(meta.rows.values()) == 58 and meta.dropped == {"duplicates": 0, "conflicting_labels": 4}


def test_spaces_after_the_commas_of_the_header_and_rows_are_not_part_of_names(tmp_path):
    (tmp_path / "user.csv").write_text("a, b, species\n" + two_class_rows(60).replace(",", ", "))
    meta = prepare(csv_params(tmp_path / "user.csv"), "user", tmp_path / "out")
    assert meta.features == ["a", "b"] and meta.classes == ["no", "yes"]
    (tmp_path / "user.csv").write_text("a, b, kind\n1, 2, x\n3, 4, y\n")
    with pytest.raises(DataError, match=r"label column 'species' .* not found; columns are \['a', 'b', 'kind'\]"):
        prepare(csv_params(tmp_path / "user.csv"), "user", tmp_path / "out2")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "CSV file is missing"),
        ("", "CSV file is empty"),
        ("a,b,species\n", "header but no rows"),
        ("a,b,kind\n1,2,x\n3,4,y\n", "label column 'species'"),
        ("a,b,species\n1,oops,x\n3,4,y\n", "column 'b' has non-numeric values"),
        ("a,b,species\n1,2,x\n3,4,x\n5,6,x\n", "single class"),
    ],
)
def test_bad_csv_is_refused_with_the_problem_named(tmp_path, content, message):
    path = tmp_path / "user.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        prepare(csv_params(path), "user", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sklearn_table_round_trips_through_the_csv_source_standardized(tmp_path):
    from depthlab.data import export_sklearn_table

    assert export_sklearn_table("breast_cancer", tmp_path / "bc.csv") == 569
    meta = prepare(csv_params(tmp_path / "bc.csv", label="target", standardize=True), "user", tmp_path / "out")
    assert meta.classes == ["0", "1"] and meta.sample_shape == (30,)
    x, _ = load_arrays(tmp_path / "out", "train", meta)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-4) and np.allclose(x.std(axis=0), 1, atol=1e-3)
    with pytest.raises(DataError, match="no table called 'nope'"):
        export_sklearn_table("nope", tmp_path / "x.csv")


def test_damaged_parquet_is_a_data_error(tmp_path, prepared):
    meta = load_meta(prepared)
    for name in ("meta.json", "train.parquet"):
        (tmp_path / name).write_bytes((prepared / name).read_bytes())
    (tmp_path / "train.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"train\.parquet: not a readable Parquet file"):
        load_arrays(tmp_path, "train", meta)
    assert pd.read_parquet(prepared / "train.parquet").shape[0] == 720


def test_training_set_sizes_are_nested_stratified_and_deterministic():
    labels = np.random.default_rng(3).choice(4, size=1000, p=[0.4, 0.3, 0.2, 0.1])
    shares = np.bincount(labels) / len(labels)
    small, large = subsample(labels, 100), subsample(labels, 700)
    assert len(small) == 100 and len(large) == 700 and len(np.unique(large)) == 700
    assert set(small) <= set(large), "a smaller size is part of every larger one"
    assert (np.diff(large) > 0).all(), "in the split's own order"
    for rows in (10, 37, 100, 700, 1000):
        counts = np.bincount(labels[subsample(labels, rows)], minlength=4)
        assert np.abs(counts - rows * shares).max() <= 1, f"each class within a row of its share at {rows} rows"
    assert (subsample(labels, 100) == small).all() and not (subsample(labels, 100, seed=1) == small).all()
    with pytest.raises(ValueError, match="1001 rows asked of a training split of 1000"):
        subsample(labels, 1001)


def test_each_seed_draws_its_own_stratified_split_of_the_training_and_validation_rows(prepared):
    """data.split_seeds: a seed's split is a function of its seed and the data's digest alone (the same in any
    ensemble, in any order); seeds differ; each split keeps the prepared splits' sizes per class, is disjoint
    and covers the pool (training rows, then validation rows)."""
    from depthlab.data import seed_rows

    meta = load_meta(prepared)
    (_, train_y), (_, val_y) = load_arrays(prepared, "train", meta), load_arrays(prepared, "val", meta)
    pool = np.concatenate([train_y, val_y])
    rows = seed_rows(train_y, val_y, [0, 1, 7], meta.digest)
    assert rows.train.shape == (3, 720) and rows.val.shape == (3, 80) and rows.train.dtype == np.int64
    for train, val in zip(rows.train, rows.val, strict=True):
        assert not set(train) & set(val) and sorted([*train, *val]) == list(range(800))
        assert (np.diff(train) > 0).all() and (np.diff(val) > 0).all()
        assert (np.bincount(pool[train], minlength=10) == np.bincount(train_y, minlength=10)).all()
        assert (np.bincount(pool[val], minlength=10) == np.bincount(val_y, minlength=10)).all()
    held_out = [set(val) for val in rows.val]
    assert held_out[0] != held_out[1] != held_out[2] != held_out[0]
    assert held_out[0] != set(range(720, 800)), "not the prepared validation split"
    alone = seed_rows(train_y, val_y, [7], meta.digest)
    assert (alone.train[0] == rows.train[2]).all() and (alone.val[0] == rows.val[2]).all()
    elsewhere = seed_rows(train_y, val_y, [7, 0], meta.digest)
    assert (elsewhere.val[0] == rows.val[2]).all() and (elsewhere.val[1] == rows.val[0]).all()
    other_data = seed_rows(train_y, val_y, [7], "f" * 64)
    assert set(other_data.val[0]) != held_out[2], "another dataset, another split"
