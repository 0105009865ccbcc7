"""`mlp`: a plain fully connected stack; depth d = d hidden ReLU layers, depth 0 = logistic regression."""
from __future__ import annotations

from torch import nn

from depthlab.families import MLPConfig
from depthlab.families.base import DataShape, linear_baseline


def build(config: MLPConfig, depth: int, shape: DataShape) -> nn.Module:
    if depth == 0:
        return linear_baseline(shape)
    layers: list[nn.Module] = [nn.Flatten(-shape.sample_dims)]
    features = shape.num_features
    for _ in range(depth):
        layers += [nn.Linear(features, config.width), nn.ReLU()]
        features = config.width
    layers.append(nn.Linear(features, shape.num_classes))
    return nn.Sequential(*layers)
