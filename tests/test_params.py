from pathlib import Path

import pytest
import yaml

from depthlab.errors import ParamsError
from depthlab.params import load_params
from tests.conftest import ROOT, raw_params


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.data.source == "mnist1d"
    assert dict(params.sweep_items())["mlp"][:2] == [0, 1]


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    raw = raw_params()
    raw["train"]["max_step"] = 10
    with pytest.raises(ParamsError, match=r"train\.max_step: unknown key; did you mean 'max_steps'\?"):
        load_params(write(tmp_path, raw))


def test_unknown_family_is_refused(tmp_path):
    with pytest.raises(ParamsError, match=r"sweep\.transformer: unknown key"):
        load_params(write(tmp_path, raw_params(sweep={"transformer": [1]})))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"train": {"max_steps": "many"}}, "train.max_steps"),
        ({"train": {"lr": 0}}, "train.lr"),
        ({"train": {"lr": -0.1}}, "train.lr"),
        ({"models": {"mlp": {"width": 0}}}, "models.mlp.width"),
        ({"sweep": {"mlp": [1, -2]}}, "sweep.mlp.1"),
        ({"train": {"seeds": [0, 0]}}, "train.seeds"),
        ({"data": {"source": "imagenet"}}, "data.source"),
    ],
)
def test_wrong_type_or_impossible_value_names_the_key(tmp_path, override, key):
    with pytest.raises(ParamsError) as caught:
        load_params(write(tmp_path, raw_params(**override)))
    assert key in str(caught.value)


def test_missing_section_is_an_error(tmp_path):
    raw = raw_params()
    del raw["evaluate"]
    with pytest.raises(ParamsError, match="evaluate: required key is missing"):
        load_params(write(tmp_path, raw))


def test_csv_source_needs_a_path(tmp_path):
    with pytest.raises(ParamsError, match="data.csv.path is not set"):
        load_params(write(tmp_path, raw_params(data={"source": "csv"})))


def test_broken_yaml_and_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file is missing"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
