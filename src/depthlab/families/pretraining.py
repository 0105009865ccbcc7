"""Greedy layer-wise unsupervised pre-training of a stack of linear layers, the recipe of the 2006-2007 deep
networks (Hinton et al. 2006; Bengio et al. 2007; Vincent et al. 2008): train the first hidden layer without
labels to model the inputs, freeze it, train the next on its features, and so on; the labelled training
that follows fine-tunes the whole stack.

It works on a family's own network or on an ensemble of them (`depthlab.ensemble`): every tensor here has a
leading seed axis, a plain network being an ensemble of one. Each seed draws its own batches and noise from
its own generator, so a seed pre-trains the same alone or among others (to rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

# Pre-training draws from its own stream, not the one that orders the seed's labelled batches.
STREAM_OFFSET = 0x5EED


@dataclass
class LayerView:
    """One hidden layer seen with a seed axis: weight (seeds, out, in) and bias (seeds, 1, out), both views of
    the layer's own parameters (plain `nn.Linear` or its stacked form), so writes and gradients reach them."""

    layer: nn.Module

    @property
    def weight(self) -> torch.Tensor:
        w = self.layer.weight
        return w.unsqueeze(0) if isinstance(self.layer, nn.Linear) else w.transpose(1, 2)  # stacked: (seeds, in, out)

    @property
    def bias(self) -> torch.Tensor:
        b = self.layer.bias
        return b.view(1, 1, -1) if isinstance(self.layer, nn.Linear) else b

    def pre_activation(self, v: torch.Tensor) -> torch.Tensor:
        """(seeds, batch, in) -> (seeds, batch, out)."""
        return torch.baddbmm(self.bias, v, self.weight.transpose(1, 2))

    def transposed(self, h: torch.Tensor, visible_bias: torch.Tensor) -> torch.Tensor:
        """The same weights read backwards, hidden to visible: the tied decoder, or an RBM's visible side."""
        return torch.baddbmm(visible_bias, h, self.weight)


class LayerLoss(Protocol):
    def __call__(
        self,
        index: int,
        view: LayerView,
        visible_bias: torch.Tensor,
        v: torch.Tensor,
        noise: Callable[[tuple[int, ...]], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per seed: the loss to minimise and the metric to report (e.g. a reconstruction error), both (seeds,)."""


def hidden_layers(net: nn.Module) -> list[LayerView]:
    """The network's layers with parameters, in order, less the last (the classifier on top)."""
    layers = [m for m in net.modules() if getattr(m, "weight", None) is not None and m is not net]
    return [LayerView(layer) for layer in layers[:-1]]


def greedy(
    net: nn.Module,
    inputs: torch.Tensor,
    seeds: list[int],
    activation: Callable[[torch.Tensor], torch.Tensor],
    layer_loss: LayerLoss,
    steps: int,
    batch_size: int,
    lr: float,
) -> list[dict[str, float]]:
    """Pre-train every hidden layer of `net` in turn for `steps` Adam steps on `inputs` (seeds or 1, samples,
    *sample: each seed's own inputs, or one set for all) through the layers below it; returns, per seed, each
    layer's final metric (`pretrain_l1`, ...). The inputs may stay on the host while the network is on a GPU
    (training data streamed to it): each batch is gathered where they are and copied to the network's device."""
    layers = hidden_layers(net)
    flat = inputs.flatten(2)
    samples, pooled = flat.shape[1], flat.reshape(-1, flat.shape[-1])
    offsets = torch.arange(len(flat)).unsqueeze(1) * samples  # where each seed's own inputs start in `pooled`
    device = next(net.parameters()).device
    generators = [torch.Generator().manual_seed(seed + STREAM_OFFSET) for seed in seeds]
    metrics: list[dict[str, float]] = [{} for _ in seeds]

    def noise(shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform noise in [0, 1), one draw per seed from its own generator: (seeds, *shape)."""
        return torch.stack([torch.rand(shape, generator=g) for g in generators]).to(device)

    for index, view in enumerate(layers):
        weight = view.layer.weight
        visible_bias = torch.zeros(len(seeds), 1, view.weight.shape[-1], device=weight.device, requires_grad=True)
        optimizer = torch.optim.Adam([weight, view.layer.bias, visible_bias], lr=lr)
        for _ in range(steps):
            rows = torch.stack([torch.randint(samples, (batch_size,), generator=g) for g in generators]) + offsets
            v = pooled.index_select(0, rows.flatten().to(flat.device)).view(len(seeds), batch_size, -1).to(device)
            with torch.no_grad():
                for below in layers[:index]:
                    v = activation(below.pre_activation(v))
            loss, metric = layer_loss(index, view, visible_bias, v, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
        for seed_metrics, value in zip(metrics, metric.tolist(), strict=True):
            seed_metrics[f"pretrain_l{index + 1}"] = value
    net.zero_grad(set_to_none=True)
    return metrics
