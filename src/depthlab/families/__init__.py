"""Registry of model families: each one's params (its section of params.yaml `models`) and the module that
builds its network. Adding a family: its config and registry line here, its network in a module beside this.

The networks' modules, and with them torch, are imported only when a network is built: stages that only
read params.yaml (prepare, validate, report) start without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from depthlab.families.base import DataShape, Family
from depthlab.schema import StrictModel

if TYPE_CHECKING:
    from torch import nn


class MLPConfig(StrictModel):
    width: int = Field(gt=0, description="units in every hidden layer")


class ResMLPConfig(StrictModel):
    width: int = Field(gt=0, description="units in every hidden layer")
    normalization: bool = Field(description="LayerNorm at the start of each residual block")


class PretrainedConfig(StrictModel):
    width: int = Field(gt=0, description="units in every hidden layer")
    pretrain_steps: int = Field(ge=0, description="unsupervised Adam steps per hidden layer, before the labels")
    pretrain_lr: float = Field(gt=0, description="learning rate of the pre-training")
    corruption: float = Field(ge=0, lt=1, description="share of a layer's inputs set to zero (denoising)")


class RBMConfig(StrictModel):
    width: int = Field(gt=0, description="hidden units of every RBM")
    pretrain_steps: int = Field(ge=0, description="contrastive-divergence Adam steps per RBM, before the labels")
    pretrain_lr: float = Field(gt=0, description="learning rate of the contrastive divergence")


class CNNConfig(StrictModel):
    channels: int = Field(gt=0, description="channels of every convolution")
    first_kernel: int = Field(gt=0, description="kernel size of the first convolution")
    kernel: int = Field(gt=0, description="kernel size of the others")
    stride: int = Field(gt=0)
    padding: int = Field(ge=0)


class GRUConfig(StrictModel):
    hidden: int = Field(gt=0, description="hidden units per direction")
    bidirectional: bool


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("mlp", MLPConfig, "depthlab.families.mlp", "feed-forward"),
        Family("resmlp", ResMLPConfig, "depthlab.families.resmlp", "feed-forward (residual)"),
        Family("cnn", CNNConfig, "depthlab.families.cnn", "convolutional", sample_kinds=("sequence", "image")),
        Family("gru", GRUConfig, "depthlab.families.gru", "recurrent", sample_kinds=("sequence", "image")),
        Family("pretrained", PretrainedConfig, "depthlab.families.pretrained", "unsupervised pre-trained"),
        Family("rbm", RBMConfig, "depthlab.families.rbm", "symmetrically connected"),
    )
}


def family_of(models: BaseModel, name: str) -> Family:
    """The family `name`: one of depthlab's own (FAMILIES), or a user's module named by import path in its section
    of params.yaml `models`."""
    return FAMILIES[name]


def build_network(models: BaseModel, family: str, depth: int, shape: DataShape) -> nn.Module:
    """The family's network for `depth`, configured by its section of params.yaml `models`."""
    return family_of(models, family).build(getattr(models, family), depth, shape)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["FAMILIES", "DataShape", "Family", "build_network", "count_parameters", "family_of"]
