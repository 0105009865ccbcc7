"""Bad input through the real pipeline: refused before any training with one readable message naming the
file, column or key; dvc.lock, earlier outputs and MLflow runs stay as they were."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.params import NO_SWEEP, raw_params
from tests.helpers.project import copy_project, dvc, snapshot

pytestmark = pytest.mark.slow  # every case through a real `dvc repro`

GOOD_CSV = "a,b,label\n" + "".join(f"{i},{(i * 7) % 13},{'yes' if i % 2 else 'no'}\n" for i in range(150))
USER = {"path": "data/raw/user.csv", "label_column": "label", "standardize": False, "classes": ["no", "yes"]}


def user_params(**overrides: object) -> dict:
    base = raw_params(
        data={"datasets": ["user"], "csv": {"user": USER}},
        train={"seeds": [0], "max_steps": 5},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["user"], "depths": [0]}},
    )
    from depthlab.presets import merged

    return merged(base, overrides)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    copy_project(root)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "user.csv").write_text(GOOD_CSV)
    (root / "params.yaml").write_text(yaml.safe_dump(user_params()))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    first = dvc(root, "repro")
    assert first.returncode == 0, first.stderr[-3000:]
    return root


CSV_CASES = {
    "missing file": (None, "data/raw/user.csv: CSV file is missing"),
    "empty file": ("", "data/raw/user.csv: CSV file is empty"),
    "header only": ("a,b,label\n", "data/raw/user.csv: CSV file has a header but no rows"),
    "no label column": ("a,b,kind\n1,2,yes\n3,4,no\n", "label column 'label' (label_column in data.csv) not found"),
    "non-numeric feature": (GOOD_CSV + "5,oops,yes\n", "column 'b' has non-numeric values, e.g. ['oops']"),
    "NaN feature": (GOOD_CSV + "7,,no\n", "column 'b' has empty values (rows [150])"),
    "infinite feature": (GOOD_CSV + "inf,1,no\n", "column 'a' has infinite values (rows [150])"),
    "undeclared label": (GOOD_CSV + "9,9,maybe\n", "values outside the declared classes ['no', 'yes']: ['maybe']"),
    "single class": ("a,b,label\n" + "".join(f"{i},{i},yes\n" for i in range(30)), "holds a single class"),
    "extra feature in a row": (GOOD_CSV + "1,2,3,yes\n", "data/raw/user.csv: line 152 has 4 fields, the header 3"),
    "repeated column name": (
        GOOD_CSV.replace("a,b,label", "a,a,label", 1),
        "column 'a' appears twice in the header, at columns 1 and 2",
    ),
    "unnamed column": (GOOD_CSV.replace("a,b,label", "a,,label", 1), "column 2 of the header has no name"),
    "trailing comma": (GOOD_CSV.replace("\n", ",\n"), "column 4 of the header has no name"),
    "one more field in every row": (
        "a,label\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(60)),
        "line 2 has 3 fields, the header 2",
    ),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_bad_csv_is_refused_before_training_and_loses_nothing(project, case):
    content, message = CSV_CASES[case]
    before = snapshot(project)
    csv = project / "data" / "raw" / "user.csv"
    if content is None:
        csv.unlink()
    else:
        csv.write_text(content)
    try:
        done = dvc(project, "repro")
    finally:
        csv.write_text(GOOD_CSV)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "Running stage 'train@" not in done.stdout
    assert snapshot(project) == before


def test_features_given_two_labels_are_refused_with_their_lines_and_exit_code_3(project):
    before = snapshot(project)
    csv = project / "data" / "raw" / "user.csv"
    csv.write_text(GOOD_CSV + "3,8,no\n")  # line 5 says "3,8,yes"
    try:
        done = dvc(project, "repro")
    finally:
        csv.write_text(GOOD_CSV)
    assert "2 rows share their features with a row of another label (1 input with two or more labels)" in done.stderr
    assert "e.g. lines [5, 152]" in done.stderr and "none is in both train and test" in done.stderr
    assert "exited with 3" in done.stderr and "Traceback" not in done.stderr
    assert "Running stage 'train@" not in done.stdout
    assert snapshot(project) == before


def test_repeated_rows_are_dropped_and_said(project):
    csv = project / "data" / "raw" / "user.csv"
    csv.write_text(GOOD_CSV + GOOD_CSV.split("\n", 1)[1])  # every row twice
    try:
        done = dvc(project, "repro", "prepare@user")
    finally:
        csv.write_text(GOOD_CSV)
    assert done.returncode == 0, done.stderr[-3000:]
    said = "prepared user: {'train': 105, 'val': 15, 'test': 30} rows (150 repeated rows dropped from the source"
    assert said in done.stdout
    meta = json.loads((project / "data" / "prepared" / "user" / "meta.json").read_text())
    assert meta["dropped"] == {"duplicates": 150}
    restored = dvc(project, "repro")  # the original rows: the same prepared data, nothing downstream reruns
    assert restored.returncode == 0 and "Running stage 'train@" not in restored.stdout


def test_rows_shared_by_train_and_test_are_refused(project):
    """DVC re-prepares modified prepared data on `dvc repro`; damaged data can only reach a stage run alone."""
    import pandas as pd

    before = snapshot(project)
    prepared = project / "data" / "prepared" / "user"
    original = (prepared / "test.parquet").read_bytes()
    train, test = pd.read_parquet(prepared / "train.parquet"), pd.read_parquet(prepared / "test.parquet")
    pd.concat([test, train.head(2)]).to_parquet(prepared / "test.parquet", index=False)
    try:
        done = dvc(project, "repro", "--single-item", "validate@user")
    finally:
        (prepared / "test.parquet").write_bytes(original)
    assert done.returncode != 0
    assert "train_test_overlap: expect_column_values_to_be_unique on column 'row_hash'" in done.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("change", "messages"),
    [
        (
            {"train": {"learning_rate": 0.1}},
            ["train.learning_rate: unknown key (allowed here: accelerator, batch_size, lr,"],
        ),
        ({"train": {"max_steps": "many"}}, ["train.max_steps: Input should be a valid integer"]),
        (
            {"train": {"lr": 0}, "models": {"mlp": {"width": 0}}, "sweep": {"mlp": {"depths": [-1]}}},
            ["train.lr.0: Input should be greater than 0", "models.mlp.width", "sweep.mlp.depths.0"],
        ),
    ],
    ids=["unknown key", "wrong type", "impossible values"],
)
def test_bad_params_are_refused_naming_every_key(project, change, messages):
    before = snapshot(project)
    (project / "params.yaml").write_text(yaml.safe_dump(user_params(**change)))
    try:
        done = dvc(project, "repro")
    finally:
        (project / "params.yaml").write_text(yaml.safe_dump(user_params()))
    assert done.returncode != 0
    assert all(message in done.stderr for message in messages), done.stderr[-2000:]
    # A stage may start (DVC runs those whose params changed), but it stops at reading params.yaml.
    assert "Traceback" not in done.stderr and "] step " not in done.stdout and "exited with 2" in done.stderr
    assert snapshot(project) == before
