"""`mlp`: a plain fully connected stack; depth d = d hidden ReLU layers, depth 0 = logistic regression."""
from __future__ import annotations

from pydantic import Field
from torch import nn

from depthlab.families.base import DataShape, Family, linear_baseline
from depthlab.schema import StrictModel


class MLPConfig(StrictModel):
    width: int = Field(100, gt=0, description="units in every hidden layer")


def build_mlp(config: MLPConfig, depth: int, shape: DataShape) -> nn.Module:
    if depth == 0:
        return linear_baseline(shape)
    layers: list[nn.Module] = [nn.Flatten()]
    features = shape.num_features
    for _ in range(depth):
        layers += [nn.Linear(features, config.width), nn.ReLU()]
        features = config.width
    layers.append(nn.Linear(features, shape.num_classes))
    return nn.Sequential(*layers)


FAMILY = Family(name="mlp", config=MLPConfig, build=build_mlp)
