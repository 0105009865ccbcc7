import torch
from torch import nn

from depthlab.families import FAMILIES, DataShape

SEQUENCE = DataShape(kind="sequence", sample_shape=(40,), num_classes=10)


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def test_mlp_depth_zero_is_logistic_regression():
    net = FAMILIES["mlp"].build(FAMILIES["mlp"].config(width=100), 0, SEQUENCE)
    assert [(m.in_features, m.out_features) for m in linear_layers(net)] == [(40, 10)]


def test_mlp_depth_counts_hidden_layers_and_parameters():
    net = FAMILIES["mlp"].build(FAMILIES["mlp"].config(width=100), 2, SEQUENCE)
    assert len(linear_layers(net)) == 3
    assert sum(p.numel() for p in net.parameters()) == 15_210  # 40-100-100-10, as in the MNIST-1D reference


def test_mlp_flattens_images():
    image = DataShape(kind="image", sample_shape=(8, 8), num_classes=10)
    net = FAMILIES["mlp"].build(FAMILIES["mlp"].config(width=16), 3, image)
    assert net(torch.zeros(5, 8, 8)).shape == (5, 10)
