"""What a model family is: a params model and the module that builds an nn.Module from a depth (depthlab's
own networks, or a user's module named by import path).

Nothing here imports torch: reading params.yaml needs the families' configs, not their networks.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from depthlab.schema import StrictModel

if TYPE_CHECKING:
    import torch
    from torch import nn

SAMPLE_KINDS = ("tabular", "sequence", "image")


@dataclass(frozen=True)
class DataShape:
    """Shape of one sample as the prepare stage declared it, and the number of classes."""

    kind: str
    sample_shape: tuple[int, ...]
    num_classes: int

    @property
    def sample_dims(self) -> int:
        """How many trailing dimensions one sample has: family code flattens from there, never from dim 1,
        so that a network also runs on a leading seed axis (`depthlab.ensemble`)."""
        return len(self.sample_shape)

    @property
    def num_features(self) -> int:
        n = 1
        for size in self.sample_shape:
            n *= size
        return n


@dataclass(frozen=True)
class Family:
    """A family: its config (its section of params.yaml `models`) and `network_module`, whose
    `build(config, depth, shape)` returns the network; depth 0 is the linear baseline."""

    name: str
    config: type[StrictModel]
    network_module: str
    article_type: str  # the article's name for the type of network (claim 5)
    sample_kinds: tuple[str, ...] = SAMPLE_KINDS
    # A user's module named by import path in params.yaml (`models.<name>.class_path`), not one of depthlab's own:
    # its seeds are stacked with torch.func where they can be, or trained one by one (depthlab.training).
    imported: bool = False

    def build(self, config: StrictModel, depth: int, shape: DataShape) -> nn.Module:
        module = importlib.import_module(self.network_module)
        if self.imported:  # the user's module: its errors name the family's section of params.yaml
            return module.build(config, depth, shape, f"models.{self.name}")
        return module.build(config, depth, shape)

    def pretrain(
        self, config: StrictModel, net: nn.Module, inputs: torch.Tensor, seeds: list[int], batch_size: int
    ) -> list[dict[str, float]] | None:
        """Unsupervised training before the labelled one, for a family whose module has `pretrain`: it trains
        `net` (one seed's network or their ensemble) in place on the training inputs (seeds or 1, samples,
        *sample: each seed's own, where each has its own split, or one set for all) and returns each seed's
        metrics. None for the others."""
        hook = getattr(importlib.import_module(self.network_module), "pretrain", None)
        return None if hook is None else hook(config, net, inputs, seeds, batch_size)


def linear_baseline(shape: DataShape) -> nn.Module:
    """Depth 0 of every family: multinomial logistic regression on the flattened sample."""
    from torch import nn

    return nn.Sequential(nn.Flatten(-shape.sample_dims), nn.Linear(shape.num_features, shape.num_classes))
