"""A residual CNN as a LightningModule, the kind of model depthlab sweeps by import path (docs/own-model.md).

`blocks` residual blocks (two convolutions with batch norm, and a skip) between a stem and a linear head:
1-D convolutions over a sequence such as MNIST-1D's samples (length,), 2-D over an image (height, width) or
(channels, height, width). `blocks` is the depth params.yaml sweeps (`depth_arg: blocks`); depthlab passes
`sample_shape` and `num_classes` from the dataset because the constructor names them.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """relu(h + norm(conv(relu(norm(conv(h)))))), the block of He et al. (2016)."""

    def __init__(self, width: int, spatial_dims: int):
        super().__init__()
        conv, norm = (nn.Conv1d, nn.BatchNorm1d) if spatial_dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
        self.body = nn.Sequential(
            conv(width, width, 3, padding=1, bias=False),
            norm(width),
            nn.ReLU(),
            conv(width, width, 3, padding=1, bias=False),
            norm(width),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(h + self.body(h))


class ResNet(L.LightningModule):
    def __init__(self, sample_shape: tuple[int, ...], num_classes: int, blocks: int, width: int = 16, lr: float = 1e-3):
        super().__init__()
        self.save_hyperparameters()
        if not 1 <= len(sample_shape) <= 3:
            raise ValueError(f"a sequence (length,) or an image ([channels,] height, width), not {sample_shape}")
        spatial_dims = min(len(sample_shape), 2)
        # A sequence or a grayscale image is one input channel; a colour image brings its own.
        self.add_channel = len(sample_shape) < 3
        channels = 1 if self.add_channel else sample_shape[0]
        conv, norm = (nn.Conv1d, nn.BatchNorm1d) if spatial_dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
        self.stem = nn.Sequential(conv(channels, width, 3, padding=1, bias=False), norm(width), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(width, spatial_dims) for _ in range(blocks)))
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, num_classes) of a batch of samples (batch, *sample_shape)."""
        h = self.blocks(self.stem(x.unsqueeze(1) if self.add_channel else x))
        return self.head(h.flatten(2).mean(-1))  # global average pooling

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
