"""The training loop: an ensemble's optimizer steps, its validation, and the seeds that diverge. It runs on
Lightning Fabric rather than the Trainer, whose per-step machinery costs more than these small networks'
arithmetic (`make bench`, target 1); Fabric still picks the accelerator, places the data and saves
checkpoints. It imports Fabric alone (`lightning_fabric`): the `lightning` package, there for a user's
LightningModule, imports torchmetrics and the Trainer at start-up.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import lightning_fabric as L
import numpy as np
import torch
from lightning_fabric.plugins import Precision
from lightning_fabric.strategies import SingleDeviceStrategy
from torch import nn

from depthlab.data import SeedRows
from depthlab.params import TrainParams
from depthlab.training.classifier import Classifier
from depthlab.training.residence import DeviceData
from depthlab.training.resume import FitState, ResumeFile, Stopped

logging.getLogger("lightning_fabric").setLevel(logging.WARNING)

VAL_BATCH = 1000
EVALUATIONS = 50  # a run is validated at the end of an epoch, at most about this many times (and at its end)
# A family's unsupervised pre-training of the network on the training inputs (seeds or 1, samples, *sample): each
# seed's metrics, or None.
Pretrain = Callable[[nn.Module, torch.Tensor], list[dict[str, float]] | None]
# Hears, after a validation, the step and each seed's metrics ({seed index: metrics}) of the seeds still training.
EpochEnd = Callable[[int, dict[int, dict[str, float]]], None]


class Progress:
    """A line every ~10% of training: readable in a terminal, in `dvc repro` output and in a scheduler's log.
    An ensemble shows the mean over its training seeds and the range of their validation accuracy."""

    def __init__(self, label: str, max_steps: int):
        self.label = label
        self.max_steps = max_steps
        self.every = max(1, max_steps // 10)
        self.next = self.every
        self.started = time.perf_counter()

    def __call__(self, step: int, metrics: dict[int, dict[str, float]]) -> None:
        if step < self.next and step != self.max_steps:
            return
        self.next = (step // self.every + 1) * self.every
        shown = []
        for key in ("train_loss", "val_acc"):
            values = [seed[key] for seed in metrics.values() if key in seed]
            if values:
                spread = f" ({min(values):.3f}-{max(values):.3f})" if key == "val_acc" and len(values) > 1 else ""
                shown.append(f"{key} {sum(values) / len(values):.3f}{spread}")
        print(
            f"[{self.label}] step {step}/{self.max_steps}  {'  '.join(shown)} "
            f" {time.perf_counter() - self.started:.1f}s",
            flush=True,
        )


@dataclass(frozen=True)
class TrainingData:
    """What an ensemble trains on: the training and validation splits, and its seeds, each of whose shuffle
    generator is seeded with the seed itself, as when trained alone. With `rows` (`data.split_seeds`), each seed
    trains and is validated on its own rows of the two splits pooled. `device_data_mb`: how much of the device the
    splits may take to be resident there (`residence`)."""

    train_xy: tuple[np.ndarray, np.ndarray]
    val_xy: tuple[np.ndarray, np.ndarray]
    seeds: tuple[int, ...]
    rows: SeedRows | None = None
    device_data_mb: int | str = "auto"

    def member(self, index: int) -> TrainingData:
        """Member `index` alone: its seed, and its own rows where it has some; its batches are those it draws in
        the ensemble."""
        rows = self.rows
        if rows is not None:
            rows = SeedRows(rows.train[index : index + 1], rows.val[index : index + 1])
        return replace(self, seeds=(self.seeds[index],), rows=rows)


@dataclass(frozen=True)
class Schedule:
    """How long and in what order: `max_steps` optimizer steps of `batch_size` rows, each epoch shuffled or not."""

    max_steps: int
    batch_size: int
    shuffle: bool

    @classmethod
    def of(cls, train: TrainParams, max_steps: int) -> Schedule:
        return cls(max_steps=max_steps, batch_size=train.batch_size, shuffle=train.shuffle)


@dataclass(frozen=True)
class Hooks:
    """What a caller adds to the loop: `epoch_end(step, {seed index: metrics})` hears of the seeds still training
    after each validation; `pretrain` trains the network without labels first (`Pretrain`); `resume` restores
    the saved state and saves it again when due."""

    epoch_end: EpochEnd = lambda step, metrics: None
    pretrain: Pretrain | None = None
    resume: ResumeFile | None = None


@dataclass(frozen=True)
class _Stepping:
    """What each training step calls: the module, its optimizer and the backward."""

    module: nn.Module
    optimizer: Any
    backward: Callable[[torch.Tensor], None]


def _stepping(fabric: L.Fabric, model: nn.Module, optimizer: torch.optim.Optimizer) -> _Stepping:
    """Fabric's wrappers cast a step's inputs and outputs to its precision, enter its autocast, hook every output
    to check that `fabric.backward` runs, and route the backward and the optimizer's step through the strategy and
    the precision; on one device at 32-bit precision none of that changes a number, yet it is Python work on every
    step, noticed by a small network's (docs/performance.md, "Past Fabric's wrappers"): there a step calls the
    module and optimizer Fabric set up, and the loss's own backward. Any other strategy or precision keeps them."""
    if isinstance(fabric.strategy, SingleDeviceStrategy) and type(fabric.strategy.precision) is Precision:
        return _Stepping(model.module, optimizer.optimizer, torch.Tensor.backward)
    return _Stepping(model, optimizer, fabric.backward)


def fit(
    *, fabric: L.Fabric, module: Classifier, data: TrainingData, schedule: Schedule, hooks: Hooks = Hooks()
) -> FitState:
    """Train the ensemble of `data.seeds` for `schedule.max_steps` optimizer steps, validating at the end of an
    epoch once `max_steps / EVALUATIONS` steps have passed since the last validation, and at the end (training
    metrics are the means since the last validation); with `hooks.resume`, continue from its saved state and
    save it again whenever it is due (ResumeFile.due), at the end of an epoch. Each seed's last metrics are kept in
    the state returned (`FitState.last`).

    Each seed draws its own batches, shuffled by a generator seeded with its seed, as when trained alone. A
    seed whose epoch loss is not finite is frozen at the end of that epoch (its weights kept as they were
    then) and the others go on; training ends early once every seed has stopped.

    `hooks.pretrain(net, inputs)`, where given, trains the network without labels first (a family's unsupervised
    pre-training; never again on resuming) on `inputs` (seeds or 1, samples, *sample), each seed's training
    inputs or one set for all, and returns each seed's metrics, heard as those of step 0.

    The data is resident on the device or streamed to it a batch at a time, as `data.device_data_mb` allows
    (`residence`); the state returned says which (`FitState.residence`).

    With `data.rows` (`data.split_seeds`), the training and validation splits are pooled, training's rows first,
    and each seed trains on its own `rows.train` and is validated on its own `rows.val`: its shuffle permutes its
    own rows with the same generator as above, so a seed's batches are the same in any ensemble.
    """
    seeds, rows, resume = data.seeds, data.rows, hooks.resume
    model, optimizer = fabric.setup(module, module.configure_optimizers())
    stepping = _stepping(fabric, model, optimizer)
    train_xy, val_xy = data.train_xy, data.val_xy
    if rows is not None:  # one pool, training's rows then validation's, of which each seed has its own split
        train_xy = tuple(np.concatenate(pair) for pair in zip(train_xy, val_xy, strict=True))
        val_xy = tuple(a[:0] for a in val_xy)  # validated on its own rows of the pool instead
    placed = DeviceData(fabric.device, train_xy, val_xy, data.device_data_mb)
    own = None if rows is None else [torch.from_numpy(r).to(placed.index_device) for r in (rows.train, rows.val)]
    samples = placed.rows if own is None else own[0].shape[1]
    orders = [torch.Generator().manual_seed(seed) for seed in seeds]
    state = FitState(orders, residence=placed.residence, residence_note=placed.note)

    if resume:
        resume.load(module, optimizer, state)
    if hooks.pretrain and state.step == 0:
        inputs = placed.inputs
        inputs = inputs.unsqueeze(0) if own is None else inputs[own[0].to(inputs.device)]
        pretrained = hooks.pretrain(module.net, inputs)
        if pretrained:
            state.remember(dict(enumerate(pretrained)))
            hooks.epoch_end(0, dict(enumerate(pretrained)))
    # Looked up once: Fabric's wrapper resolves a method other than forward through a failed attribute
    # lookup each time, a cost a small network's step notices.
    training_step, validation_step = stepping.module.training_step, stepping.module.validation_step
    in_order = torch.arange(samples).expand(len(seeds), -1)
    if own is None:  # every seed sees the whole validation set
        val_batches = placed.val_batches(len(seeds), VAL_BATCH)
    else:  # every seed its own
        val_batches = [placed.batch(own[1][:, s : s + VAL_BATCH]) for s in range(0, own[1].shape[1], VAL_BATCH)]
    max_steps, batch_size = schedule.max_steps, schedule.batch_size
    evaluate_every, evaluated_at = max(1, max_steps // EVALUATIONS), state.step
    while state.step < max_steps and len(state.stopped) < len(seeds):
        ranked = (
            torch.stack([torch.randperm(samples, generator=order) for order in state.orders])
            if schedule.shuffle
            else in_order
        )
        ranked = ranked.to(placed.index_device)
        if own is not None:  # positions in each seed's own rows, to rows of the pool
            ranked = own[0].gather(1, ranked)
        stepping.module.train()
        for start in range(0, samples, batch_size):
            loss = training_step(placed.batch(ranked[:, start : start + batch_size]), state.step)
            stepping.optimizer.zero_grad(set_to_none=True)
            stepping.backward(loss)
            stepping.optimizer.step()
            state.step += 1
            if state.step == max_steps:
                break
        if state.step - evaluated_at < evaluate_every and state.step < max_steps:
            continue  # a small dataset's epoch is a few steps: evaluating each would cost more than training
        evaluated_at = state.step
        stepping.module.eval()
        with torch.no_grad():
            for batch in val_batches:
                validation_step(batch, 0)
        metrics = {index: seed for index, seed in enumerate(module.epoch_metrics()) if index not in state.stopped}
        state.remember(metrics)
        hooks.epoch_end(state.step, metrics)
        for index, seed in metrics.items():
            if not math.isfinite(seed["train_loss"]):
                state.stopped[index] = Stopped(state.step, module.seed_state(index))
        finished = state.step >= max_steps or len(state.stopped) == len(seeds)
        if resume and resume.due(finished):
            resume.save(module, optimizer, state)
    return state
