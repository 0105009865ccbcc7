import copy
import sys

import pytest
import torch
from torch import nn

from depthlab.families import FAMILIES, DataShape, build_network, count_parameters, imported
from depthlab.training.jobs import code_digest
from tests.helpers.params import family_config, make_params

SEQUENCE = DataShape(kind="sequence", sample_shape=(40,), num_classes=10)
IMAGE = DataShape(kind="image", sample_shape=(8, 8), num_classes=10)
TABULAR = DataShape(kind="tabular", sample_shape=(13,), num_classes=3)


def build(family: str, depth: int, shape: DataShape, **config: object) -> nn.Module:
    return FAMILIES[family].build(family_config(family, **config), depth, shape)


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("family", FAMILIES)
def test_depth_zero_is_logistic_regression_in_every_family(family):
    net = build(family, 0, SEQUENCE)
    assert [(m.in_features, m.out_features) for m in linear_layers(net)] == [(40, 10)]
    assert count_parameters(net) == 410


@pytest.mark.parametrize(
    ("family", "depth", "config", "parameters"),
    [
        ("resmlp", 2, {"width": 100, "normalization": False}, 15_210),  # 40-100-100-10 with a residual 2nd layer
        ("cnn", 3, {}, 5_210),  # 25 channels, kernels 5/3/3, stride 2, padding 1
        ("gru", 1, {}, 5_134),  # bidirectional, hidden 6, all 40 outputs into Linear(480, 10)
    ],
)
def test_mnist1d_reference_architectures_have_the_published_parameter_counts(family, depth, config, parameters):
    assert count_parameters(build(family, depth, SEQUENCE, **config)) == parameters


def test_mlp_depth_counts_hidden_layers():
    assert len(linear_layers(build("mlp", 2, SEQUENCE))) == 3
    assert count_parameters(build("mlp", 2, SEQUENCE)) == 15_210


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", [SEQUENCE, IMAGE, TABULAR], ids=lambda s: s.kind)
def test_every_family_classifies_every_shape_it_accepts_at_several_depths(family, shape):
    if shape.kind not in FAMILIES[family].sample_kinds:
        pytest.skip(f"{family} does not model {shape.kind} data")
    for depth in (1, 2, 5):
        net = build(family, depth, shape)
        assert net(torch.zeros(4, *shape.sample_shape)).shape == (4, shape.num_classes)


def test_resmlp_layers_are_residual():
    net = build("resmlp", 3, SEQUENCE)
    for block in [m for m in net.modules() if type(m).__name__ == "ResidualBlock"]:
        nn.init.zeros_(block.linear.weight)
        nn.init.zeros_(block.linear.bias)
    plain = nn.Sequential(*[m for m in net if type(m).__name__ != "ResidualBlock"])
    x = torch.randn(3, 40)
    assert torch.allclose(net(x), plain(x)), "a zeroed residual block passes its input through"


@pytest.mark.parametrize("family", ["pretrained", "rbm"])
def test_pretrained_families_have_the_parameters_of_an_mlp_of_their_depth_and_width(family):
    assert count_parameters(build(family, 2, SEQUENCE)) == 15_210  # 40-100-100-10
    assert count_parameters(build(family, 1, IMAGE, width=50)) == 64 * 50 + 50 + 50 * 10 + 10
    assert count_parameters(build(family, 4, TABULAR)) == count_parameters(build("mlp", 4, TABULAR))


def _pretrained(
    family: str, nets: list[nn.Module], seeds: list[int], inputs: torch.Tensor, steps: int
) -> tuple[nn.Module, list[dict]]:
    from depthlab.ensemble import stack

    config = family_config(family, pretrain_steps=steps, width=16)
    net = stack(nets)
    shared = inputs.unsqueeze(0) if inputs.dim() == 3 else inputs  # (seeds or 1, samples, *sample)
    return net, FAMILIES[family].pretrain(config, net, shared, seeds, 50)


@pytest.mark.parametrize("family", ["pretrained", "rbm"])
def test_pretraining_learns_every_layer_and_a_seed_pretrains_alike_alone_or_in_an_ensemble(family):
    torch.manual_seed(0)
    inputs = torch.randn(400, 8, 8) * 4 + 6  # raw, unstandardized pixels: the RBM standardizes them itself
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(build(family, 2, IMAGE, width=16))
    _, untrained = _pretrained(family, [nets[0]], [0], inputs, 1)
    alone, trained = _pretrained(family, [nets[0]], [0], inputs, 150)
    assert set(trained[0]) == {"pretrain_l1", "pretrain_l2"}
    assert trained[0]["pretrain_l1"] < untrained[0]["pretrain_l1"]  # the first layer learned to reconstruct
    together, per_seed = _pretrained(family, nets, [0, 1], inputs, 150)
    assert per_seed[0] == pytest.approx(trained[0], rel=1e-4)
    x = inputs[:20]
    torch.testing.assert_close(together(x.expand(2, *x.shape))[0], alone(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", ["pretrained", "rbm"])
def test_each_seed_pretrains_on_its_own_inputs_in_an_ensemble_as_alone(family):
    """With data.split_seeds each seed pre-trains on its own training rows (and the RBM standardizes by them):
    in an ensemble, seed 1 on its inputs pre-trains as it does alone on them, not as on seed 0's."""
    torch.manual_seed(0)
    own = torch.randn(2, 400, 8, 8) * torch.tensor([4.0, 2.0]).view(2, 1, 1, 1) + torch.tensor([6.0, 1.0]).view(
        2, 1, 1, 1
    )
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(build(family, 2, IMAGE, width=16))
    together, per_seed = _pretrained(family, [copy.deepcopy(n) for n in nets], [0, 1], own, 100)
    alone, [trained] = _pretrained(family, [copy.deepcopy(nets[1])], [1], own[1], 100)
    _, [on_other] = _pretrained(family, [copy.deepcopy(nets[1])], [1], own[0], 100)
    assert per_seed[1] == pytest.approx(trained, rel=1e-4) and per_seed[1] != pytest.approx(on_other, rel=1e-2)
    x = own[1, :20]
    torch.testing.assert_close(together(x.expand(2, *x.shape))[1], alone(x), rtol=1e-4, atol=1e-5)


def test_an_rbm_network_reads_raw_inputs_once_its_standardization_is_folded_in():
    torch.manual_seed(0)
    inputs = torch.rand(300, 8, 8) * 16  # digits' scale
    net = build("rbm", 1, IMAGE, width=16)
    FAMILIES["rbm"].pretrain(family_config("rbm", pretrain_steps=100, width=16), net, inputs.unsqueeze(0), [0], 50)
    hidden = torch.sigmoid(net[1](net[0](inputs)))
    # Standardized inputs gave hidden units in use, neither stuck at 0 or 1: the fold kept that on raw inputs.
    assert 0.05 < hidden.mean().item() < 0.95
    assert hidden.std(dim=0).mean().item() > 0.05


# A family of the user's: a module in a throwaway project's models/ folder, imported from that project's root.
NET = """
from torch import nn

from models.layers import head


class Net(nn.Module):
    def __init__(self, layers: int, num_classes: int, width: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), *(nn.LazyLinear(width) for _ in range(layers)), head(num_classes))

    def forward(self, x):
        return self.body(x)
"""


def write_layers(project, head: str) -> None:
    (project / "models" / "layers.py").write_text(f"from torch import nn\n\n\ndef head(n):\n    return {head}\n")


@pytest.fixture
def user_project(tmp_path, monkeypatch):
    """A project whose models/ holds Net (and the layers it imports), the working directory for the test; the
    repository's own `models` package is forgotten meanwhile."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")  # a regular package: it wins over the repository's
    (tmp_path / "models" / "net.py").write_text(NET)
    write_layers(tmp_path, "nn.LazyLinear(n)")
    (tmp_path / "models" / "other.py").write_text("X = 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [name for name in sys.modules if name == "models" or name.startswith("models.")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def user_models(**config: object):
    section = {"class_path": "models.net.Net", "depth_arg": "layers", "article_type": "feed-forward", **config}
    return make_params(models={"net": section}, sweep={"net": {"datasets": ["mnist1d"], "depths": [1, 2]}}).models


def test_a_users_module_gets_init_args_the_depth_and_what_its_signature_names_of_the_data(user_project):
    net = build_network(user_models(init_args={"width": 5}), "net", 2, SEQUENCE)
    assert type(net).__module__ == "models.net" and net(torch.zeros(4, 40)).shape == (4, 10)
    assert [m.out_features for m in linear_layers(net)] == [5, 5, 10], "init_args, 2 layers, the data's classes"
    assert imported.code_folder(net) == user_project / "models"
    assert imported.code_folder(build("mlp", 1, SEQUENCE)) is None


def test_a_users_family_is_digested_with_the_modules_it_imports_and_depthlabs_own_are_not(user_project):
    """Editing the user's module, or one it imports, changes its family's code digest (its ensembles retrain);
    a module it does not import changes nothing; depthlab's own families' digests never see the user's code."""
    models = user_models()
    folder = user_project / "models"
    assert imported.source_files(models.net) == [folder / "__init__.py", folder / "layers.py", folder / "net.py"]
    mlp, net = code_digest(models, "mlp"), code_digest(models, "net")
    assert mlp == code_digest(make_params().models, "mlp") and net != mlp
    (user_project / "models" / "other.py").write_text("X = 2\n")
    assert code_digest(models, "net") == net
    write_layers(user_project, "nn.Linear(3, n)")
    assert code_digest(models, "net") != net and code_digest(models, "mlp") == mlp
