"""`resmlp`: the MLP with residual hidden layers, `h = h + relu(W norm(h))`, as He et al. (2016) prescribe
for depth. Depth d = d hidden layers like `mlp` (the first maps the input to the width, the other d-1 are
residual), so `mlp` and `resmlp` at equal depth differ only by the skips and the normalization.

With `normalization: false` and depth 2 this is the MNIST-1D reference MLP (40-100-100-10, 15,210 parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab.families import ResMLPConfig
from depthlab.families.base import DataShape, linear_baseline


class ResidualBlock(nn.Module):
    def __init__(self, width: int, normalization: bool):
        super().__init__()
        self.norm = nn.LayerNorm(width) if normalization else nn.Identity()
        self.linear = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + torch.relu(self.linear(self.norm(h)))


def build(config: ResMLPConfig, depth: int, shape: DataShape) -> nn.Module:
    if depth == 0:
        return linear_baseline(shape)
    blocks = [ResidualBlock(config.width, config.normalization) for _ in range(depth - 1)]
    return nn.Sequential(
        nn.Flatten(-shape.sample_dims),
        nn.Linear(shape.num_features, config.width),
        nn.ReLU(),
        *blocks,
        nn.Linear(config.width, shape.num_classes),
    )
