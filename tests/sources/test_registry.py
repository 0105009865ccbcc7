"""Every source is a section of `data` in params.yaml, declares its sample kind, and is checked with the sweep."""

import pytest
import yaml

from depthlab.errors import ParamsError
from depthlab.params import DataParams, load_params
from depthlab.sources import USER_SOURCES
from tests.helpers.params import NO_SWEEP, raw_params
from tests.helpers.project import ROOT

ENTRIES = {
    "csv": {"path": "data/raw/t.csv"},
    "image_folder": {"root": "data/raw/imgs"},
    "npz": {"path": "data/raw/a.npz", "kind": "sequence"},
    "parquet": {"path": "data/raw/t.parquet", "kind": "tabular"},
    "vision": {"dataset": "cifar10", "root": "data/raw/vision"},
}
KINDS = {"csv": "tabular", "image_folder": "image", "npz": "sequence", "parquet": "tabular", "vision": "image"}


def study(section: str, *families: str) -> dict:
    sweep = {**NO_SWEEP, **{family: {"datasets": ["mine"], "depths": [0, 1]} for family in families}}
    return raw_params(data={"datasets": ["mine"], section: {"mine": dict(ENTRIES[section])}}, sweep=sweep)


def load(tmp_path, raw):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return load_params(tmp_path / "params.yaml")


def test_every_source_has_a_section_in_data_params_and_params_yaml():
    assert set(USER_SOURCES) <= set(DataParams.model_fields)
    declared = yaml.safe_load((ROOT / "params.yaml").read_text())["data"]
    assert set(USER_SOURCES) <= set(declared)


@pytest.mark.parametrize("section", list(ENTRIES))
def test_each_source_declares_its_kind_and_families_that_cannot_model_it_are_refused(tmp_path, section):
    kind = KINDS[section]
    params = load(tmp_path, study(section, "mlp", "resmlp"))
    assert params.data.kind("mine") == kind and params.data.source("mine") == section
    if kind == "tabular":
        with pytest.raises(ParamsError, match="family 'cnn' cannot model tabular data"):
            load(tmp_path, study(section, "cnn"))
    else:
        assert load(tmp_path, study(section, "mlp", "resmlp", "cnn", "gru")).data.kind("mine") == kind


def test_a_name_declared_by_two_sources_or_by_none_is_refused(tmp_path):
    raw = study("npz")
    raw["data"]["parquet"] = {"mine": ENTRIES["parquet"]}
    with pytest.raises(ParamsError, match="'mine' is declared twice, as npz and parquet"):
        load(tmp_path, raw)
    raw = study("npz")
    raw["data"]["datasets"] = ["other"]
    with pytest.raises(ParamsError, match=r"'other' is neither built in nor declared under data.<source>"):
        load(tmp_path, raw)


def test_an_unknown_key_of_a_source_is_named(tmp_path):
    raw = study("image_folder", "mlp")
    raw["data"]["image_folder"]["mine"]["resize_policy"] = "stretch"
    with pytest.raises(ParamsError, match=r"data.image_folder.mine.resize_policy: unknown key"):
        load(tmp_path, raw)


@pytest.mark.parametrize("section", list(ENTRIES))
def test_each_source_names_the_files_it_reads_and_reproduce_copies_them_into_a_worktree(tmp_path, monkeypatch, section):
    from pathlib import Path

    from depthlab.reproduce import copy_missing

    entry = load(tmp_path, study(section, "mlp")).data.entry("mine")
    [place] = entry.inputs
    assert str(place) == ENTRIES[section].get("path", ENTRIES[section].get("root"))
    project, worktree = tmp_path / "project", tmp_path / "worktree"
    if "root" in ENTRIES[section]:  # a folder: copied whole
        (project / place / "a").mkdir(parents=True)
        (project / place / "a" / "1.png").write_bytes(b"png")
    else:
        (project / place).parent.mkdir(parents=True)
        (project / place).write_bytes(b"data")
    worktree.mkdir()
    monkeypatch.chdir(worktree)
    copy_missing(entry.inputs, project)
    copied = sorted(p.relative_to(worktree) for p in worktree.rglob("*") if p.is_file())
    assert copied == sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file()) != []
    (Path(place) if place.is_file() else Path(place) / "a" / "1.png").write_bytes(b"the worktree's own")
    copy_missing(entry.inputs, project)  # what the worktree holds is kept
    assert b"the worktree's own" in {p.read_bytes() for p in worktree.rglob("*") if p.is_file()}


def test_built_in_datasets_resolve_from_the_same_registry_and_a_users_name_comes_first(tmp_path):
    from depthlab.sources import SOURCES

    params = load(tmp_path, raw_params(data={"datasets": ["mnist1d", "digits", "mnist"]}))
    resolved = {name: params.data.resolve(name) for name in ("mnist1d", "digits", "mnist")}
    assert {name: (d.source, d.kind, d.built_in) for name, d in resolved.items()} == {
        "mnist1d": ("mnist1d", "sequence", True),
        "digits": ("digits", "image", True),
        "mnist": ("mnist", "image", True),
    }
    assert resolved["mnist1d"].settings == params.data.mnist1d and resolved["mnist"].settings is None
    assert params.data.describe("mnist1d")["num_samples"] == params.data.mnist1d.num_samples
    sections = {name for name, source in SOURCES.items() if source.section is not None}
    assert sections == set(DataParams.model_fields) - {
        "datasets",
        "split_seed",
        "val_fraction",
        "test_fraction",
        "split_seeds",
    }
    # A params.yaml that named its own IDX files `mnist` before the built-in existed keeps its meaning.
    mine = load(
        tmp_path,
        raw_params(
            data={"datasets": ["mnist"], "vision": {"mnist": ENTRIES["vision"]}},
            sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist"], "depths": [0]}},
        ),
    )
    assert mine.data.resolve("mnist").source == "vision" and mine.data.resolve("mnist").key == "data.vision.mnist"
