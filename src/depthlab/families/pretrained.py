"""`pretrained`: the article's "unsupervised network with pre-training": a ReLU stack like `mlp` whose hidden
layers are first trained without labels, greedily, each as a denoising autoencoder (Vincent et al. 2008) with
tied weights: a share `corruption` of its inputs is set to zero, and the layer learns to reconstruct the clean
inputs through its own transposed weights. The labelled training then fine-tunes the whole stack.

Depth d = d hidden layers, as `mlp`, with the same parameter count: the two differ only by the pre-training.
Depth 0 is logistic regression.
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab.families import PretrainedConfig
from depthlab.families.base import DataShape
from depthlab.families.mlp import hidden_stack
from depthlab.families.pretraining import LayerLoss, greedy


def build(config: PretrainedConfig, depth: int, shape: DataShape) -> nn.Module:
    return hidden_stack(config.width, depth, shape, nn.ReLU)


def pretrain(
    config: PretrainedConfig, net: nn.Module, inputs: torch.Tensor, seeds: list[int], batch_size: int
) -> list[dict[str, float]]:
    def denoising(index, view, visible_bias, v, noise):
        kept = noise(v.shape[1:]) >= config.corruption
        hidden = torch.relu(view.pre_activation(v * kept))
        error = (view.transposed(hidden, visible_bias) - v).square().mean(dim=(1, 2))  # mean squared, per seed
        return error, error.detach()

    layer_loss: LayerLoss = denoising  # its arguments: see LayerLoss
    return greedy(net, inputs, seeds, torch.relu, layer_loss, config.pretrain_steps, batch_size, config.pretrain_lr)
