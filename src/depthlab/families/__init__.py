"""Registry of model families: each one's params (its section of params.yaml `models`) and the module that
builds its network. Adding a family: its config and registry line here, its network in a module beside this.
A user's own family needs neither: its section of `models` names its class by import path (`ImportedConfig`),
and `family_of` makes its Family from that section (`depthlab.families.imported` builds it).

The networks' modules, and with them torch, are imported only when a network is built: stages that only
read params.yaml (prepare, validate, report) start without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, model_validator

from depthlab.errors import ParamsError
from depthlab.families.base import SAMPLE_KINDS, DataShape, Family
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


# The constructor arguments depthlab fills in from the dataset, where the constructor's signature names them.
DATA_ARGS = ("sample_shape", "num_classes")


class ImportedConfig(StrictModel):
    """A user's module as a family, in LightningCLI's vocabulary: `class_path` and `init_args`, and the argument
    the sweep's depth goes to. Its code lives in the project (`depthlab.families.imported.USER_CODE`)."""

    class_path: str = Field(
        pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$",
        description="module.Class, importable from the project's root, e.g. examples.resnet.ResNet",
    )
    init_args: dict[str, Any] = Field(default_factory=dict, description="the constructor's other keyword arguments")
    depth_arg: str = Field(pattern=r"^[A-Za-z_]\w*$", description="the constructor's argument that takes the depth")
    # Not part of what an ensemble's key hashes (excluded from model_dump): naming the type trains nothing anew.
    article_type: str = Field(
        min_length=1, exclude=True, description="the type of network in claim 5 (e.g. convolutional, feed-forward)"
    )
    sample_kinds: tuple[Literal["tabular", "sequence", "image"], ...] = Field(
        default=SAMPLE_KINDS, min_length=1, exclude=True, description="the kinds of data it can model"
    )

    @model_validator(mode="after")
    def _depthlab_sets_depth_and_data(self) -> ImportedConfig:
        for name in (self.depth_arg, *DATA_ARGS):
            if name in self.init_args:
                whence = "the sweep's depths" if name == self.depth_arg else "the dataset"
                raise ValueError(f"init_args sets '{name}', which depthlab sets from {whence}: leave it out")
        return self


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
    if name in FAMILIES:
        return FAMILIES[name]
    config = (models.model_extra or {}).get(name)
    if not isinstance(config, ImportedConfig):
        raise ParamsError(f"no family '{name}' in params.yaml models (built in: {', '.join(FAMILIES)})")
    return Family(
        name, ImportedConfig, "depthlab.families.imported", config.article_type, config.sample_kinds, imported=True
    )


def build_network(models: BaseModel, family: str, depth: int, shape: DataShape) -> nn.Module:
    """The family's network for `depth`, configured by its section of params.yaml `models`."""
    return family_of(models, family).build(getattr(models, family), depth, shape)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = [
    "DATA_ARGS",
    "FAMILIES",
    "DataShape",
    "Family",
    "ImportedConfig",
    "build_network",
    "count_parameters",
    "family_of",
]
