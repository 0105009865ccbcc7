"""`rbm`: the article's "symmetrically connected" networks. Each hidden layer is a restricted Boltzmann machine:
one weight matrix used both ways between visible and hidden units, trained by one step of contrastive
divergence (CD-1, Hinton 2002). The first is Gaussian-Bernoulli, for real-valued inputs (standardized with
the training split's mean and std, unit variance as Hinton's practical guide sets it); the others are
Bernoulli-Bernoulli, each trained on the hidden probabilities of the one below.

Classification follows the deep belief network recipe (Hinton et al. 2006): the stack of RBMs becomes a
sigmoid network, a logistic layer goes on top, and the labelled training fine-tunes all of it. The
standardization is folded into the first layer's weights afterwards, so the network reads raw inputs.

Depth d = d stacked RBMs: depth 1 is the single symmetric network, depth 2 and more a deep belief network.
Depth 0 is logistic regression. The parameter count equals `mlp`'s at the same width and depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from depthlab.families import RBMConfig
from depthlab.families.base import DataShape
from depthlab.families.mlp import hidden_stack
from depthlab.families.pretraining import LayerLoss, LayerView, greedy, hidden_layers

MIN_STD = 1e-6  # a constant feature (a border pixel of digits) is centred, not divided by zero


def build(config: RBMConfig, depth: int, shape: DataShape) -> nn.Module:
    return hidden_stack(config.width, depth, shape, nn.Sigmoid)


def free_energy(view: LayerView, visible_bias: torch.Tensor, v: torch.Tensor, gaussian: bool) -> torch.Tensor:
    """F(v) per (seed, sample): visible term minus sum_j softplus(c_j + (v W)_j)."""
    hidden_term = F.softplus(view.pre_activation(v)).sum(dim=-1)
    visible_term = 0.5 * (v - visible_bias).square().sum(dim=-1) if gaussian else -(v * visible_bias).sum(dim=-1)
    return visible_term - hidden_term


def pretrain(
    config: RBMConfig, net: nn.Module, inputs: torch.Tensor, seeds: list[int], batch_size: int
) -> list[dict[str, float]]:
    layers = hidden_layers(net)
    if not layers:
        return [{} for _ in seeds]
    flat = inputs.flatten(2)  # (seeds or 1, samples, features): each seed standardizes by its own inputs
    mean, std = flat.mean(dim=1, keepdim=True), flat.std(dim=1, keepdim=True).clamp_min(MIN_STD)

    def contrastive_divergence(index, view, visible_bias, v, noise):
        gaussian = index == 0
        with torch.no_grad():
            on = noise((*v.shape[1:-1], view.weight.shape[1])) < torch.sigmoid(view.pre_activation(v))
            hidden = on.to(v.dtype)
            reconstruction = view.transposed(hidden, visible_bias)
            if not gaussian:
                reconstruction = torch.sigmoid(reconstruction)
        # The gradient of F(data) - F(reconstruction) is the CD-1 update.
        loss = (
            free_energy(view, visible_bias, v, gaussian) - free_energy(view, visible_bias, reconstruction, gaussian)
        ).mean(dim=1)
        return loss, (reconstruction - v).square().mean(dim=(1, 2))

    layer_loss: LayerLoss = contrastive_divergence  # its arguments: see LayerLoss
    metrics = greedy(
        net,
        (flat - mean) / std,
        seeds,
        torch.sigmoid,
        layer_loss,
        config.pretrain_steps,
        batch_size,
        config.pretrain_lr,
    )
    with torch.no_grad():  # sigmoid(W (x - mean) / std + c) = sigmoid((W / std) x + c - (W / std) mean)
        first = layers[0]
        mean, std = mean.to(first.weight.device), std.to(first.weight.device)  # from inputs left on the host
        first.weight.div_(std)  # (seeds, out, in) / (seeds or 1, 1, in)
        first.bias.sub_(mean @ first.weight.transpose(1, 2))  # (seeds or 1, 1, in) @ (seeds, in, out)
    return metrics
