"""Bad input through the real pipeline: refused before any training with one readable message naming the
file, column or key; dvc.lock, earlier outputs and MLflow runs stay as they were."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers.params import NO_SWEEP, raw_params
from tests.helpers.project import copy_project, dvc, project_env, snapshot
from tests.helpers.sources import class_images, write_idx_set, write_image_folder

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
            ["train.learning_rate: unknown key (allowed here: accelerator, batch_size, larger_than_split, lr,"],
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


def npz_declaring_enormous_shape(raw: Path) -> None:
    from tests.helpers.sources import npz_declaring

    (raw / "huge.npz").write_bytes(npz_declaring((10**12, 6), np.zeros((40, 6)).tobytes()))


def npy_renamed(raw: Path) -> None:
    with (raw / "renamed.npz").open("wb") as handle:
        np.save(handle, np.zeros((40, 6)))


def npz_without_samples(raw: Path) -> None:
    np.savez(raw / "none.npz", x=np.zeros((0, 6)), y=np.zeros(0, int))


def zip_of_other_files(raw: Path) -> None:
    with zipfile.ZipFile(raw / "notes.npz", "w") as archive:
        archive.writestr("x.npy", "features: see the spreadsheet")
        archive.writestr("y.npy", "labels: to do")


def corrupt_gzip(raw: Path) -> None:
    folder = write_idx_set(raw / "gz")
    good = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(good[:40] + bytes(60) + good[100:])


def overflowing_dimensions(raw: Path) -> None:
    folder = write_idx_set(raw / "dims", gz=False)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:4] + np.array([2**32 - 1] * 3, ">u4").tobytes() + images.read_bytes()[16:])


def other_size_test_images(raw: Path) -> None:
    folder = write_idx_set(raw / "sizes", gz=False)
    write_idx_set(raw / "other", size=(10, 10), gz=False)
    (raw / "other" / "t10k-images-idx3-ubyte").replace(folder / "t10k-images-idx3-ubyte")


def entry(section: str, name: str) -> dict:
    """The params of dataset `name`, its files at data/raw/<name>(.npz)."""
    if section == "npz":
        return {"path": f"data/raw/{name}.npz", "kind": "tabular"}
    return {"dataset": "mnist", "root": f"data/raw/{name}"}


SOURCES = {  # dataset: (section, damage of data/raw, message of prepare)
    "huge": (
        "npz",
        npz_declaring_enormous_shape,
        "data/raw/huge.npz: member 'x.npy' declares shape (1000000000000, 6) of float64 (48000000000000 bytes), but "
        "holds 1920 bytes",
    ),
    "renamed": ("npz", npy_renamed, "renamed.npz: not a readable .npz file (a single .npy array, not an archive of"),
    "none": ("npz", npz_without_samples, "data/raw/none.npz: 'x' holds no samples"),
    "notes": ("npz", zip_of_other_files, "data/raw/notes.npz: member 'x.npy' is not a NumPy array"),
    "gz": ("vision", corrupt_gzip, "gz/train-images-idx3-ubyte.gz: not a readable file (damaged gzip data: Error -3"),
    "dims": (
        "vision",
        overflowing_dimensions,
        "data/raw/dims/train-images-idx3-ubyte: IDX header declares shape (4294967295, 4294967295, 4294967295) (",
    ),
    "sizes": (
        "vision",
        other_size_test_images,
        "data/raw/sizes: t10k-images-idx3-ubyte holds 10x10 images (height x width), the training images are 8x8",
    ),
}


def sixteen_bit_images(raw: Path) -> None:
    for label, name in enumerate(("dim", "bright")):
        (raw / "deep" / name).mkdir(parents=True)
        for i, pixels in enumerate(class_images(20, (6, 6), label, seed=3)):
            Image.fromarray(pixels.astype(np.uint16) * 257).save(raw / "deep" / name / f"{i}.png")  # 0..65535


def indexed_table(raw: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120), "label": ["x", "y", "z"] * 40})
    frame[frame.a > -1.5].to_parquet(raw / "indexed.parquet")  # filtered: its index is saved as a column


def nested_folders(raw: Path) -> None:
    root = write_image_folder(raw / "nested", per_class=30)
    (root / "light" / "2024").mkdir()
    for i in range(10):
        (root / "light" / f"{i:03d}.png").rename(root / "light" / "2024" / f"{i:03d}.png")
    (root / "dark" / "notes.txt").write_text("to do\n")


READ = {  # dataset: (section, entry, data/raw it is read from, what prepare says)
    "deep": ("image_folder", {"root": "data/raw/deep"}, sixteen_bit_images, "prepared deep: {'train': 28, 'val'"),
    "indexed": (
        "parquet",
        {"path": "data/raw/indexed.parquet", "kind": "tabular"},
        indexed_table,
        "rows (1 pandas index columns dropped from the source), 3 classes, sample shape (2,)",
    ),
    "nested": (
        "image_folder",
        {"root": "data/raw/nested"},
        nested_folders,
        "prepared nested: {'train': 42, 'val': 6, 'test': 12} rows (1 files that are not images dropped from the "
        "source)",
    ),
}


@pytest.fixture(scope="module")
def sources_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose params declare a dataset of each case below, its files in data/raw/."""
    root = tmp_path_factory.mktemp("bad-sources")
    copy_project(root)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    data: dict = {"datasets": ["mnist1d", *SOURCES, *READ]}
    for name, (section, write, _) in SOURCES.items():
        write(raw)
        data.setdefault(section, {})[name] = entry(section, name)
    for name, (section, params, write, _) in READ.items():
        write(raw)
        data.setdefault(section, {})[name] = params
    (root / "params.yaml").write_text(yaml.safe_dump(raw_params(data=data)))
    return root


def prepare_stage(project: Path, dataset: str) -> subprocess.CompletedProcess:
    """The real prepare stage's process, as `dvc repro` starts it."""
    command = [sys.executable, "pipeline/prepare.py", "--dataset", dataset]
    return subprocess.run(command, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("dataset", SOURCES)
def test_a_damaged_file_of_each_source_is_refused_by_the_prepare_stage_in_one_line(sources_project, dataset):
    done = prepare_stage(sources_project, dataset)
    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.startswith("depthlab prepare: error: ") and SOURCES[dataset][2] in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (sources_project / "data" / "prepared" / dataset).exists()


@pytest.mark.parametrize("dataset", READ)
def test_what_users_write_is_read_whole_and_what_is_left_out_is_said(sources_project, dataset):
    done = prepare_stage(sources_project, dataset)
    assert done.returncode == 0, done.stderr[-3000:]
    assert READ[dataset][3] in done.stdout
    prepared = sources_project / "data" / "prepared" / dataset
    meta = json.loads((prepared / "meta.json").read_text())
    if dataset == "deep":  # 16-bit pixels by 65535: 60 * 257 / 65535, not cut to 255 / 255 as 8 bits gave
        x = pd.concat(pd.read_parquet(prepared / f"{split}.parquet") for split in ("train", "val", "test"))
        assert np.isclose(x.drop(columns="label").to_numpy().min(), 10 / 255)
        assert len(np.unique(x.drop(columns="label").to_numpy())) > 100
    if dataset == "indexed":
        assert meta["features"] == ["a", "b"] and meta["dropped"]["index_columns"] == 1
    if dataset == "nested":
        assert meta["dropped"] == {"other_files": 1, "duplicates": 0} and sum(meta["rows"].values()) == 60
