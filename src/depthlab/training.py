"""Train one (family, depth) over every configured seed: one LightningModule trains any family's network."""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from depthlab import tracking
from depthlab.data import Meta, load_arrays, load_frame, load_meta
from depthlab.families import FAMILIES
from depthlab.outputs import staged_dir, write_json
from depthlab.params import Params

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


class Classifier(L.LightningModule):
    """Cross-entropy training of any network; logs loss and accuracy once per epoch."""

    def __init__(self, net: nn.Module, lr: float, weight_decay: float):
        super().__init__()
        self.net = net
        self.lr = lr
        self.weight_decay = weight_decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=-1) == y).float().mean()
        self.log_dict({f"{stage}_loss": loss, f"{stage}_acc": accuracy}, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class IndexedTensors(Dataset):
    """In-memory tensors indexed by a whole batch of indices at once: no per-sample collation."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int) -> DataLoader:
    data = IndexedTensors(x, y)
    order = RandomSampler(data, generator=torch.Generator().manual_seed(seed)) if shuffle else SequentialSampler(data)
    return DataLoader(data, sampler=BatchSampler(order, batch_size, drop_last=False), batch_size=None)


class ProgressLine(Callback):
    """A line every ~10% of training: readable in a terminal, in `dvc repro` output and in a scheduler's log."""

    def __init__(self, label: str, max_steps: int):
        self.label = label
        self.max_steps = max_steps
        self.every = max(1, max_steps // 10)
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        step = trainer.global_step
        if step % self.every and step != self.max_steps:
            return
        shown = "  ".join(
            f"{key} {trainer.callback_metrics[key].item():.3f}"
            for key in ("train_loss", "val_acc")
            if key in trainer.callback_metrics
        )
        print(f"[{self.label}] step {step}/{self.max_steps}  {shown}  {time.perf_counter() - self.started:.1f}s", flush=True)


@dataclass(frozen=True)
class TrainedSeed:
    seed: int
    run_id: str
    checkpoint: str
    param_count: int
    train_time_s: float
    accelerator: str


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def build_network(params: Params, family: str, depth: int, meta: Meta) -> nn.Module:
    spec = FAMILIES[family]
    return spec.build(getattr(params.models, family), depth, meta.shape)


def train_point(params: Params, family: str, depth: int, data_dir: Path, out_dir: Path) -> list[TrainedSeed]:
    """Train (family, depth) for every seed; write checkpoints and runs.json to `out_dir` all-or-nothing."""
    meta = load_meta(data_dir)
    train_xy = load_arrays(data_dir, "train", meta)
    val_xy = load_arrays(data_dir, "val", meta)
    frames = {split: load_frame(data_dir, split) for split in ("train", "val")}  # for MLflow's log_input
    with staged_dir(out_dir) as staging:
        trained = [
            train_seed(params, family, depth, seed, meta, train_xy, val_xy, frames, data_dir, staging)
            for seed in params.train.seeds
        ]
        write_json(staging / "runs.json", {"family": family, "depth": depth, "seeds": [asdict(t) for t in trained]})
    return trained


def train_seed(
    params: Params,
    family: str,
    depth: int,
    seed: int,
    meta: Meta,
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    frames: dict[str, pd.DataFrame],
    data_dir: Path,
    out_dir: Path,
) -> TrainedSeed:
    """One tracked training run; same params, data, code and machine give the same weights."""
    cfg = params.train
    L.seed_everything(seed, workers=False, verbose=False)
    net = build_network(params, family, depth, meta)
    name = tracking.run_name(family, depth, seed)
    hyperparams = {
        "family": family,
        "depth": depth,
        "seed": seed,
        "param_count": count_parameters(net),
        "train": cfg.model_dump(mode="json", exclude={"seeds"}),
        "model": getattr(params.models, family).model_dump(mode="json"),
        "data": params.data.model_dump(mode="json"),
    }
    tags = {"family": family, "depth": depth, "seed": seed, "dataset_digest": meta.digest, "kind": "training"}
    with tracking.tracked_run(
        dataset=meta.name,
        name=name,
        params=hyperparams,
        tags=tags,
        system_metrics_interval_s=params.tracking.system_metrics_interval_s,
        flush_interval_s=params.tracking.flush_interval_s,
    ) as run:
        trainer = L.Trainer(
            max_steps=cfg.max_steps,
            max_epochs=-1,
            accelerator=cfg.accelerator,
            devices=1,
            logger=run.logger(),
            callbacks=[ProgressLine(name, cfg.max_steps)],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=1,  # only per-epoch values are logged; this silences a warning about step logging
            deterministic=True,
        )
        module = Classifier(net, cfg.lr, cfg.weight_decay)
        started = time.perf_counter()
        trainer.fit(
            module,
            train_dataloaders=batches(*train_xy, cfg.batch_size, shuffle=cfg.shuffle, seed=seed),
            val_dataloaders=batches(*val_xy, max(cfg.batch_size, 1000), shuffle=False, seed=seed),
        )
        train_time_s = time.perf_counter() - started
        accelerator = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
        checkpoint = out_dir / f"seed-{seed}.ckpt"
        trainer.save_checkpoint(checkpoint)
        run.log_metrics({"train_time_s": train_time_s, "steps": trainer.global_step}, step=trainer.global_step)
        run.set_tags({"accelerator": accelerator, "device": str(module.device)})
        net = net.cpu().eval()
        run.log_model(net, train_xy[0][:2])
        for split, context in (("train", "training"), ("val", "validation")):
            run.log_dataset(
                frames[split], name=f"{meta.name}-{split}", source=data_dir / f"{split}.parquet", context=context
            )
    return TrainedSeed(seed, run.run_id, checkpoint.name, hyperparams["param_count"], train_time_s, accelerator)
