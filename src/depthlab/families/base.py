"""What a model family is: a params model and a builder of a plain nn.Module from a depth."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from depthlab.schema import StrictModel

SAMPLE_KINDS = ("tabular", "sequence", "image")


@dataclass(frozen=True)
class DataShape:
    """Shape of one sample as the prepare stage declared it, and the number of classes."""

    kind: str
    sample_shape: tuple[int, ...]
    num_classes: int

    @property
    def num_features(self) -> int:
        n = 1
        for size in self.sample_shape:
            n *= size
        return n


@dataclass(frozen=True)
class Family:
    """A family: `build(config, depth, shape)` returns the network; depth 0 is the linear baseline."""

    name: str
    config: type[StrictModel]
    build: Callable[[StrictModel, int, DataShape], nn.Module]
    sample_kinds: tuple[str, ...] = SAMPLE_KINDS


def linear_baseline(shape: DataShape) -> nn.Module:
    """Depth 0 of every family: multinomial logistic regression on the flattened sample."""
    return nn.Sequential(nn.Flatten(), nn.Linear(shape.num_features, shape.num_classes))
