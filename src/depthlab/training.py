"""Train a family's configurations, (dataset, depth) pairs, each over every configured seed at the learning
rate its validation accuracy chose, with one training module for every family.

The members of an ensemble, (seed, lr) pairs, are stacked into one network (`depthlab.ensemble`): each keeps
its own initialisation (the same weights as when trained alone), data order, optimizer state, learning rate
(`MemberwiseAdam`) and divergence check, and gets its own MLflow run, checkpoint and runs.json entry. A
configuration's lr grid trains as one ensemble on the selection seeds; its other seeds then train at the
chosen lr. The loop runs on Lightning Fabric rather than the Trainer, whose per-step machinery costs more
than these small networks' arithmetic (`make bench`, target 1); Fabric still picks the accelerator, places
the data and saves checkpoints. Only Fabric is installed (`lightning-fabric`): the `lightning` package
imports torchmetrics at start-up. The ensembles of a stage train in parallel worker processes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning_fabric as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import ensemble, tracking
from depthlab.data import Meta, load_frame, load_meta, to_arrays
from depthlab.families import FAMILIES, build_network, count_parameters
from depthlab.outputs import read_json, staged_dir, write_json
from depthlab.params import Params, RuntimeParams, TrainParams

logging.getLogger("lightning_fabric").setLevel(logging.WARNING)

VAL_BATCH = 1000
EVALUATIONS = 50  # a run is validated at the end of an epoch, at most about this many times (and at its end)


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


@dataclass
class Stopped:
    """A seed whose loss turned NaN or infinite: the step it stopped at and its weights then, frozen."""

    step: int
    state: dict[str, torch.Tensor]


@dataclass
class FitState:
    """Where an ensemble's training is: the step, each seed's shuffle stream, the seeds that stopped."""

    orders: list[torch.Generator]
    step: int = 0
    stopped: dict[int, Stopped] = field(default_factory=dict)


def fit(
    fabric: L.Fabric,
    module: Classifier,
    seeds: list[int],
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    cfg: TrainParams,
    on_epoch_end: Callable[[int, dict[int, dict[str, float]]], None],
    resume: EnsembleCache | None = None,
    pretrain: Callable[[nn.Module, torch.Tensor], list[dict[str, float]] | None] | None = None,
) -> FitState:
    """Train the ensemble of `seeds` for `cfg.max_steps` optimizer steps, validating at the end of an epoch once
    `max_steps / EVALUATIONS` steps have passed since the last validation, and at the end (training metrics
    are the means since the last validation); with
    `resume`, continue from its saved state and save it again whenever it is due (EnsembleCache.due), at the
    end of an epoch. `on_epoch_end(step, {seed index: metrics})` hears of the seeds still training.

    Each seed draws its own batches, shuffled by a generator seeded with its seed, as when trained alone. A
    seed whose epoch loss is not finite is frozen at the end of that epoch (its weights kept as they were
    then) and the others go on; training ends early once every seed has stopped.

    `pretrain(net, inputs)`, where given, trains the network without labels first (a family's unsupervised
    pre-training; never again on resuming) and returns each seed's metrics, heard as those of step 0.
    """
    model, optimizer = fabric.setup(module, module.configure_optimizers())
    x, y = (fabric.to_device(torch.from_numpy(a)) for a in train_xy)
    val_x, val_y = (fabric.to_device(torch.from_numpy(a)) for a in val_xy)
    state = FitState([torch.Generator().manual_seed(seed) for seed in seeds])
    if resume:
        resume.load(module, optimizer, state)
    if pretrain and state.step == 0:
        pretrained = pretrain(module.net, x)
        if pretrained:
            on_epoch_end(0, dict(enumerate(pretrained)))
    # Looked up once: Fabric's wrapper resolves a method other than forward through a failed attribute
    # lookup each time, a cost a small network's step notices.
    training_step, validation_step = model.training_step, model.validation_step
    in_order = torch.arange(len(y)).expand(len(seeds), -1)
    val_batches = [
        (val_x[start : start + VAL_BATCH], val_y[start : start + VAL_BATCH])
        for start in range(0, len(val_y), VAL_BATCH)
    ]
    if len(seeds) > 1:  # every seed sees the whole validation set
        val_batches = [tuple(t.expand(len(seeds), *t.shape) for t in batch) for batch in val_batches]
    evaluate_every, evaluated_at = max(1, cfg.max_steps // EVALUATIONS), state.step
    while state.step < cfg.max_steps and len(state.stopped) < len(seeds):
        ranked = (
            torch.stack([torch.randperm(len(y), generator=order) for order in state.orders])
            if cfg.shuffle
            else in_order
        )
        ranked = ranked.to(fabric.device)
        model.train()
        for start in range(0, len(y), cfg.batch_size):
            loss = training_step(_gather(x, y, ranked[:, start : start + cfg.batch_size]), state.step)
            optimizer.zero_grad(set_to_none=True)
            fabric.backward(loss)
            optimizer.step()
            state.step += 1
            if state.step == cfg.max_steps:
                break
        if state.step - evaluated_at < evaluate_every and state.step < cfg.max_steps:
            continue  # a small dataset's epoch is a few steps: evaluating each would cost more than training
        evaluated_at = state.step
        model.eval()
        with torch.no_grad():
            for batch in val_batches:
                validation_step(batch, 0)
        metrics = {index: seed for index, seed in enumerate(module.epoch_metrics()) if index not in state.stopped}
        on_epoch_end(state.step, metrics)
        for index, seed in metrics.items():
            if not math.isfinite(seed["train_loss"]):
                state.stopped[index] = Stopped(state.step, module.seed_state(index))
        if resume and resume.due():
            resume.save(module, optimizer, state)
    return state


def _gather(x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of each seed's `rows` (seeds, batch): inputs (seeds, batch, *sample), labels (seeds, batch);
    one seed's batch has no seed axis (see ensemble.stack). index_select, not x[rows]: a third of the time."""
    shape = rows.shape[1:] if len(rows) == 1 else rows.shape
    rows = rows.flatten()
    return x.index_select(0, rows).view(*shape, *x.shape[1:]), y.index_select(0, rows).view(shape)


class EnsembleCache:
    """An ensemble's saved training state, and each member's finished outcome, kept outside DVC's outputs
    (which DVC may delete before a stage runs). An interrupted train stage continues from the state; a
    finished member is reused by the next run of its stage, so that adding an lr to the grid, a depth or a
    dataset trains only what is new. File names carry a hash of everything that shapes the runs: params,
    seed, lr, steps, data and the training code; a change to any of them never reuses an old result. A
    reused member keeps the record of the ensemble it trained in (`ensemble_seeds`, `ensemble_lrs`)."""

    def __init__(self, folder: Path, job: EnsembleJob):
        self.job = job
        self.folder = folder
        self.state_file = folder / f"{job.dataset}-d{job.depth}-{job.key}.state"
        self.resumed_from_step = 0
        self.saved_at = time.monotonic()
        folder.mkdir(parents=True, exist_ok=True)

    def due(self) -> bool:
        """Whether `runtime.resume_interval_s` has passed since the state was last saved."""
        return time.monotonic() - self.saved_at >= self.job.params.runtime.resume_interval_s

    def load(self, module: Classifier, optimizer: torch.optim.Optimizer, state: FitState) -> None:
        """Restore the saved state, if there is one, into the module, the optimizer and `state`."""
        if not self.state_file.exists():
            return
        saved = torch.load(self.state_file, map_location="cpu", weights_only=True)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for order, order_state in zip(state.orders, saved["orders"], strict=True):
            order.set_state(order_state)
        state.stopped = {int(index): Stopped(int(step), frozen) for index, (step, frozen) in saved["stopped"].items()}
        state.step = self.resumed_from_step = int(saved["step"])

    def save(self, module: Classifier, optimizer: torch.optim.Optimizer, state: FitState) -> None:
        saved = {
            "model": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": state.step,
            "orders": [order.get_state() for order in state.orders],
            "stopped": {str(index): (stop.step, stop.state) for index, stop in state.stopped.items()},
        }
        partial = self.state_file.with_suffix(".partial")
        torch.save(saved, partial)
        os.replace(partial, self.state_file)  # a kill while saving leaves the previous state whole
        self.saved_at = time.monotonic()

    def _member(self, seed: int, lr: float) -> Path:
        return self.folder / f"{self.job.dataset}-d{self.job.depth}-{self.job.member_key(seed, lr)}"

    def finished(self) -> dict[tuple[int, float], dict[str, Any]]:
        """The outcomes of this ensemble's members that finished in an earlier run."""
        found = {}
        for member in self.job.members:
            stem = self._member(*member)
            if stem.with_suffix(".done.json").exists() and stem.with_suffix(".ckpt").exists():
                found[member] = json.loads(stem.with_suffix(".done.json").read_text())
        return found

    def reuse(self, outcome: dict[str, Any], out_dir: Path) -> TrainedSeed:
        """A finished member's checkpoint put back among the stage's outputs."""
        (out_dir / outcome["checkpoint"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self._member(outcome["seed"], outcome["lr"]).with_suffix(".ckpt"), out_dir / outcome["checkpoint"])
        return TrainedSeed(**outcome)

    def finish(self, out_dir: Path, trained: list[TrainedSeed]) -> None:
        for seed in trained:
            stem = self._member(seed.seed, seed.lr)
            shutil.copy(out_dir / seed.checkpoint, stem.with_suffix(".ckpt"))
            write_json(stem.with_suffix(".done.json"), asdict(seed))
        self.state_file.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        members = [self._member(*member) for member in self.job.members]
        return [self.state_file, *(stem.with_suffix(suffix) for stem in members for suffix in (".ckpt", ".done.json"))]


@dataclass(frozen=True)
class StudyData:
    """One dataset as a train stage uses it: read, and described for MLflow, once for all its ensembles."""

    meta: Meta
    train_xy: tuple[np.ndarray, np.ndarray]
    val_xy: tuple[np.ndarray, np.ndarray]
    dataset_inputs: list[Any]


@dataclass(frozen=True)
class EnsembleJob:
    """Everything one ensemble needs, data included, so a worker process reads no files. Its members are
    (seed, lr) pairs, `seeds[i]` trained at `lrs[i]`: the lr grid of a (dataset, depth) in one ensemble, or its
    seeds at the chosen lr. `phase` is "grid" for the runs that choose the lr, "final" for the others."""

    params: Params
    dataset: str
    family: str
    depth: int
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    max_steps: int
    phase: str
    data: StudyData
    out_dir: Path  # the dataset's folder of the family's outputs
    code: str  # digest of the training code
    cache_dir: Path | None = None
    threads: int = 1  # torch threads of the process that trains it (set by train_configurations)

    @property
    def members(self) -> list[tuple[int, float]]:
        return list(zip(self.seeds, self.lrs, strict=True))

    @property
    def config(self) -> TrainParams:
        """The train section as this ensemble trains: its own steps."""
        return self.params.train.model_copy(update={"max_steps": self.max_steps})

    def _hash(self, members: list[tuple[int, float]]) -> str:
        shaping = {
            "train": self.params.train.model_dump(mode="json", include=SHAPING_TRAIN_KEYS),
            "members": members,
            "max_steps": self.max_steps,
            "model": getattr(self.params.models, self.family).model_dump(mode="json"),
            "family": self.family,
            "depth": self.depth,
            "data": self.data.meta.digest,
            "code": self.code,
        }
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def key(self) -> str:
        """A hash of everything that shapes this ensemble's runs, its members in order included."""
        return self._hash(self.members)

    def member_key(self, seed: int, lr: float) -> str:
        """A hash of everything that shapes one member's run, whichever ensemble it trains in."""
        return self._hash([(seed, lr)])

    @property
    def label(self) -> str:
        lrs = sorted(set(self.lrs))
        lr = f"lr {lrs[0]:g}" if len(lrs) == 1 else f"lr grid {', '.join(f'{v:g}' for v in lrs)}"
        per_lr = len(self.seeds) // len(lrs)
        return f"{self.dataset}/{self.family}-d{self.depth} {lr}, {seeds_text(per_lr)}{' each' if len(lrs) > 1 else ''}"

    def checkpoint(self, seed: int, lr: float) -> Path:
        """Relative to the dataset's output folder; unique per (lr, steps, seed) of a depth."""
        return Path(f"d{self.depth}") / f"lr{lr:g}-{self.max_steps}steps" / f"seed-{seed}.ckpt"


# What shapes a run in `train`, besides the lr, steps and seeds an ensemble is given.
SHAPING_TRAIN_KEYS = {"batch_size", "weight_decay", "shuffle", "accelerator"}
GRID, FINAL = "grid", "final"


@dataclass(frozen=True)
class TrainedSeed:
    """One seed's outcome, as runs.json lists it. `train_time_s` is its share of its ensemble's training
    time (the ensemble's time over its members): what training one model cost. `ensemble_seeds` and
    `ensemble_lrs`: the members it trained with, in order; its weights are reproduced bit for bit only in that
    same ensemble. `phase`: grid
    (choosing the lr) or final; `selected`: trained at the lr chosen for its configuration; `reported`: one of
    the runs the report's verdicts rest on."""

    depth: int
    seed: int
    lr: float
    phase: str
    run_id: str
    checkpoint: str
    param_count: int
    train_time_s: float
    steps: int
    val_accuracy: float | None
    diverged: bool
    accelerator: str
    ensemble_seeds: list[int]
    ensemble_lrs: list[float]
    selected: bool = False
    reported: bool = False


def seeds_text(count: int) -> str:
    return f"{count} seed{'s' if count != 1 else ''}"


def worker_count(cfg: RuntimeParams, jobs: int) -> int:
    """`runtime.workers`, where 0 means one per CPU core; never more than there are jobs."""
    return max(1, min(cfg.workers or os.cpu_count() or 1, jobs))


def code_digest(family: str) -> str:
    """A digest of the depthlab modules a train stage has imported (the family's network included): the code
    that shapes its results. Report or benchmark code is not among them, so changing it reuses ensembles."""
    importlib.import_module(FAMILIES[family].network_module)
    package = Path(__file__).resolve().parent
    files = sorted(
        Path(module.__file__).resolve()
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "depthlab" and getattr(module, "__file__", None)
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def load_study_data(params: Params, dataset: str, data_dir: Path) -> StudyData:
    meta = load_meta(data_dir)
    splits = ("train", "val") if meta.rows.get("val", 0) else ("train",)
    frames = {split: load_frame(data_dir, split) for split in ("train", "val")}
    inputs = []
    if params.tracking.enabled:
        contexts = {"train": "training", "val": "validation"}
        inputs = tracking.describe_datasets(
            {split: (frames[split], data_dir / f"{split}.parquet", contexts[split]) for split in splits},
            meta.name,
            meta.digest,
            meta.dataset_notes,
        )
    return StudyData(meta, *(to_arrays(frames[split], meta) for split in ("train", "val")), inputs)


def grid_jobs(
    params: Params, family: str, data: dict[str, StudyData], out_dir: Path, code: str, cache_dir: Path | None = None
) -> list[EnsembleJob]:
    """The ensembles that choose each configuration's lr: one per (dataset, depth), every lr of the grid over
    the selection seeds. None where the grid has a single lr: there is nothing to choose."""
    cfg = params.train
    if len(cfg.grid) < 2:
        return []
    seeds = cfg.selection_seeds()
    members = [(seed, lr) for lr in cfg.grid for seed in seeds]
    return [
        EnsembleJob(
            params,
            dataset,
            family,
            depth,
            tuple(s for s, _ in members),
            tuple(lr for _, lr in members),
            cfg.selection.max_steps,
            GRID,
            data[dataset],
            out_dir / dataset,
            code,
            cache_dir,
        )
        for dataset in data
        for depth in params.depths(dataset, family)
    ]


def choose_lr(params: Params, grid: list[TrainedSeed]) -> float:
    """The lr whose seeds have the best mean final validation accuracy (a diverged seed counts as 0); a tie
    goes to the smaller lr. The test split is never looked at."""
    if not grid:
        return params.train.grid[0]
    scores = {lr: float(np.mean([s.val_accuracy or 0.0 for s in grid if s.lr == lr])) for lr in params.train.grid}
    return max(params.train.grid, key=lambda lr: (scores[lr], -lr))


def final_jobs(
    params: Params, family: str, data: dict[str, StudyData], out_dir: Path, code: str, cache_dir: Path | None = None
) -> list[EnsembleJob]:
    """Every configuration over every seed, at the grid's first lr until its grid has chosen (`_at_lr`); the
    seeds its grid already trained with as many steps are not trained again (they are reported with the others)."""
    cfg = params.train
    reused = cfg.selection_seeds() if len(cfg.grid) > 1 and cfg.selection.max_steps == cfg.max_steps else []
    seeds = tuple(s for s in cfg.seeds if s not in reused)
    if not seeds:
        return []
    return [
        EnsembleJob(
            params,
            dataset,
            family,
            depth,
            seeds,
            (cfg.grid[0],) * len(seeds),
            cfg.max_steps,
            FINAL,
            data[dataset],
            out_dir / dataset,
            code,
            cache_dir,
        )
        for dataset in data
        for depth in params.depths(dataset, family)
    ]


def ensemble_job(params: Params, dataset: str, family: str, depth: int, data_dir: Path, out_dir: Path) -> EnsembleJob:
    """One configuration's ensemble of every seed at the grid's first lr, as a train stage makes its final
    ones (for benchmarks, which time one ensemble)."""
    data = load_study_data(params, dataset, data_dir)
    seeds = tuple(params.train.seeds)
    return EnsembleJob(
        params,
        dataset,
        family,
        depth,
        seeds,
        (params.train.grid[0],) * len(seeds),
        params.train.max_steps,
        FINAL,
        data,
        out_dir,
        code_digest(family),
    )


def train_family(
    params: Params, family: str, data_dirs: dict[str, Path], out_dir: Path, cache_dir: Path | None = None
) -> dict[str, list[TrainedSeed]]:
    """Train every configuration of `family` in the sweep, on every dataset of `data_dirs`: first the lr grid
    on the selection seeds (where the grid has more than one lr), then every seed at the lr each
    configuration chose. Writes checkpoints and one runs.json per dataset to `out_dir` all-or-nothing. With
    `cache_dir`, ensembles finished by an earlier run are reused and interrupted ones continue
    (EnsembleCache); afterwards it keeps what this run used and nothing else."""
    depths = {dataset: params.depths(dataset, family) for dataset in data_dirs}
    previous = {run["run_id"] for runs in out_dir.glob("*/runs.json") for run in read_json(runs)["runs"]}
    with staged_dir(out_dir) as staging:
        data = {
            dataset: load_study_data(params, dataset, data_dirs[dataset]) for dataset in data_dirs if depths[dataset]
        }
        if params.tracking.enabled:
            tracking.import_store_modules()  # once here, not once in each process forked below
            for dataset in data:
                # Orphaned runs closed, the experiment (and a fresh database's tables) created before writers start.
                in_child_process(tracking.prepare_experiment, dataset)
        code = code_digest(family)
        trained, chosen = train_configurations(
            params,
            grid_jobs(params, family, data, staging, code, cache_dir),
            final_jobs(params, family, data, staging, code, cache_dir),
        )
        trained = _mark_selection(params, trained, chosen)
        if params.tracking.enabled:
            # The runs this stage's outputs replace are no longer reported, whatever they were.
            superseded = previous - {s.run_id for _, s in trained}
            tracking.tag_finished_runs(
                {
                    **{run_id: {"reported": "false", "superseded": "true"} for run_id in superseded},
                    **{
                        s.run_id: {"selected": str(s.selected).lower(), "reported": str(s.reported).lower()}
                        for _, s in trained
                    },
                }
            )
        by_dataset: dict[str, list[TrainedSeed]] = {}
        for dataset, seed in trained:
            by_dataset.setdefault(dataset, []).append(seed)
        for dataset, seeds in by_dataset.items():
            seeds.sort(key=lambda t: (t.depth, t.phase != FINAL, t.lr, t.seed))
            write_json(
                staging / dataset / "runs.json",
                {
                    "dataset": dataset,
                    "family": family,
                    "lr_grid": params.train.grid,
                    "chosen_lr": {str(depth): chosen[dataset, depth] for depth in depths[dataset]},
                    "runs": [asdict(t) for t in seeds],
                },
            )
    if cache_dir:
        finals = [
            _at_lr(job, chosen[job.dataset, job.depth])
            for job in final_jobs(params, family, data, out_dir, code, cache_dir)
        ]
        used = grid_jobs(params, family, data, out_dir, code, cache_dir) + finals
        _prune(cache_dir, {path for job in used for path in EnsembleCache(cache_dir, job).files()})
    return by_dataset


def _mark_selection(
    params: Params, trained: list[tuple[str, TrainedSeed]], chosen: dict[tuple[str, int], float]
) -> list[tuple[str, TrainedSeed]]:
    """Which runs trained at their configuration's chosen lr, and which the report uses: the final runs and,
    where the grid ran as many steps, its runs at the chosen lr."""
    marked = []
    for dataset, seed in trained:
        selected = seed.lr == chosen[dataset, seed.depth]
        full_length = seed.phase == FINAL or params.train.selection.max_steps == params.train.max_steps
        marked.append((dataset, replace(seed, selected=selected, reported=selected and full_length)))
    return marked


def _prune(cache_dir: Path, keep: set[Path]) -> None:
    for path in cache_dir.glob("*"):
        if path.is_file() and path not in keep:
            path.unlink()


Configuration = tuple[str, int]  # (dataset, depth)


def train_configurations(
    params: Params, grid: list[EnsembleJob], finals: list[EnsembleJob]
) -> tuple[list[tuple[str, TrainedSeed]], dict[Configuration, float]]:
    """Every configuration's lr grid, then its final ensemble at the lr its grid chose (`finals` are made at
    the grid's first lr; without a grid that is the one lr). A configuration's final ensemble starts as soon
    as its own grid is done, not after every grid: no worker waits for a phase to end. In parallel worker
    processes where there are several jobs and `runtime.workers` allows, the longest first.

    Returns every run, labelled with its dataset, and the lr each configuration chose."""
    cfg = params.runtime
    workers = worker_count(cfg, len(grid) + len(finals))
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // workers)
    # Deepest and longest first: the last job to start is then a short one.
    grid = sorted(
        (replace(job, threads=threads) for job in grid),
        key=lambda j: (j.depth, len(j.seeds) * j.max_steps),
        reverse=True,
    )
    finals = [replace(job, threads=threads) for job in finals]
    final_of = {(job.dataset, job.depth): index for index, job in enumerate(finals)}
    chosen = {(job.dataset, job.depth): params.train.grid[0] for job in finals + grid}
    trained: list[tuple[str, TrainedSeed]] = []

    def chose(job: EnsembleJob, seeds: list[TrainedSeed]) -> int | None:
        """Record a grid's choice; the index of its configuration's final job, if there is one."""
        chosen[job.dataset, job.depth] = choose_lr(params, seeds)
        return final_of.get((job.dataset, job.depth))

    from depthlab import cluster

    if workers == 1 and not cluster.wanted():
        for job in grid:
            seeds = train_ensemble(job)
            trained += [(job.dataset, seed) for seed in seeds]
            index = chose(job, seeds)
            if index is not None:
                final = _at_lr(finals[index], chosen[job.dataset, job.depth])
                trained += [(final.dataset, seed) for seed in train_ensemble(final)]
        if not grid:
            trained += [(job.dataset, seed) for job in finals for seed in train_ensemble(job)]
        return trained, chosen
    jobs = grid + finals
    with _executor(params, jobs, workers) as executor:
        try:
            first_jobs = range(len(grid)) if grid else range(len(grid), len(jobs))
            pending = {executor.submit(index, None): (index, None) for index in first_jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index, lr = pending.pop(future)
                    job, seeds = jobs[index], executor.result(future, index, lr)
                    trained += [(job.dataset, seed) for seed in seeds]
                    final = chose(job, seeds) if job.phase == GRID else None
                    if final is not None:
                        lr = chosen[job.dataset, job.depth]
                        pending[executor.submit(len(grid) + final, lr)] = (len(grid) + final, lr)
        except BaseException:  # Ctrl-C, SIGTERM or a failed run: stop the other jobs' runs too
            executor.cancel()
            raise
    return trained, chosen


def _executor(params: Params, jobs: list[EnsembleJob], workers: int) -> ProcessPool | Any:
    """Where the jobs run: a Ray cluster when the environment asks for one (`depthlab.cluster`), otherwise
    worker processes forked on this machine. The choice is not in params.yaml, so it never reruns a stage."""
    from depthlab import cluster

    if cluster.wanted():
        return cluster.RayExecutor(params, jobs)
    return ProcessPool(jobs, workers)


class ProcessPool:
    """Worker processes forked on this machine. They inherit the jobs, data included, and receive only an
    index (pickling megabytes through the pool's pipe also hung its shutdown when a worker was interrupted)."""

    def __init__(self, jobs: list[EnsembleJob], workers: int):
        _FORKED_JOBS[:] = jobs
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()

    def submit(self, index: int, lr: float | None) -> Future[list[TrainedSeed]]:
        return self.pool.submit(_train_in_worker, index, lr)

    def result(self, future: Future[list[TrainedSeed]], index: int, lr: float | None) -> list[TrainedSeed]:
        return future.result()

    def cancel(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in multiprocessing.active_children():
            worker.terminate()


def _at_lr(job: EnsembleJob, lr: float) -> EnsembleJob:
    return replace(job, lrs=(lr,) * len(job.seeds))


_FORKED_JOBS: list[EnsembleJob] = []


def _train_in_worker(index: int, lr: float | None) -> list[TrainedSeed]:
    """A forked job, at `lr` where given (a final job, once its grid chose). A pool worker that was interrupted
    exits once its runs are closed, instead of taking the next job."""
    try:
        job = _FORKED_JOBS[index]
        return train_ensemble(job if lr is None else _at_lr(job, lr))
    except KeyboardInterrupt:
        os._exit(130)


def in_child_process(function: Callable[[str], object], argument: str) -> None:
    """Run in a short-lived fork, so this process holds no database connection that workers would inherit."""
    child = multiprocessing.get_context("fork").Process(target=function, args=(argument,))
    child.start()
    child.join()
    if child.exitcode != 0:
        function(argument)  # again here, to raise the error with its message


def seed_networks(params: Params, family: str, depth: int, meta: Meta, seeds: tuple[int, ...]) -> list[nn.Module]:
    """Each seed's own network, initialised exactly as if that seed were trained alone."""
    nets = []
    for seed in seeds:
        L.seed_everything(seed, verbose=False)
        nets.append(build_network(params.models, family, depth, meta.shape))
    return nets


def train_ensemble(job: EnsembleJob) -> list[TrainedSeed]:
    """The members of one ensemble trained together, each in its own tracked run; same params, data, code and
    machine give the same weights. Members finished by an earlier run (in the cache) are reused, the others
    trained as an ensemble of their own.

    A seed whose loss turns NaN or infinite stops early as a result: `diverged` is recorded, not raised.
    """
    reused, todo = reuse_finished(job)
    if todo is None:
        return reused
    trained, _ = train_members(todo, EnsembleCache(todo.cache_dir, todo) if todo.cache_dir else None)
    return reused + trained


def reuse_finished(job: EnsembleJob) -> tuple[list[TrainedSeed], EnsembleJob | None]:
    """The members an earlier run finished, put back among the outputs, and the job of the others (None if
    there are none)."""
    cache = EnsembleCache(job.cache_dir, job) if job.cache_dir else None
    finished = cache.finished() if cache else {}
    reused = [cache.reuse(finished[member], job.out_dir) for member in job.members if member in finished]
    if not reused:
        return [], job
    todo = [member for member in job.members if member not in finished]
    print(
        f"[{job.label}] {len(reused)} of {len(job.members)} runs trained before with the same params, data "
        f"and code: reused",
        flush=True,
    )
    if not todo:
        return reused, None
    return reused, replace(job, seeds=tuple(s for s, _ in todo), lrs=tuple(lr for _, lr in todo))


def train_members(
    job: EnsembleJob, cache: EnsembleCache | None, record: bool = False
) -> tuple[list[TrainedSeed], list[Any]]:
    """Train the job's members as one ensemble; its outcomes and its runs (recorded ones with `record`, for a
    process that cannot reach the tracking store)."""
    torch.set_num_threads(job.threads)
    params, cfg, meta = job.params, job.config, job.data.meta
    nets = seed_networks(params, job.family, job.depth, meta, job.seeds)
    param_count = count_parameters(nets[0])
    shared = {
        # A seed's weights depend on its ensemble (batched kernels round by position): the members, in order.
        "family": job.family,
        "depth": job.depth,
        "param_count": param_count,
        "ensemble_seeds": list(job.seeds),
        "ensemble_lrs": list(job.lrs),
        "phase": job.phase,
        "train": cfg.model_dump(mode="json", exclude={"seeds", "lr", "selection"}),
        "lr_grid": params.train.grid,
        "model": getattr(params.models, job.family).model_dump(mode="json"),
        "data": params.data.describe(job.dataset),
    }
    runs = [
        tracking.RunSpec(
            tracking.run_name(job.family, job.depth, seed, lr if job.phase == GRID else None),
            {**shared, "seed": seed, "lr": lr},
            {
                "family": job.family,
                "depth": job.depth,
                "seed": seed,
                "lr": f"{lr:g}",
                "phase": job.phase,
                "dataset_digest": meta.digest,
                "kind": "training",
            },
        )
        for seed, lr in job.members
    ]
    with tracking.tracked_runs(
        dataset=job.dataset,
        runs=runs,
        system_metrics_interval_s=params.tracking.system_metrics_interval_s,
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
        record=record,
    ) as tracked:
        fabric = L.Fabric(accelerator=cfg.accelerator, devices=1)
        module = Classifier(ensemble.stack(nets), len(job.seeds), list(job.lrs), cfg.weight_decay)
        progress = Progress(job.label, cfg.max_steps)
        last_val: dict[int, float] = {}

        def on_epoch_end(step: int, metrics: dict[int, dict[str, float]]) -> None:
            for index, seed_metrics in metrics.items():
                tracked[index].log_metrics(seed_metrics, step)
                if "val_acc" in seed_metrics:
                    last_val[index] = seed_metrics["val_acc"]
            progress(step, metrics)

        family, config = FAMILIES[job.family], getattr(params.models, job.family)

        def pretrain(net: nn.Module, inputs: torch.Tensor) -> list[dict[str, float]] | None:
            began = time.perf_counter()
            metrics = family.pretrain(config, net, inputs, list(job.seeds), cfg.batch_size)
            if metrics and metrics[0]:
                print(
                    f"[{job.label}] pre-trained {len(metrics[0])} layer(s) without labels in "
                    f"{time.perf_counter() - began:.1f}s",
                    flush=True,
                )
            return metrics

        started = time.perf_counter()
        state = fit(
            fabric, module, list(job.seeds), job.data.train_xy, job.data.val_xy, cfg, on_epoch_end, cache, pretrain
        )
        ensemble_time_s = time.perf_counter() - started
        train_time_s = ensemble_time_s / len(job.seeds)
        accelerator = type(fabric.accelerator).__name__.removesuffix("Accelerator").lower()
        trained = []
        for index, ((seed, lr), net, run) in enumerate(zip(job.members, nets, tracked, strict=True)):
            stopped = state.stopped.get(index)
            steps, weights = (stopped.step, stopped.state) if stopped else (state.step, module.seed_state(index))
            net.load_state_dict(weights)
            checkpoint = job.checkpoint(seed, lr)
            (job.out_dir / checkpoint).parent.mkdir(parents=True, exist_ok=True)
            fabric.save(job.out_dir / checkpoint, {"model": net.state_dict(), "step": steps})
            run.log_metrics(
                {
                    "train_time_s": train_time_s,
                    "ensemble_train_time_s": ensemble_time_s,
                    "steps": steps,
                    "diverged": float(stopped is not None),
                },
                step=steps,
            )
            outcome_tags = {
                "torch_threads": job.threads,  # batched kernels round by thread count: reproduce uses it
                "accelerator": accelerator,
                "device": str(fabric.device),
                "diverged": str(stopped is not None).lower(),
            }
            if cache and cache.resumed_from_step:
                outcome_tags["resumed_from_step"] = str(cache.resumed_from_step)
            run.set_tags(outcome_tags)
            if stopped:
                print(
                    f"[{job.label}] seed {seed} at lr {lr:g} diverged at step {steps}: loss is not finite; recorded "
                    "as a result",
                    flush=True,
                )
            else:
                run.log_model(net.cpu().eval(), job.data.train_xy[0][:2], params.tracking.model_format)
            run.log_inputs(job.data.dataset_inputs)
            val_accuracy = None if stopped else last_val.get(index)
            trained.append(
                TrainedSeed(
                    job.depth,
                    seed,
                    lr,
                    job.phase,
                    run.run_id,
                    str(checkpoint),
                    param_count,
                    train_time_s,
                    steps,
                    val_accuracy,
                    stopped is not None,
                    accelerator,
                    list(job.seeds),
                    list(job.lrs),
                )
            )
    if cache:
        cache.finish(job.out_dir, trained)
    return trained, tracked
