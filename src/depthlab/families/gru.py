"""`gru`: stacked GRU layers over the sequence (or an image's rows), every step's output into one linear layer.
Depth d = d GRU layers; depth 0 = logistic regression.

With the defaults and depth 1 this is the MNIST-1D reference GRU (bidirectional, hidden 6, 5,134 parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab.families import GRUConfig
from depthlab.families.base import DataShape, linear_baseline


class SequenceGRU(nn.Module):
    """A sequence of scalars gets one input per step; an image is read row by row, a colour image's row with
    every channel's values of that row as its inputs."""

    def __init__(self, config: GRUConfig, depth: int, shape: DataShape):
        super().__init__()
        self.scalar_steps = shape.sample_dims == 1
        self.channels_first = shape.sample_dims == 3
        if self.scalar_steps:
            steps, inputs = shape.sample_shape[0], 1
        elif self.channels_first:
            channels, steps, width = shape.sample_shape
            inputs = channels * width
        else:
            steps, inputs = shape.sample_shape
        self.gru = nn.GRU(inputs, config.hidden, depth, batch_first=True, bidirectional=config.bidirectional)
        directions = 2 if config.bidirectional else 1
        self.head = nn.Linear(steps * config.hidden * directions, shape.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scalar_steps:
            x = x.unsqueeze(-1)
        elif self.channels_first:  # (..., channels, rows, width) -> (..., rows, channels * width)
            x = x.movedim(-3, -2).flatten(-2)
        outputs, _ = self.gru(x)
        return self.head(outputs.flatten(-2))


def build(config: GRUConfig, depth: int, shape: DataShape) -> nn.Module:
    return linear_baseline(shape) if depth == 0 else SequenceGRU(config, depth, shape)
