"""Train one (family, depth) over every configured seed: one LightningModule trains any family's network.

The loop runs on Lightning Fabric rather than the Trainer: measured on 2 CPU cores for a 40-100-100-10 MLP,
the Trainer adds 65-80% to each step of a plain PyTorch loop, Fabric with batches sliced from tensors
already on the device stays within the 1.2x target (see `depthlab.bench`). Fabric still picks the
accelerator, places the data and saves checkpoints. Seeds of a stage train in parallel worker processes.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import tracking
from depthlab.data import Meta, load_frame, load_meta, to_arrays
from depthlab.families import build_network, count_parameters
from depthlab.outputs import staged_dir, write_json
from depthlab.params import Params, TrainParams

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)

VAL_BATCH = 1000


class Classifier(L.LightningModule):
    """Cross-entropy training of any network. Loss and hits are summed on the device and read once per epoch."""

    STAGES = ("train", "val")

    def __init__(self, net: nn.Module, lr: float, weight_decay: float):
        super().__init__()
        self.net = net
        self.lr = lr
        self.weight_decay = weight_decay
        for stage in self.STAGES:
            self.register_buffer(f"{stage}_loss_sum", torch.zeros(()), persistent=False)
            self.register_buffer(f"{stage}_hits", torch.zeros((), dtype=torch.long), persistent=False)
        self.samples = dict.fromkeys(self.STAGES, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        # As few tiny ops as possible (each costs about as much as a small layer's math); detached, no graph.
        getattr(self, f"{stage}_loss_sum").add_(loss.detach(), alpha=len(y))
        getattr(self, f"{stage}_hits").add_(logits.detach().argmax(dim=-1).eq_(y).sum())
        self.samples[stage] += len(y)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def epoch_metrics(self) -> dict[str, float]:
        """Means since the last call, then reset: the only device-to-host reads of an epoch."""
        metrics = {}
        for stage in self.STAGES:
            loss_sum, hits = getattr(self, f"{stage}_loss_sum"), getattr(self, f"{stage}_hits")
            if self.samples[stage]:
                metrics[f"{stage}_loss"] = loss_sum.item() / self.samples[stage]
                metrics[f"{stage}_acc"] = hits.item() / self.samples[stage]
            loss_sum.zero_()
            hits.zero_()
        self.samples = dict.fromkeys(self.STAGES, 0)
        return metrics

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with its fused kernel (CPU and CUDA): the same update as torch's default per-tensor loop, equal
        to rounding, and 15% less time per step for a small MLP on 2 CPU cores."""
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay, fused=True)


class Progress:
    """A line every ~10% of training: readable in a terminal, in `dvc repro` output and in a scheduler's log."""

    def __init__(self, label: str, max_steps: int):
        self.label = label
        self.max_steps = max_steps
        self.every = max(1, max_steps // 10)
        self.next = self.every
        self.started = time.perf_counter()

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        if step < self.next and step != self.max_steps:
            return
        self.next = (step // self.every + 1) * self.every
        shown = "  ".join(f"{key} {metrics[key]:.3f}" for key in ("train_loss", "val_acc") if key in metrics)
        print(f"[{self.label}] step {step}/{self.max_steps}  {shown}  {time.perf_counter() - self.started:.1f}s", flush=True)


def fit(
    fabric: L.Fabric,
    module: Classifier,
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    cfg: TrainParams,
    seed: int,
    on_epoch_end: Callable[[int, dict[str, float]], None],
    resume: ResumeState | None = None,
) -> tuple[int, bool]:
    """Train for `cfg.max_steps` optimizer steps, validating after every epoch; with `resume`, continue from
    its saved state and save it again every `cfg.resume_interval_s` seconds, at the end of an epoch.

    Returns (steps taken, diverged): training stops at the end of the first epoch whose loss is not finite.
    """
    model, optimizer = fabric.setup(module, module.configure_optimizers())
    x, y = (fabric.to_device(torch.from_numpy(a)) for a in train_xy)
    val_x, val_y = (fabric.to_device(torch.from_numpy(a)) for a in val_xy)
    order = torch.Generator().manual_seed(seed)
    step = resume.load(module, optimizer, order) if resume else 0
    saved_at = time.monotonic()
    # Looked up once: Fabric's wrapper resolves a method other than forward through a failed attribute
    # lookup each time, which costs 3% of a small MLP's step.
    training_step, validation_step = model.training_step, model.validation_step
    while step < cfg.max_steps:
        ranked = torch.randperm(len(y), generator=order) if cfg.shuffle else torch.arange(len(y))
        ranked = ranked.to(fabric.device)
        model.train()
        for start in range(0, len(y), cfg.batch_size):
            rows = ranked[start : start + cfg.batch_size]
            loss = training_step((x[rows], y[rows]), step)
            optimizer.zero_grad(set_to_none=True)
            fabric.backward(loss)
            optimizer.step()
            step += 1
            if step == cfg.max_steps:
                break
        model.eval()
        with torch.no_grad():
            for start in range(0, len(val_y), VAL_BATCH):
                validation_step((val_x[start : start + VAL_BATCH], val_y[start : start + VAL_BATCH]), 0)
        metrics = module.epoch_metrics()
        on_epoch_end(step, metrics)
        if not math.isfinite(metrics["train_loss"]):
            return step, True
        if resume and time.monotonic() - saved_at >= cfg.resume_interval_s:
            resume.save(module, optimizer, order, step)
            saved_at = time.monotonic()
    return step, False


class ResumeState:
    """One run's training state and outcome kept outside DVC's outputs (which DVC deletes before a stage
    runs), so that an interrupted train stage continues where it stopped. The file name carries a hash of
    everything that shapes the run: changed params or data never resume from an old state."""

    def __init__(self, folder: Path, job: SeedJob):
        cfg = job.params.train.model_dump(mode="json", exclude={"seeds", "workers", "threads", "resume_interval_s"})
        shaping = {
            "train": cfg, "model": getattr(job.params.models, job.family).model_dump(mode="json"),
            "family": job.family, "depth": job.depth, "seed": job.seed, "data": job.meta.digest,
        }
        key = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
        stem = f"d{job.depth}-s{job.seed}-{key}"
        self.state_file = folder / f"{stem}.state"
        self.final_checkpoint = folder / f"{stem}.ckpt"
        self.outcome_file = folder / f"{stem}.done.json"
        self.resumed_from_step = 0
        folder.mkdir(parents=True, exist_ok=True)

    def load(self, module: Classifier, optimizer: torch.optim.Optimizer, order: torch.Generator) -> int:
        """Restore the saved state if there is one; return the step to continue from."""
        if not self.state_file.exists():
            return 0
        state = torch.load(self.state_file, map_location="cpu", weights_only=True)
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        order.set_state(state["order"])
        self.resumed_from_step = int(state["step"])
        return self.resumed_from_step

    def save(self, module: Classifier, optimizer: torch.optim.Optimizer, order: torch.Generator, step: int) -> None:
        state = {"model": module.state_dict(), "optimizer": optimizer.state_dict(), "order": order.get_state(), "step": step}
        partial = self.state_file.with_suffix(".partial")
        torch.save(state, partial)
        os.replace(partial, self.state_file)  # a kill while saving leaves the previous state whole

    def finished(self) -> dict[str, Any] | None:
        """The outcome of a run that completed before the stage was interrupted, if any."""
        if self.outcome_file.exists() and self.final_checkpoint.exists():
            return json.loads(self.outcome_file.read_text())
        return None

    def finish(self, checkpoint: Path, outcome: dict[str, Any]) -> None:
        shutil.copy(checkpoint, self.final_checkpoint)
        write_json(self.outcome_file, outcome)
        self.state_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class SeedJob:
    """Everything one training run needs, data included, so a worker process reads no files."""

    params: Params
    dataset: str
    family: str
    depth: int
    seed: int
    meta: Meta
    train_xy: tuple[np.ndarray, np.ndarray]
    val_xy: tuple[np.ndarray, np.ndarray]
    dataset_inputs: list[Any]
    out_dir: Path
    threads: int
    resume_dir: Path | None = None


@dataclass(frozen=True)
class TrainedSeed:
    depth: int
    seed: int
    run_id: str
    checkpoint: str
    param_count: int
    train_time_s: float
    steps: int
    diverged: bool
    accelerator: str


def worker_count(cfg: TrainParams, jobs: int) -> int:
    """`train.workers`, where 0 means one per CPU core; never more than there are jobs."""
    return max(1, min(cfg.workers or os.cpu_count() or 1, jobs))


def seed_jobs(
    params: Params,
    dataset: str,
    family: str,
    depths: list[int],
    data_dir: Path,
    out_dir: Path,
    threads: int,
    resume_dir: Path | None = None,
) -> list[SeedJob]:
    """One job per (depth, seed), deepest first so the longest runs start first; the data is read, and
    described for MLflow, once for all of them."""
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
    return [
        SeedJob(params, dataset, family, depth, seed, meta, train_xy, val_xy, inputs, out_dir, threads, resume_dir)
        for depth in sorted(depths, reverse=True)
        for seed in params.train.seeds
    ]


def train_family(
    params: Params, dataset: str, family: str, data_dir: Path, out_dir: Path, resume_dir: Path | None = None
) -> list[TrainedSeed]:
    """Train every depth of `family` in the sweep on `dataset`, for every seed; write checkpoints and
    runs.json to `out_dir` all-or-nothing. With `resume_dir`, runs finished or interrupted by an earlier
    attempt are reused or continued (see ResumeState); it is emptied once the stage succeeds."""
    depths = params.depths(dataset, family)
    workers = worker_count(params.train, len(depths) * len(params.train.seeds))
    threads = params.train.threads or max(1, (os.cpu_count() or 1) // workers)
    with staged_dir(out_dir) as staging:
        jobs = seed_jobs(params, dataset, family, depths, data_dir, staging, threads, resume_dir)
        if params.tracking.enabled:
            # Orphaned runs closed, the experiment (and a fresh database's tables) created before writers start.
            in_child_process(tracking.prepare_experiment, dataset)
        if workers == 1:
            trained = [train_seed(job) for job in jobs]
        else:
            # Workers are forked after this: they inherit the jobs, data included, and receive only an index.
            # (Pickling megabytes through the pool's pipe also hung its shutdown when a worker was interrupted.)
            _FORKED_JOBS[:] = jobs
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                try:
                    trained = list(pool.map(_train_in_worker, range(len(jobs))))
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


_FORKED_JOBS: list[SeedJob] = []


def _train_in_worker(index: int) -> TrainedSeed:
    """A pool worker that was interrupted exits once its run is closed, instead of taking the next job."""
    try:
        return train_seed(_FORKED_JOBS[index])
    except KeyboardInterrupt:
        os._exit(130)


def in_child_process(function: Callable[[str], object], argument: str) -> None:
    """Run in a short-lived fork, so this process holds no database connection that workers would inherit."""
    child = multiprocessing.get_context("fork").Process(target=function, args=(argument,))
    child.start()
    child.join()
    if child.exitcode != 0:
        function(argument)  # again here, to raise the error with its message


def train_seed(job: SeedJob) -> TrainedSeed:
    """One tracked training run; same params, data, code and machine give the same weights.

    A loss that turns NaN or infinite ends the run early as a result: `diverged` is recorded, not raised.
    """
    torch.set_num_threads(job.threads)
    params, cfg, meta = job.params, job.params.train, job.meta
    L.seed_everything(job.seed, verbose=False)
    net = build_network(params.models, job.family, job.depth, meta.shape)
    name = tracking.run_name(job.family, job.depth, job.seed)
    resume = ResumeState(job.resume_dir, job) if job.resume_dir else None
    outcome = resume.finished() if resume else None
    if resume and outcome:
        (job.out_dir / outcome["checkpoint"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(resume.final_checkpoint, job.out_dir / outcome["checkpoint"])
        print(f"[{job.dataset}/{name}] finished before the stage was interrupted: reused", flush=True)
        return TrainedSeed(**outcome)
    hyperparams = {
        "family": job.family,
        "depth": job.depth,
        "seed": job.seed,
        "param_count": count_parameters(net),
        "train": cfg.model_dump(mode="json", exclude={"seeds"}),
        "model": getattr(params.models, job.family).model_dump(mode="json"),
        "data": params.data.describe(job.dataset),
    }
    tags = {"family": job.family, "depth": job.depth, "seed": job.seed, "dataset_digest": meta.digest, "kind": "training"}
    with tracking.tracked_run(
        dataset=job.dataset,
        name=name,
        params=hyperparams,
        tags=tags,
        system_metrics_interval_s=params.tracking.system_metrics_interval_s,
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
    ) as run:
        fabric = L.Fabric(accelerator=cfg.accelerator, devices=1)
        module = Classifier(net, cfg.lr, cfg.weight_decay)
        progress = Progress(f"{job.dataset}/{name}", cfg.max_steps)

        def on_epoch_end(step: int, metrics: dict[str, float]) -> None:
            run.log_metrics(metrics, step)
            progress(step, metrics)

        started = time.perf_counter()
        steps, diverged = fit(fabric, module, job.train_xy, job.val_xy, cfg, job.seed, on_epoch_end, resume)
        train_time_s = time.perf_counter() - started
        accelerator = type(fabric.accelerator).__name__.removesuffix("Accelerator").lower()
        checkpoint = Path(f"d{job.depth}") / f"seed-{job.seed}.ckpt"
        (job.out_dir / checkpoint).parent.mkdir(parents=True, exist_ok=True)
        fabric.save(job.out_dir / checkpoint, {"model": module, "step": steps})
        run.log_metrics({"train_time_s": train_time_s, "steps": steps, "diverged": float(diverged)}, step=steps)
        outcome_tags = {"accelerator": accelerator, "device": str(fabric.device), "diverged": str(diverged).lower()}
        if resume and resume.resumed_from_step:
            outcome_tags["resumed_from_step"] = str(resume.resumed_from_step)
        run.set_tags(outcome_tags)
        if diverged:
            print(f"[{job.dataset}/{name}] diverged at step {steps}: loss is not finite; recorded as a result", flush=True)
        else:
            run.log_model(net.cpu().eval(), job.train_xy[0][:2], params.tracking.model_format)
        run.log_inputs(job.dataset_inputs)
    trained = TrainedSeed(
        job.depth, job.seed, run.run_id, str(checkpoint), hyperparams["param_count"], train_time_s, steps, diverged, accelerator
    )
    if resume:
        resume.finish(job.out_dir / checkpoint, asdict(trained))
    return trained
