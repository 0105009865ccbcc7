"""Registry of model families. Adding a family: one module in this package and one line below."""
from pydantic import BaseModel
from torch import nn

from depthlab.families import cnn, gru, mlp, resmlp
from depthlab.families.base import DataShape, Family

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        mlp.FAMILY,
        resmlp.FAMILY,
        cnn.FAMILY,
        gru.FAMILY,
    )
}


def build_network(models: BaseModel, family: str, depth: int, shape: DataShape) -> nn.Module:
    """The family's network for `depth`, configured by its section of params.yaml `models`."""
    return FAMILIES[family].build(getattr(models, family), depth, shape)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["FAMILIES", "DataShape", "Family", "build_network", "count_parameters"]
