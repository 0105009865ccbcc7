"""`cnn`: a stack of strided convolutions, 1-D over sequences and 2-D over images, then one linear layer.
Depth d = d convolution layers; depth 0 = logistic regression.

With the defaults and depth 3 this is the MNIST-1D reference CNN (25 channels, kernels 5/3/3, stride 2,
padding 1, no pooling, 5,210 parameters).
"""
from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from depthlab.families.base import DataShape, Family, linear_baseline
from depthlab.schema import StrictModel


class CNNConfig(StrictModel):
    channels: int = Field(25, gt=0, description="channels of every convolution")
    first_kernel: int = Field(5, gt=0, description="kernel size of the first convolution")
    kernel: int = Field(3, gt=0, description="kernel size of the others")
    stride: int = Field(2, gt=0)
    padding: int = Field(1, ge=0)


class AddChannel(nn.Module):
    """(n, *sample) -> (n, 1, *sample): a single input channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


def build_cnn(config: CNNConfig, depth: int, shape: DataShape) -> nn.Module:
    if depth == 0:
        return linear_baseline(shape)
    conv = nn.Conv1d if len(shape.sample_shape) == 1 else nn.Conv2d
    layers: list[nn.Module] = [AddChannel()]
    channels = 1
    for layer in range(depth):
        kernel = config.first_kernel if layer == 0 else config.kernel
        layers += [conv(channels, config.channels, kernel, config.stride, config.padding), nn.ReLU()]
        channels = config.channels
    features = nn.Sequential(*layers)
    with torch.no_grad():
        flat = features(torch.zeros(1, *shape.sample_shape)).numel()
    return nn.Sequential(features, nn.Flatten(), nn.Linear(flat, shape.num_classes))


FAMILY = Family(
    name="cnn", config=CNNConfig, build=build_cnn, sample_kinds=("sequence", "image")
)
