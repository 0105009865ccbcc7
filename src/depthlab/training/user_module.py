"""A user's module (a family named by import path): how its seeds train, and the checks it passes first.

Its seeds are stacked into one ensemble with torch.func (`functional.FunctionalEnsemble`) where that is sound, and
trained seed by seed otherwise (`choose_stacking`, decided before the runs open and recorded in their tags):
- a module with its own `training_step` or `configure_optimizers` (Lightning's contract) trains seed by seed: its
  step is the user's code, written for one network, calling `self.log` and returning one loss, and its optimizer
  is built over its own parameters; vmapping it would run the user's code under torch.func's rules and split its
  logging per seed, which no LightningModule is written for;
- a forward that updates buffers in training (batch norm's running statistics) trains seed by seed: under vmap an
  in-place update of a stacked buffer is refused or lands on the wrong seed;
- a forward torch.func cannot run (data-dependent control flow, an op without a batching rule) trains seed by seed,
  as a trial forward and backward on a tiny batch finds.

Where it defines neither `training_step` nor `configure_optimizers`, depthlab's cross-entropy and Adam at the
member's lr train it (`Classifier`). A LightningModule is recognised without importing `lightning` (seconds of a
built-in study's start-up: docs/performance.md): the user's module imported it already, or it is no LightningModule.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning_fabric import Fabric
from lightning_fabric.loggers import Logger
from lightning_utilities.core.overrides import is_overridden
from torch import nn

from depthlab.errors import ModelContractError
from depthlab.training.classifier import Classifier
from depthlab.training.functional import FunctionalEnsemble

LIGHTNING_HOOKS = ("training_step", "configure_optimizers")
TRIAL_ROWS = 4  # rows of the trial batch: batch norm needs more than one a channel


@dataclass(frozen=True)
class Stacking:
    """How an ensemble's seeds train, and why: `layers` (depthlab's stacked layers, the built-in families),
    `torch.func` (a user's module stacked by vmap) or `per_seed` (one seed after another)."""

    path: str
    reason: str

    @property
    def tags(self) -> dict[str, str]:
        return {"seed_stacking": self.path, "seed_stacking_reason": self.reason}


LAYERS = Stacking("layers", "a built-in family: depthlab's stacked layers (depthlab.ensemble)")
TORCH_FUNC, PER_SEED = "torch.func", "per_seed"


def lightning_hooks(net: nn.Module) -> tuple[str, ...]:
    """Which of Lightning's training hooks the module defines itself (overrides LightningModule's)."""
    for package in ("lightning.pytorch", "pytorch_lightning"):
        lightning = sys.modules.get(package)
        if lightning is not None and isinstance(net, lightning.LightningModule):
            return tuple(hook for hook in LIGHTNING_HOOKS if is_overridden(hook, net, lightning.LightningModule))
    return ()


def choose_stacking(nets: list[nn.Module], train_xy: tuple[np.ndarray, np.ndarray], num_classes: int) -> Stacking:
    """Check the seeds' module against its contract on a few training rows, then choose how its seeds train.

    Every trial runs on copies: the networks keep their initial weights and buffers. Raises ModelContractError for
    a forward that fails or does not return (batch, num_classes) logits, and a training_step that fails or does
    not return a scalar loss depending on the parameters."""
    x, y = (torch.as_tensor(np.asarray(a[:TRIAL_ROWS])) for a in train_xy)
    net = nets[0]
    name = type(net).__qualname__
    probe = copy.deepcopy(net).train()
    before = {key: value.clone() for key, value in probe.named_buffers()}
    try:
        with torch.no_grad():
            logits = probe(x)
    except Exception as err:
        raise ModelContractError(
            f"{name}.forward failed on a batch of shape {tuple(x.shape)} (batch, *sample): {_first_line(err)}"
        ) from None
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(x), num_classes):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelContractError(
            f"{name}.forward returned {got} for a batch of {len(x)}: expected logits of shape (batch, num_classes) "
            f"= ({len(x)}, {num_classes})"
        )
    hooks = lightning_hooks(net)
    if "training_step" in hooks:
        training_loss(_call_step(copy.deepcopy(net).train(), (x, y)), name)
    if "configure_optimizers" in hooks:
        own_optimizer(copy.deepcopy(net).configure_optimizers(), name)
    if len(nets) == 1:
        return Stacking(PER_SEED, "one member")
    if hooks:
        return Stacking(PER_SEED, f"its own {' and '.join(hooks)} (Lightning's contract), run on one network at a time")
    updated = [key for key, value in probe.named_buffers() if key not in before or not torch.equal(before[key], value)]
    if updated:
        return Stacking(PER_SEED, f"its forward updates buffers in training ({', '.join(updated)})")
    try:
        ensemble = FunctionalEnsemble([copy.deepcopy(n) for n in nets[:2]]).train()
        pair = ensemble(x.expand(2, *x.shape))
        F.cross_entropy(pair.transpose(1, 2), y.expand(2, -1)).backward()
    except Exception as err:
        first_sentence = _first_line(err).split(". ")[0]  # vmap's messages go on to ask for an issue to be filed
        return Stacking(PER_SEED, f"torch.func cannot run it: {type(err).__name__}: {first_sentence}")
    return Stacking(TORCH_FUNC, "no buffer updated in training, and vmap runs its forward and backward")


def _call_step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Any:
    net.fabric = Fabric(accelerator="cpu", devices=1, loggers=[RunLogger()])  # what it logs goes nowhere
    try:
        return net.training_step(batch, 0)
    except Exception as err:
        raise ModelContractError(f"{type(net).__qualname__}.training_step failed: {_first_line(err)}") from None


def training_loss(result: Any, name: str) -> torch.Tensor:
    """The loss a training_step returned (a tensor, or a mapping with "loss", as Lightning accepts), refused with
    a readable message unless it is one number that depends on the parameters."""
    loss = result.get("loss") if isinstance(result, Mapping) else result
    if loss is None:
        returned = "nothing" if result is None else "a mapping without 'loss'"
        raise ModelContractError(
            f"{name}.training_step returned {returned}: it must return the batch's loss, a scalar tensor (or a "
            "mapping with the loss under 'loss')"
        )
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ModelContractError(f"{name}.training_step returned a loss of shape {shape}: it must be a scalar tensor")
    if torch.is_grad_enabled() and not loss.requires_grad:
        raise ModelContractError(f"{name}.training_step returned a loss that does not depend on its parameters")
    return loss


def own_optimizer(configured: Any, name: str) -> torch.optim.Optimizer:
    """The optimizer a configure_optimizers returned (itself, or a mapping with it under "optimizer"), refused
    with a readable message when it is anything else: an lr scheduler would change the lr the grid chose."""
    optimizer = configured.get("optimizer") if isinstance(configured, Mapping) else configured
    if not isinstance(optimizer, torch.optim.Optimizer) or (
        isinstance(configured, Mapping) and configured.keys() - {"optimizer"}
    ):
        raise ModelContractError(
            f"{name}.configure_optimizers returned {type(configured).__name__}: depthlab takes one optimizer (or "
            "{'optimizer': ...}); lr schedulers and several optimizers are not supported"
        )
    return optimizer


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


class RunLogger(Logger):
    """Fabric's logger for a user's module: what it logs with `self.log`/`log_dict` (Fabric's `log_dict`) goes to
    the run of the seed training, at the optimizer steps taken before the step that logged it (Fabric passes no
    step). Under `module/` (PREFIX): depthlab logs its own `train_loss` and `val_acc` to the same run, once an
    epoch, and a module's name for a metric is often the same. `run` and `step` are set by the seed's training."""

    PREFIX = "module/"

    def __init__(self) -> None:
        super().__init__()
        self.run: Any = None
        self.step = 0

    @property
    def name(self) -> str:
        return "depthlab"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.run is not None:  # none during the checks before the runs open
            named = {f"{self.PREFIX}{name}": value for name, value in metrics.items()}
            self.run.log_metrics(named, self.step if step is None else step)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Ignored: a run's params are depthlab's record of the family, its depth and the train section."""


class UserSteps(Classifier):
    """One seed of a user's module: its own training_step and optimizer where it defines them (Lightning's
    contract, under Fabric: `self.log` reaches the seed's run through `logger`), depthlab's cross-entropy and
    Adam at `lr` where not. Validated as every family is, its forward's logits against the labels.

    The lr grid reaches its own optimizer through the optimizer's param groups: every group's `lr` is set to the
    member's. Its training loss is the mean of what its training_step returned; its training accuracy is not known
    (its step returns a loss, not logits)."""

    def __init__(self, net: nn.Module, lr: float, weight_decay: float, fabric: Fabric, logger: RunLogger):
        super().__init__(net, 1, lr, weight_decay)
        self.hooks = lightning_hooks(net)
        self.logger = logger
        self.name = type(net).__qualname__
        if self.hooks:
            net.fabric = fabric  # LightningModule's own property: `self.log` goes to fabric.log_dict

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if "training_step" not in self.hooks:
            return super().training_step(batch, batch_idx)
        self.logger.step = batch_idx
        result = self.net.training_step(batch, batch_idx)
        # A scalar that carries a gradient passes without the full check (a few tensor ops a step, noticed at a
        # small network's step: docs/performance.md, target 10); anything else is checked and refused or reshaped.
        if type(result) is torch.Tensor and result.dim() == 0 and result.requires_grad:
            loss = result
        else:
            loss = training_loss(result, self.name).reshape(())
        batch_size = len(batch[1])
        self.train_loss_sum.add_(loss.detach(), alpha=batch_size)
        self.samples["train"] += batch_size
        return loss

    def epoch_metrics(self) -> list[dict[str, float]]:
        metrics = super().epoch_metrics()
        if "training_step" in self.hooks:
            for seed in metrics:
                seed.pop("train_acc", None)
        return metrics

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if "configure_optimizers" not in self.hooks:
            return super().configure_optimizers()
        optimizer = own_optimizer(self.net.configure_optimizers(), self.name)
        for group in optimizer.param_groups:
            group["lr"] = self.lrs[0]
        return optimizer

    def release(self) -> None:
        """Unhook the module from Fabric once trained: it is then saved and pickled as the user's own module."""
        if self.hooks:
            self.net.fabric = None
