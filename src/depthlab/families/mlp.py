"""`mlp`: a plain fully connected stack; depth d = d hidden ReLU layers, depth 0 = logistic regression."""

from __future__ import annotations

from torch import nn

from depthlab.families import MLPConfig
from depthlab.families.base import DataShape, linear_baseline


def hidden_stack(width: int, depth: int, shape: DataShape, activation: type[nn.Module]) -> nn.Sequential:
    """`depth` hidden layers of `width` units and `activation`, then a linear classifier; logistic regression
    at depth 0. Also the network of the families that differ from `mlp` only in how they are trained."""
    if depth == 0:
        return linear_baseline(shape)
    layers: list[nn.Module] = [nn.Flatten(-shape.sample_dims)]
    features = shape.num_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, shape.num_classes))
    return nn.Sequential(*layers)


def build(config: MLPConfig, depth: int, shape: DataShape) -> nn.Module:
    return hidden_stack(config.width, depth, shape, nn.ReLU)
