"""The training module of every family: cross-entropy over a stacked network, one loss per member of the
ensemble, and Adam with a learning rate per member, so that one ensemble can hold a whole lr grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Classifier(nn.Module):
    """Cross-entropy training of a family's stacked network: inputs (seeds, batch, *sample), one loss per seed.

    The loss returned is the sum of the seeds' mean losses, so each seed's parameters get the gradient of
    their own loss alone. Loss and hits are summed on the device, per seed, and read once per epoch.
    """

    STAGES = ("train", "val")

    def __init__(self, net: nn.Module, seeds: int, lr: float | Sequence[float], weight_decay: float):
        super().__init__()
        self.net = net
        self.seeds = seeds
        self.lrs = [lr] * seeds if isinstance(lr, (int, float)) else list(lr)  # one per member of the ensemble
        self.weight_decay = weight_decay
        for stage in self.STAGES:
            self.register_buffer(f"{stage}_loss_sum", torch.zeros(seeds), persistent=False)
            self.register_buffer(f"{stage}_hits", torch.zeros(seeds, dtype=torch.long), persistent=False)
        self.samples = dict.fromkeys(self.STAGES, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        batch_size = y.shape[-1]
        logits = self.net(x)
        loss_sum, hits = getattr(self, f"{stage}_loss_sum"), getattr(self, f"{stage}_hits")
        # As few tiny ops as possible: each costs about as much as a small layer's math. Metrics detached.
        if self.seeds == 1:  # a plain network, no seed axis (see ensemble.stack)
            loss = F.cross_entropy(logits, y)
            loss_sum.add_(loss.detach(), alpha=batch_size)
            hits.add_(logits.detach().argmax(dim=-1).eq_(y).sum())
        else:
            # Classes on dim 1, batch last: log-softmax then runs along the batch (vectorized), not along the
            # ten classes of each row, far faster for an ensemble.
            by_class = logits.transpose(1, 2)  # contiguous where the product was transposed (ensemble.NARROW_OUTPUT)
            per_sample = F.cross_entropy(by_class, y, reduction="none")
            loss = per_sample.mean() * self.seeds  # the sum of the seeds' mean losses
            loss_sum.add_(per_sample.detach().sum(dim=1))
            # max's indices, not argmax: the same first maximum; argmax along a strided dim is several times slower.
            hits.add_(by_class.detach().max(dim=1).indices.eq_(y).sum(dim=1))
        self.samples[stage] += batch_size
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def epoch_metrics(self) -> list[dict[str, float]]:
        """Per seed, means since the last call, then reset: the only device-to-host reads of an epoch."""
        metrics: list[dict[str, float]] = [{} for _ in range(len(self.train_loss_sum))]
        for stage in self.STAGES:
            loss_sum, hits = getattr(self, f"{stage}_loss_sum"), getattr(self, f"{stage}_hits")
            if self.samples[stage]:
                for seed_metrics, seed_loss, seed_hits in zip(metrics, loss_sum.tolist(), hits.tolist(), strict=True):
                    seed_metrics[f"{stage}_loss"] = seed_loss / self.samples[stage]
                    seed_metrics[f"{stage}_acc"] = seed_hits / self.samples[stage]
            loss_sum.zero_()
            hits.zero_()
        self.samples = dict.fromkeys(self.STAGES, 0)
        return metrics

    def seed_state(self, index: int) -> dict[str, torch.Tensor]:
        """One seed's weights as its plain network's state dict, copied so they outlive further training."""
        state = self.net.state_dict()
        return {key: (value if self.seeds == 1 else value[index]).detach().clone() for key, value in state.items()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with its fused kernel (CPU and CUDA): the same update as torch's default per-tensor loop, equal
        to rounding, and less time per step for a small MLP. Adam is elementwise, so over stacked parameters it
        is each seed's own Adam; members with different learning rates get MemberwiseAdam."""
        if len(set(self.lrs)) == 1:
            return torch.optim.Adam(self.parameters(), lr=self.lrs[0], weight_decay=self.weight_decay, fused=True)
        return MemberwiseAdam(self.parameters(), self.lrs, self.weight_decay)


class MemberwiseAdam(torch.optim.Adam):
    """Adam with a learning rate per member of an ensemble (the leading axis of every parameter), so that one
    ensemble holds a whole lr grid: torch's Adam takes one lr per tensor, and a stacked tensor holds every
    member. Adam's step is lr times a direction that does not depend on the lr (weight decay here is the L2
    term added to the gradient), so this steps at lr 1 and scales each member's step by its own lr: each
    member gets its own Adam step, equal to rounding."""

    def __init__(self, params: Iterable[nn.Parameter], lrs: Sequence[float], weight_decay: float):
        super().__init__(params, lr=1.0, weight_decay=weight_decay, fused=True)
        self.member_lrs = torch.tensor(lrs)
        self._before: list[torch.Tensor] = []
        self._scales: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        params = [p for group in self.param_groups for p in group["params"]]
        if not self._before:  # on the parameters' device, once Fabric has placed them
            self._before = [torch.empty_like(p) for p in params]
            self._scales = [self.member_lrs.to(p.device, p.dtype).view(-1, *[1] * (p.dim() - 1)) for p in params]
        torch._foreach_copy_(self._before, params)
        loss = super().step(closure)
        torch._foreach_sub_(params, self._before)  # the step at lr 1
        torch._foreach_mul_(params, self._scales)  # times each member's lr
        torch._foreach_add_(params, self._before)
        return loss
