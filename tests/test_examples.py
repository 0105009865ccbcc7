"""The worked example of a family of your own (examples/): its preset makes valid params, its image folder
prepares through the real image_folder source, and its LightningModule builds through depthlab on both kinds of
sample, deeper with more blocks."""

import torch
import yaml

from depthlab.data import load_arrays, prepare
from depthlab.families import build_network, count_parameters, family_of
from depthlab.params import Params
from depthlab.presets import command, merged
from tests.helpers.project import ROOT

PRESET = ROOT / "examples" / "resnet.yaml"


def example_params(root) -> Params:
    """The repository's params.yaml with the example's preset laid over it, its image folder under `root`."""
    raw = merged(yaml.safe_load((ROOT / "params.yaml").read_text()), yaml.safe_load(PRESET.read_text()))
    raw["data"]["image_folder"]["shapes"]["root"] = str(root)
    return Params.model_validate(raw)


def test_the_examples_preset_is_a_dvc_experiment_that_adds_the_family():
    dvc = command(PRESET, ROOT / "params.yaml")
    assert dvc[:5] == ["dvc", "exp", "run", "--name", "resnet"]
    assert '++models.resnet.class_path="examples.resnet.ResNet"' in dvc


def test_the_example_builds_on_sequences_and_on_the_image_folder_it_writes(tmp_path):
    from examples.shapes import CLASSES, write_shapes

    write_shapes(tmp_path / "shapes", per_class=40)
    params = example_params(tmp_path / "shapes")
    assert family_of(params.models, "resnet").imported
    meta = prepare(params.data, "shapes", tmp_path / "prepared")
    assert meta.shape.sample_shape == (16, 16) and meta.classes == sorted(CLASSES)
    x, _ = load_arrays(tmp_path / "prepared", "train", meta)
    sequences = prepare(params.data, "mnist1d", tmp_path / "mnist1d").shape
    for shape, batch in ((meta.shape, torch.from_numpy(x[:5])), (sequences, torch.zeros(5, 40))):
        counts = []
        for depth in (0, 1, 2):
            net = build_network(params.models, "resnet", depth, shape).eval()
            assert net(batch).shape == (5, shape.num_classes)
            counts.append(count_parameters(net))
        assert counts[0] < counts[1] < counts[2], "each block adds parameters"
