"""`cnn`: a stack of strided convolutions, 1-D over sequences and 2-D over images, then one linear layer.
Depth d = d convolution layers; depth 0 = logistic regression. A sequence (length,) or a grayscale image
(height, width) is one input channel; a colour image (channels, height, width) brings its own.

With the defaults and depth 3 this is the MNIST-1D reference CNN (25 channels, kernels 5/3/3, stride 2,
padding 1, no pooling, 5,210 parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab.families import CNNConfig
from depthlab.families.base import DataShape, linear_baseline


def build(config: CNNConfig, depth: int, shape: DataShape) -> nn.Module:
    if depth == 0:
        return linear_baseline(shape)
    conv = nn.Conv1d if shape.sample_dims == 1 else nn.Conv2d
    spatial_dims = min(shape.sample_dims, 2)
    if shape.sample_dims == 3:
        layers: list[nn.Module] = []
        channels = shape.sample_shape[0]
    else:  # (..., *sample) -> (..., 1, *sample): a single input channel.
        layers = [nn.Unflatten(-shape.sample_dims, (1, shape.sample_shape[0]))]
        channels = 1
    for layer in range(depth):
        kernel = config.first_kernel if layer == 0 else config.kernel
        layers += [conv(channels, config.channels, kernel, config.stride, config.padding), nn.ReLU()]
        channels = config.channels
    features = nn.Sequential(*layers)
    with torch.no_grad():
        flat = features(torch.zeros(1, *shape.sample_shape)).numel()
    return nn.Sequential(features, nn.Flatten(-spatial_dims - 1), nn.Linear(flat, shape.num_classes))
