"""Small modules as a user writes them, for the training paths of a family named by import path: plain nn.Modules,
and LightningModules (this module imports lightning: import it inside the tests that need it)."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

FEATURES, CLASSES = 40, 10  # MNIST-1D's


class MLP(nn.Module):
    """The built-in mlp family's network, written as a user would: a plain module returning logits."""

    def __init__(self, depth: int = 1, width: int = 16, features: int = FEATURES, classes: int = CLASSES):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        self.body = nn.Sequential(*layers, nn.Linear(features, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BatchNormMLP(MLP):
    """Batch norm updates its running statistics in training: its seeds train one by one."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.norm(x))


class Branching(MLP):
    """Control flow on a tensor's value, which vmap cannot trace."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.body(x)
        return logits if logits.sum() > 0 else -logits


class ThreeClasses(MLP):
    """Logits for three classes on ten-class data."""

    def __init__(self) -> None:
        super().__init__(classes=3)


class LightningMLP(pl.LightningModule):
    """Lightning's contract: its own training_step, which logs, and its own optimizer."""

    def __init__(self, depth: int = 1) -> None:
        super().__init__()
        self.net = MLP(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("own_loss", loss)
        self.log_dict({"own_batch": float(batch_idx)})
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # lr 50 would diverge at once: depthlab sets every group's lr to the member's
        return torch.optim.SGD(self.parameters(), lr=50.0, momentum=0.9)


class LightningForwardOnly(pl.LightningModule):
    """A LightningModule that defines neither training_step nor configure_optimizers: depthlab's loss and Adam."""

    def __init__(self) -> None:
        super().__init__()
        self.net = MLP()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ReturnsNothing(LightningMLP):
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        super().training_step(batch, batch_idx)


class ReturnsPerSampleLoss(LightningMLP):
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self(x), y, reduction="none")


class WithScheduler(LightningMLP):
    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 10)}
