"""Train one (family, depth) over every configured seed: the seeds as one batched ensemble, one training
module for every family.

The seeds of a configuration are stacked into one network (`depthlab.ensemble`): each seed keeps its own
initialisation (the same weights as when trained alone), data order, optimizer state and divergence check,
and gets its own MLflow run, checkpoint and runs.json entry. The loop runs on Lightning Fabric rather than
the Trainer: measured on 2 CPU cores for a 40-100-100-10 MLP, the Trainer adds 65-80% to each step of a
plain PyTorch loop; Fabric with batches sliced from tensors already on the device stays within the 1.2x
target (see `depthlab.bench`). Fabric still picks the accelerator, places the data and saves checkpoints.
Only Fabric is installed (`lightning-fabric`): the `lightning` package imports torchmetrics to check its
version, 1.2 s of every train stage's start. The depths of a stage train in parallel worker processes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import lightning_fabric as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import ensemble, tracking
from depthlab.data import Meta, load_frame, load_meta, to_arrays
from depthlab.families import build_network, count_parameters
from depthlab.outputs import staged_dir, write_json
from depthlab.params import Params, TrainParams

logging.getLogger("lightning_fabric").setLevel(logging.WARNING)

VAL_BATCH = 1000


class Classifier(nn.Module):
    """Cross-entropy training of a family's stacked network: inputs (seeds, batch, *sample), one loss per seed.

    The loss returned is the sum of the seeds' mean losses, so each seed's parameters get the gradient of
    their own loss alone. Loss and hits are summed on the device, per seed, and read once per epoch.
    """

    STAGES = ("train", "val")

    def __init__(self, net: nn.Module, seeds: int, lr: float, weight_decay: float):
        super().__init__()
        self.net = net
        self.seeds = seeds
        self.lr = lr
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
            # ten classes of each row: 130 instead of 340 us a step, with backward, for ten seeds here.
            per_sample = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
            loss = per_sample.mean() * self.seeds  # the sum of the seeds' mean losses
            loss_sum.add_(per_sample.detach().sum(dim=1))
            hits.add_(logits.detach().argmax(dim=-1).eq_(y).sum(dim=1))
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
                for seed_metrics, seed_loss, seed_hits in zip(metrics, loss_sum.tolist(), hits.tolist()):
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
        to rounding, and 15% less time per step for a small MLP on 2 CPU cores. Adam is elementwise, so over
        stacked parameters it is each seed's own Adam."""
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay, fused=True)


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
        print(f"[{self.label}] step {step}/{self.max_steps}  {'  '.join(shown)}  {time.perf_counter() - self.started:.1f}s", flush=True)


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
    resume: ResumeState | None = None,
) -> FitState:
    """Train the ensemble of `seeds` for `cfg.max_steps` optimizer steps, validating after every epoch; with
    `resume`, continue from its saved state and save it again every `cfg.resume_interval_s` seconds, at the
    end of an epoch. `on_epoch_end(step, {seed index: metrics})` hears of the seeds still training.

    Each seed draws its own batches, shuffled by a generator seeded with its seed, as when trained alone. A
    seed whose epoch loss is not finite is frozen at the end of that epoch (its weights kept as they were
    then) and the others go on; training ends early once every seed has stopped.
    """
    model, optimizer = fabric.setup(module, module.configure_optimizers())
    x, y = (fabric.to_device(torch.from_numpy(a)) for a in train_xy)
    val_x, val_y = (fabric.to_device(torch.from_numpy(a)) for a in val_xy)
    state = FitState([torch.Generator().manual_seed(seed) for seed in seeds])
    if resume:
        resume.load(module, optimizer, state)
    saved_at = time.monotonic()
    # Looked up once: Fabric's wrapper resolves a method other than forward through a failed attribute
    # lookup each time, which costs 3% of a small MLP's step.
    training_step, validation_step = model.training_step, model.validation_step
    in_order = torch.arange(len(y)).expand(len(seeds), -1)
    val_batches = [(val_x[start : start + VAL_BATCH], val_y[start : start + VAL_BATCH]) for start in range(0, len(val_y), VAL_BATCH)]
    if len(seeds) > 1:  # every seed sees the whole validation set
        val_batches = [tuple(t.expand(len(seeds), *t.shape) for t in batch) for batch in val_batches]
    while state.step < cfg.max_steps and len(state.stopped) < len(seeds):
        ranked = torch.stack([torch.randperm(len(y), generator=order) for order in state.orders]) if cfg.shuffle else in_order
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
        model.eval()
        with torch.no_grad():
            for batch in val_batches:
                validation_step(batch, 0)
        metrics = {index: seed for index, seed in enumerate(module.epoch_metrics()) if index not in state.stopped}
        on_epoch_end(state.step, metrics)
        for index, seed in metrics.items():
            if not math.isfinite(seed["train_loss"]):
                state.stopped[index] = Stopped(state.step, module.seed_state(index))
        if resume and time.monotonic() - saved_at >= cfg.resume_interval_s:
            resume.save(module, optimizer, state)
            saved_at = time.monotonic()
    return state


def _gather(x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of each seed's `rows` (seeds, batch): inputs (seeds, batch, *sample), labels (seeds, batch);
    one seed's batch has no seed axis (see ensemble.stack). index_select, not x[rows]: a third of the time."""
    shape = rows.shape[1:] if len(rows) == 1 else rows.shape
    rows = rows.flatten()
    return x.index_select(0, rows).view(*shape, *x.shape[1:]), y.index_select(0, rows).view(shape)


class ResumeState:
    """One ensemble's training state and outcome kept outside DVC's outputs (which DVC deletes before a stage
    runs), so that an interrupted train stage continues where it stopped. The file name carries a hash of
    everything that shapes the runs, seeds included: changed params or data never resume from an old state."""

    def __init__(self, folder: Path, job: EnsembleJob):
        cfg = job.params.train.model_dump(mode="json", exclude={"seeds", "workers", "threads", "resume_interval_s"})
        shaping = {
            "train": cfg, "model": getattr(job.params.models, job.family).model_dump(mode="json"),
            "family": job.family, "depth": job.depth, "seeds": list(job.seeds), "data": job.meta.digest,
        }
        key = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
        self.stem = f"d{job.depth}-{key}"
        self.folder = folder
        self.state_file = folder / f"{self.stem}.state"
        self.outcome_file = folder / f"{self.stem}.done.json"
        self.resumed_from_step = 0
        folder.mkdir(parents=True, exist_ok=True)

    def load(self, module: Classifier, optimizer: torch.optim.Optimizer, state: FitState) -> None:
        """Restore the saved state, if there is one, into the module, the optimizer and `state`."""
        if not self.state_file.exists():
            return
        saved = torch.load(self.state_file, map_location="cpu", weights_only=True)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for order, order_state in zip(state.orders, saved["orders"]):
            order.set_state(order_state)
        state.stopped = {int(index): Stopped(int(step), frozen) for index, (step, frozen) in saved["stopped"].items()}
        state.step = self.resumed_from_step = int(saved["step"])

    def save(self, module: Classifier, optimizer: torch.optim.Optimizer, state: FitState) -> None:
        saved = {
            "model": module.state_dict(), "optimizer": optimizer.state_dict(), "step": state.step,
            "orders": [order.get_state() for order in state.orders],
            "stopped": {str(index): (stop.step, stop.state) for index, stop in state.stopped.items()},
        }
        partial = self.state_file.with_suffix(".partial")
        torch.save(saved, partial)
        os.replace(partial, self.state_file)  # a kill while saving leaves the previous state whole

    def checkpoint(self, seed: int) -> Path:
        return self.folder / f"{self.stem}-s{seed}.ckpt"

    def finished(self) -> list[dict[str, Any]] | None:
        """The outcomes of an ensemble that completed before the stage was interrupted, if any."""
        if not self.outcome_file.exists():
            return None
        outcomes = json.loads(self.outcome_file.read_text())
        return outcomes if all(self.checkpoint(o["seed"]).exists() for o in outcomes) else None

    def finish(self, out_dir: Path, trained: list[TrainedSeed]) -> None:
        for seed in trained:
            shutil.copy(out_dir / seed.checkpoint, self.checkpoint(seed.seed))
        write_json(self.outcome_file, [asdict(seed) for seed in trained])
        self.state_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class EnsembleJob:
    """Everything one ensemble (a depth's seeds) needs, data included, so a worker process reads no files."""

    params: Params
    dataset: str
    family: str
    depth: int
    seeds: tuple[int, ...]
    meta: Meta
    train_xy: tuple[np.ndarray, np.ndarray]
    val_xy: tuple[np.ndarray, np.ndarray]
    dataset_inputs: list[Any]
    out_dir: Path
    threads: int
    resume_dir: Path | None = None


@dataclass(frozen=True)
class TrainedSeed:
    """One seed's outcome, as runs.json lists it. `train_time_s` is its share of its ensemble's training
    time (the ensemble's time over its seeds): what training one model cost. `ensemble_seeds`: the seeds it
    trained with, in order; its weights are reproduced bit for bit only in that same ensemble."""

    depth: int
    seed: int
    run_id: str
    checkpoint: str
    param_count: int
    train_time_s: float
    steps: int
    diverged: bool
    accelerator: str
    ensemble_seeds: list[int]


def seeds_text(count: int) -> str:
    return f"{count} seed{'s' if count != 1 else ''}"


def worker_count(cfg: TrainParams, jobs: int) -> int:
    """`train.workers`, where 0 means one per CPU core; never more than there are jobs."""
    return max(1, min(cfg.workers or os.cpu_count() or 1, jobs))


def ensemble_jobs(
    params: Params,
    dataset: str,
    family: str,
    depths: list[int],
    data_dir: Path,
    out_dir: Path,
    threads: int,
    resume_dir: Path | None = None,
) -> list[EnsembleJob]:
    """One job per depth, all seeds together, deepest first so the longest runs start first; the data is
    read, and described for MLflow, once for all of them."""
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
        )
    train_xy, val_xy = (to_arrays(frames[split], meta) for split in ("train", "val"))
    seeds = tuple(params.train.seeds)
    return [
        EnsembleJob(params, dataset, family, depth, seeds, meta, train_xy, val_xy, inputs, out_dir, threads, resume_dir)
        for depth in sorted(depths, reverse=True)
    ]


def train_family(
    params: Params, dataset: str, family: str, data_dir: Path, out_dir: Path, resume_dir: Path | None = None
) -> list[TrainedSeed]:
    """Train every depth of `family` in the sweep on `dataset`, each as one ensemble of every seed; write
    checkpoints and runs.json to `out_dir` all-or-nothing. With `resume_dir`, ensembles finished or
    interrupted by an earlier attempt are reused or continued (see ResumeState); it is emptied once the
    stage succeeds."""
    depths = params.depths(dataset, family)
    workers = worker_count(params.train, len(depths))
    threads = params.train.threads or max(1, (os.cpu_count() or 1) // workers)
    with staged_dir(out_dir) as staging:
        jobs = ensemble_jobs(params, dataset, family, depths, data_dir, staging, threads, resume_dir)
        if params.tracking.enabled:
            # Orphaned runs closed, the experiment (and a fresh database's tables) created before writers start.
            in_child_process(tracking.prepare_experiment, dataset)
        if workers == 1:
            trained = [seed for job in jobs for seed in train_ensemble(job)]
        else:
            # Workers are forked after this: they inherit the jobs, data included, and receive only an index.
            # (Pickling megabytes through the pool's pipe also hung its shutdown when a worker was interrupted.)
            _FORKED_JOBS[:] = jobs
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                try:
                    trained = [seed for seeds in pool.map(_train_in_worker, range(len(jobs))) for seed in seeds]
                except BaseException:  # Ctrl-C, SIGTERM or a failed run: stop the other workers' runs too
                    pool.shutdown(wait=False, cancel_futures=True)
                    for worker in multiprocessing.active_children():
                        worker.terminate()
                    raise
        trained.sort(key=lambda t: (t.depth, t.seed))
        write_json(
            staging / "runs.json",
            {"dataset": dataset, "family": family, "runs": [asdict(t) for t in trained]},
        )
    if resume_dir:
        shutil.rmtree(resume_dir, ignore_errors=True)
    return trained


_FORKED_JOBS: list[EnsembleJob] = []


def _train_in_worker(index: int) -> list[TrainedSeed]:
    """A pool worker that was interrupted exits once its runs are closed, instead of taking the next job."""
    try:
        return train_ensemble(_FORKED_JOBS[index])
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
    """The seeds of one (family, depth) trained as one ensemble, each in its own tracked run; same params,
    data, code and machine give the same weights.

    A seed whose loss turns NaN or infinite stops early as a result: `diverged` is recorded, not raised.
    """
    torch.set_num_threads(job.threads)
    params, cfg, meta = job.params, job.params.train, job.meta
    label = f"{job.dataset}/{job.family}-d{job.depth}"
    resume = ResumeState(job.resume_dir, job) if job.resume_dir else None
    outcomes = resume.finished() if resume else None
    if resume and outcomes:
        for outcome in outcomes:
            (job.out_dir / outcome["checkpoint"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(resume.checkpoint(outcome["seed"]), job.out_dir / outcome["checkpoint"])
        print(f"[{label}] {len(outcomes)} seeds finished before the stage was interrupted: reused", flush=True)
        return [TrainedSeed(**outcome) for outcome in outcomes]
    nets = seed_networks(params, job.family, job.depth, meta, job.seeds)
    param_count = count_parameters(nets[0])
    shared = {
        # A seed's weights depend on its ensemble (batched kernels round by position): the seeds, in order.
        "family": job.family, "depth": job.depth, "param_count": param_count, "ensemble_seeds": list(job.seeds),
        "train": cfg.model_dump(mode="json", exclude={"seeds"}),
        "model": getattr(params.models, job.family).model_dump(mode="json"),
        "data": params.data.describe(job.dataset),
    }
    runs = [
        tracking.RunSpec(
            tracking.run_name(job.family, job.depth, seed),
            {**shared, "seed": seed},
            {"family": job.family, "depth": job.depth, "seed": seed, "dataset_digest": meta.digest, "kind": "training"},
        )
        for seed in job.seeds
    ]
    with tracking.tracked_runs(
        dataset=job.dataset,
        runs=runs,
        system_metrics_interval_s=params.tracking.system_metrics_interval_s,
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
    ) as tracked:
        fabric = L.Fabric(accelerator=cfg.accelerator, devices=1)
        module = Classifier(ensemble.stack(nets), len(job.seeds), cfg.lr, cfg.weight_decay)
        progress = Progress(f"{label}, {seeds_text(len(job.seeds))}", cfg.max_steps)

        def on_epoch_end(step: int, metrics: dict[int, dict[str, float]]) -> None:
            for index, seed_metrics in metrics.items():
                tracked[index].log_metrics(seed_metrics, step)
            progress(step, metrics)

        started = time.perf_counter()
        state = fit(fabric, module, list(job.seeds), job.train_xy, job.val_xy, cfg, on_epoch_end, resume)
        ensemble_time_s = time.perf_counter() - started
        train_time_s = ensemble_time_s / len(job.seeds)
        accelerator = type(fabric.accelerator).__name__.removesuffix("Accelerator").lower()
        trained = []
        for index, (seed, net, run) in enumerate(zip(job.seeds, nets, tracked)):
            stopped = state.stopped.get(index)
            steps, weights = (stopped.step, stopped.state) if stopped else (state.step, module.seed_state(index))
            net.load_state_dict(weights)
            checkpoint = Path(f"d{job.depth}") / f"seed-{seed}.ckpt"
            (job.out_dir / checkpoint).parent.mkdir(parents=True, exist_ok=True)
            fabric.save(job.out_dir / checkpoint, {"model": net.state_dict(), "step": steps})
            run.log_metrics({"train_time_s": train_time_s, "ensemble_train_time_s": ensemble_time_s, "steps": steps,
                             "diverged": float(stopped is not None)}, step=steps)
            outcome_tags = {"accelerator": accelerator, "device": str(fabric.device), "diverged": str(stopped is not None).lower()}
            if resume and resume.resumed_from_step:
                outcome_tags["resumed_from_step"] = str(resume.resumed_from_step)
            run.set_tags(outcome_tags)
            if stopped:
                print(f"[{label}] seed {seed} diverged at step {steps}: loss is not finite; recorded as a result", flush=True)
            else:
                run.log_model(net.cpu().eval(), job.train_xy[0][:2], params.tracking.model_format)
            run.log_inputs(job.dataset_inputs)
            trained.append(TrainedSeed(job.depth, seed, run.run_id, str(checkpoint), param_count, train_time_s, steps,
                                       stopped is not None, accelerator, list(job.seeds)))
    if resume:
        resume.finish(job.out_dir, trained)
    return trained
