import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from depthlab.cell import Cell
from depthlab.errors import ParamsError
from depthlab.families import FAMILIES, ImportedConfig, family_of
from depthlab.params import load_params
from tests.helpers.params import NO_SWEEP, USER_FAMILY, raw_params
from tests.helpers.project import ROOT


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repository_params_load_and_cover_every_family_and_three_datasets():
    params = load_params(ROOT / "params.yaml")
    assert len(params.data.datasets) >= 3
    assert {params.data.kind(d) for d in params.data.datasets} == {"sequence", "image", "tabular"}
    assert {family for _, family, _ in params.study()} == set(FAMILIES)
    assert all(0 in depths for _, _, depths in params.study()), "depth 0 is every family's linear baseline"
    assert len(params.train.seeds) >= 3


def test_params_yaml_is_the_one_home_of_every_default(tmp_path):
    """No model field has a default of its own, so params.yaml cannot be contradicted by code; only the optional
    keys of a source's dataset entry (`data.<source>.<name>`: params.yaml declares no template entry, its
    comments show every default) have them."""
    from pydantic import BaseModel

    from depthlab.params import Params
    from depthlab.sources.csv import CsvParams

    def defaults(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            if not field.is_required():
                found.append(prefix + name)
            if (
                isinstance(field.annotation, type)
                and issubclass(field.annotation, BaseModel)
                and field.annotation is not CsvParams
            ):
                found += defaults(field.annotation, f"{prefix}{name}.")
        return found

    assert defaults(Params, "") == []
    raw = raw_params()
    del raw["train"]["selection"]["max_steps"]
    with pytest.raises(ParamsError, match=r"train\.selection\.max_steps: required key is missing"):
        load_params(write(tmp_path, raw))


def test_presets_make_valid_params():
    from depthlab.presets import command

    for preset in (ROOT / "presets").glob("*.yaml"):
        dvc = command(preset, ROOT / "params.yaml")
        assert dvc[:5] == ["dvc", "exp", "run", "--name", preset.stem] and "-S" in dvc


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    raw = raw_params()
    raw["train"]["max_step"] = 10
    with pytest.raises(ParamsError, match=r"train\.max_step: unknown key; did you mean 'max_steps'\?"):
        load_params(write(tmp_path, raw))


def test_unknown_family_is_refused(tmp_path):
    with pytest.raises(ParamsError, match=r"sweep\.transformer: no family 'transformer' in models"):
        load_params(write(tmp_path, raw_params(sweep={"transformer": {"depths": [1]}})))


def test_a_family_of_the_users_is_a_typed_section_of_models_and_a_sweep_of_its_own(tmp_path):
    """LightningCLI's vocabulary (class_path, init_args) plus depth_arg and article_type; sample_kinds defaults to
    every kind. Reading it imports nothing of the user's (prepare, validate and report read params too)."""
    params = load_params(write(tmp_path, raw_params(**USER_FAMILY)))
    config = params.models.resnet
    assert isinstance(config, ImportedConfig) and config.init_args == {"width": 4} and config.depth_arg == "blocks"
    assert config.sample_kinds == ("tabular", "sequence", "image")
    assert params.families == [*FAMILIES, "resnet"] and params.depths("mnist1d", "resnet") == [0, 1]
    family = family_of(params.models, "resnet")
    assert family.imported and family.article_type == "convolutional (residual)"
    load = (
        "import sys; from pathlib import Path; from depthlab.params import load_params; "
        "from depthlab.families import family_of; "
        "family_of(load_params(Path(sys.argv[1])).models, 'resnet'); "
        "print([m for m in ('examples', 'torch') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", load, str(tmp_path / "params.yaml")], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]
    # What shapes training, for the cache key: not the article's type nor the kinds of data it accepts.
    assert config.model_dump(mode="json") == {
        "class_path": "examples.resnet.ResNet",
        "init_args": {"width": 4},
        "depth_arg": "blocks",
    }


USER = USER_FAMILY["models"]["resnet"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"models": {"mpl": {"width": 3}}}, "models: 'mpl' is no family of depthlab's (mlp, resmlp"),
        (
            {"models": {"mpl": {"width": 3}}},
            "did you mean 'mlp'? A family of your own names its module",
        ),
        ({"models": {"My-Net": USER}}, "nor a name for one of yours (lower case letters, digits and _"),
        ({"models": {"resnet": {**USER, "widht": 3}}}, "models.resnet.widht: unknown key"),
        ({"models": {"resnet": {**USER, "widht": 3}}}, "allowed here: article_type, class_path, depth_arg"),
        ({"models": {"resnet": {**USER, "class_path": "ResNet"}}}, "models.resnet.class_path: String should match"),
        ({"models": {"resnet": {k: v for k, v in USER.items() if k != "depth_arg"}}}, "models.resnet.depth_arg: requ"),
        (
            {"models": {"resnet": {**USER, "init_args": {"blocks": 2}}}},
            "init_args sets 'blocks', which depthlab sets from the sweep's depths",
        ),
        ({"models": {"resnet": {**USER, "init_args": {"num_classes": 2}}}}, "which depthlab sets from the dataset"),
        (
            {"models": {"resnet": {**USER, "sample_kinds": ["image"]}}, "sweep": USER_FAMILY["sweep"]},
            "sweep.resnet.datasets: family 'resnet' cannot model sequence data ('mnist1d'); it accepts image data",
        ),
        ({"models": {"resnet": USER}, "sweep": {}}, "models.resnet: no sweep.resnet"),
        ({"sweep": {"resnet": USER_FAMILY["sweep"]["resnet"]}}, "sweep.resnet: no family 'resnet' in models"),
    ],
)
def test_a_family_of_the_users_named_wrongly_is_one_message_naming_the_key(tmp_path, override, message):
    raw = raw_params(**override)
    with pytest.raises(ParamsError) as caught:
        load_params(write(tmp_path, raw))
    assert message in str(caught.value)


def test_a_family_that_cannot_model_the_data_is_refused_before_training(tmp_path):
    raw = raw_params(
        data={"datasets": ["mnist1d", "table"], "csv": {"table": {"path": "t.csv"}}},
        sweep={**NO_SWEEP, "cnn": {"datasets": ["table"], "depths": [1]}},
    )
    with pytest.raises(ParamsError, match=r"sweep\.cnn\.datasets: family 'cnn' cannot model tabular data \('table'\)"):
        load_params(write(tmp_path, raw))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"train": {"max_steps": "many"}}, "train.max_steps"),
        ({"train": {"lr": 0}}, "train.lr"),
        ({"train": {"lr": -0.1}}, "train.lr"),
        ({"train": {"lr": [0.01, 0.01]}}, "train.lr: lists a value twice"),
        (
            {"train": {"lr": [0.001, 0.01], "seeds": [0, 1], "selection": {"seeds": [1, 7]}}},
            "train.selection.seeds [1] are also in train.seeds: the lr would be chosen on runs the report uses",
        ),
        (
            {"train": {"lr": [0.001, 0.01]}, "data": {"val_fraction": 0}},
            "chosen on validation data, but data.val_fraction is 0",
        ),
        (
            {"data": {"val_fraction": 0, "split_seeds": True}, "train": {"lr": [0.01]}},
            "data: data.split_seeds: each seed's own split is drawn from the training and validation rows, but "
            "data.val_fraction is 0",
        ),
        ({"models": {"mlp": {"width": 0}}}, "models.mlp.width"),
        ({"models": {"gru": {"hidden": -1}}}, "models.gru.hidden"),
        ({"sweep": {"mlp": {"datasets": ["mnist1d"], "depths": [1, -2]}}}, "sweep.mlp.depths.1"),
        ({"sweep": {"mlp": {"datasets": ["imagenet"], "depths": [1]}}}, "sweep.mlp.datasets"),
        ({"train": {"seeds": [0, 0]}}, "train.seeds"),
        ({"data": {"datasets": ["imagenet"]}}, "data.datasets"),
        ({"report": {"confidence": 1.5}}, "report.confidence"),
        ({"train": {"max_steps": [800, 800]}}, "train.max_steps"),
        ({"train": {"max_steps": [800, 0]}}, "train.max_steps"),
        ({"train": {"max_steps": []}}, "train.max_steps"),
        ({"train": {"train_rows": [4000, -1]}}, "train.train_rows"),
        ({"train": {"train_rows": 0}}, "train.train_rows"),
        (
            {"train": {"max_steps": [800, 6000], "selection": {"max_steps": 800}}},
            "train.selection.max_steps is 800 but train.max_steps sweeps the budgets [800, 6000]",
        ),
    ],
)
def test_wrong_type_or_impossible_value_names_the_key(tmp_path, override, key):
    with pytest.raises(ParamsError) as caught:
        load_params(write(tmp_path, raw_params(**override)))
    assert key in str(caught.value)


def test_budget_and_size_are_a_value_or_an_axis_of_cells_the_largest_the_main_one(tmp_path):
    train = load_params(write(tmp_path, raw_params())).train
    assert train.cells == [Cell(30, None)] and not train.swept and train.selection_steps(train.main_cell) == 30
    swept = {"max_steps": [6000, 800], "train_rows": [40000, 4000], "selection": {"max_steps": None}}
    train = load_params(write(tmp_path, raw_params(train=swept))).train
    assert train.budgets == [800, 6000] and train.sizes == [4000, 40000] and train.swept
    assert train.cells == [Cell(800, 4000), Cell(800, 40000), Cell(6000, 4000), Cell(6000, 40000)]
    assert train.main_cell == Cell(6000, 40000) and train.main_cell.label == "6000 steps, 40000 rows"
    assert [train.selection_steps(cell) for cell in train.cells] == [800, 800, 6000, 6000]
    one = load_params(write(tmp_path, raw_params(train={"max_steps": [500], "train_rows": 300}))).train
    assert one.cells == [Cell(500, 300)] and not one.swept, "a list of one is one budget"


def test_missing_section_is_an_error(tmp_path):
    raw = raw_params()
    del raw["evaluate"]
    with pytest.raises(ParamsError, match="evaluate: required key is missing"):
        load_params(write(tmp_path, raw))


def test_an_empty_study_is_refused(tmp_path):
    with pytest.raises(ParamsError, match="nothing to train"):
        load_params(write(tmp_path, raw_params(sweep=NO_SWEEP)))


def test_broken_yaml_and_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file is missing"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_every_stage_depends_on_its_entry_point_and_the_whole_package():
    """A stage imports depthlab modules beyond the one it is named after (params, stages, tracking...), so
    each depends on `src/depthlab` as a whole: a change to any module its results could rest on reruns it."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        script = body["cmd"].split()[1]
        assert script.startswith("pipeline/") and (ROOT / script).exists(), name
        assert {script, "src/depthlab"} <= set(body["deps"]), f"{name} must depend on {script} and src/depthlab"


def test_the_train_stages_depend_on_data_split_seeds_whose_prepared_data_is_the_same():
    """Each seed's own split changes what trains, not the prepared data: without the key among its params, a train
    stage would not rerun when it changes (prepare would, and write the same data)."""
    train = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["do"]
    assert "data.split_seeds" in train["params"] and "data" not in train["params"]
