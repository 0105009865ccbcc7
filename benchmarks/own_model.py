"""Target 10, a user's module: what depthlab's training costs a module it did not write, against the forms it
would be compared with, side by side in one run, per seed-step.

    python -m benchmarks.own_model [--quick]        (or: python -m benchmarks.bench --only own_model)

a. stacked with torch.func: the mlp family's depth-2 network (40-100-100-10 by default) written as a user's
   nn.Module, ten seeds as one ensemble (`FunctionalEnsemble`), against depthlab's own stacked form of the same
   network (`ensemble.stack`), both through depthlab's ensemble path (`fit_members`, tracking off): target <= 1.3x;
b. seed by seed: the same MLP as a LightningModule with its own training_step and configure_optimizers (fused
   Adam), its seeds trained one after another through depthlab's path, against a plain PyTorch loop training
   one seed of the same LightningModule (its training_step, its optimizer, the same batches): target <= 1.1x.
   Beside it, for scale, the ratio against a plain loop of the bare network (no LightningModule around it).
Both with one torch thread, as a train stage's workers run. Each ratio is the median of ratios taken within
rounds whose arms alternate back to back, with its 95% interval.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import statistics
import tempfile
from pathlib import Path
from typing import Any

import lightning_fabric as L
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import interleaved, median_interval, plain_loop, timed_batches, with_train
from benchmarks.project import ROOT
from depthlab import tracking
from depthlab.data import prepare
from depthlab.families import build_network
from depthlab.params import Params, load_params
from depthlab.training import ensemble_job
from depthlab.training.ensemble_run import fit_members
from depthlab.training.user_module import LAYERS, PER_SEED, TORCH_FUNC, Stacking

TARGETS = {"torch.func": 1.3, "per_seed": 1.1}
DATASET, DEPTH = "mnist1d", 2
STACKED_SEEDS = tuple(range(10))
ONE_BY_ONE_SEEDS = (0, 1, 2)


class UserMLP(nn.Module):
    """The mlp family's depth-2 network as a user writes it: layers of torch, a forward returning logits."""

    def __init__(self, width: int, features: int = 40, classes: int = 10) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def lightning_mlp(width: int, lr: float) -> nn.Module:
    """The same network as a LightningModule with its own training step and optimizer (lightning imported here
    only: a built-in study never imports it)."""
    import lightning.pytorch as pl

    class LightningMLP(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = UserMLP(width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            x, y = batch
            return F.cross_entropy(self(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=lr, fused=True)

    return LightningMLP()


def depthlab_seconds(params: Params, data_dir: Path, seeds: tuple[int, ...], stacking: Stacking, steps: int) -> float:
    """Seconds of depthlab's training of `seeds` (the loop's clock, as a run's train time): the mlp family's
    networks for LAYERS, the user's module otherwise."""
    job, data = ensemble_job(params, DATASET, "mlp", DEPTH, data_dir, data_dir.parent)
    job = dataclasses.replace(job, members=tuple((seed, params.train.grid[0]) for seed in seeds), max_steps=steps)
    nets = []
    for seed in seeds:
        L.seed_everything(seed, verbose=False)
        if stacking.path == LAYERS.path:
            nets.append(build_network(params.models, "mlp", DEPTH, data.meta.shape))
        elif stacking.path == TORCH_FUNC:
            nets.append(UserMLP(params.models.mlp.width))
        else:
            nets.append(lightning_mlp(params.models.mlp.width, params.train.grid[0]))
    runs = [tracking.UntrackedRun() for _ in seeds]
    with contextlib.redirect_stdout(io.StringIO()):
        return fit_members(job, data, nets, runs, None, stacking).seconds


def plain_seconds(params: Params, data_dir: Path, steps: int) -> float:
    """A plain PyTorch loop of one seed: the same network, in-memory tensors, batch and fused Adam; seconds."""
    return plain_loop(params, "mlp", DEPTH, data_dir, steps, fused=True)


def plain_module_seconds(params: Params, data_dir: Path, steps: int) -> float:
    """A plain PyTorch loop of one seed of the user's LightningModule, as its author would write one without
    depthlab: its own training_step and optimizer on the same in-memory tensors and batches; seconds."""
    torch.manual_seed(0)
    module = lightning_mlp(params.models.mlp.width, params.train.grid[0])
    optimizer = module.configure_optimizers()

    def step(x: torch.Tensor, y: torch.Tensor, index: int) -> None:
        loss = module.training_step((x, y), index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return timed_batches(params, data_dir, steps, step)


def run(params: Params, data_dir: Path, steps: int, repeats: int) -> dict[str, Any]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    stacked = len(STACKED_SEEDS) * steps  # seed-steps of an arm
    one_by_one = len(ONE_BY_ONE_SEEDS) * steps
    rounds = interleaved(
        [
            lambda: depthlab_seconds(params, data_dir, STACKED_SEEDS, Stacking(TORCH_FUNC, "bench"), steps) / stacked,
            lambda: depthlab_seconds(params, data_dir, STACKED_SEEDS, LAYERS, steps) / stacked,
            lambda: (
                depthlab_seconds(params, data_dir, ONE_BY_ONE_SEEDS, Stacking(PER_SEED, "bench"), steps) / one_by_one
            ),
            lambda: plain_module_seconds(params, data_dir, steps) / steps,
            lambda: plain_seconds(params, data_dir, steps) / steps,
        ],
        repeats,
    )
    torch.set_num_threads(previous)
    rows = {}
    for path, (arm, baseline) in {TORCH_FUNC: (0, 1), PER_SEED: (2, 3)}.items():
        ratios = [r[arm] / r[baseline] for r in rounds]
        rows[path] = {
            "ms_per_seed_step": 1000 * statistics.median(r[arm] for r in rounds),
            "baseline_ms_per_step": 1000 * statistics.median(r[baseline] for r in rounds),
            "ratio": statistics.median(ratios),
            "ratio_interval": median_interval(ratios),
            "target": TARGETS[path],
        }
    bare = [r[2] / r[4] for r in rounds]
    rows[PER_SEED]["bare_network_ms_per_step"] = 1000 * statistics.median(r[4] for r in rounds)
    rows[PER_SEED]["bare_network_ratio"] = statistics.median(bare)
    return {"steps": steps, "rounds": repeats, **rows}


def report(results: dict[str, Any]) -> list[str]:
    baselines = {
        TORCH_FUNC: f"depthlab's own stacked mlp ({len(STACKED_SEEDS)} seeds)",
        PER_SEED: "a plain PyTorch loop of the same LightningModule (one seed, its training_step and fused Adam)",
    }
    arms = {
        TORCH_FUNC: f"a user's nn.Module, {len(STACKED_SEEDS)} seeds stacked with torch.func",
        PER_SEED: f"a user's LightningModule, {len(ONE_BY_ONE_SEEDS)} seeds one by one",
    }
    lines = [
        f"10. a user's module, the mlp family's depth-2 network, {results['steps']} steps, one torch thread, per"
        f" seed-step (median ratio of {results['rounds']} rounds, its 95% interval):"
    ]
    for path in (TORCH_FUNC, PER_SEED):
        row = results[path]
        low, high = row["ratio_interval"]
        verdict = "PASS" if row["ratio"] <= row["target"] else "MISS"
        lines.append(
            f"   {arms[path]}: {row['ms_per_seed_step']:.3f} ms vs {baselines[path]} {row['baseline_ms_per_step']:.3f}"
            f" ms: {row['ratio']:.2f}x [{low:.2f}, {high:.2f}] (target <= {row['target']}x) {verdict}"
        )
    per_seed = results[PER_SEED]
    lines.append(
        f"   (the seed-by-seed path against a plain loop of the bare network, no LightningModule around it:"
        f" {per_seed['bare_network_ms_per_step']:.3f} ms, {per_seed['bare_network_ratio']:.2f}x)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and one round")
    args = parser.parse_args()
    params = with_train(load_params(ROOT / "params.yaml"), lr=[0.01])
    data_dir = Path(tempfile.mkdtemp(prefix="depthlab-bench-")) / "prepared"
    with contextlib.redirect_stdout(io.StringIO()):
        prepare(params.data, DATASET, data_dir)
    steps, repeats = (200, 1) if args.quick else (1000, 7)
    print("\n".join(report(run(params, data_dir, steps, repeats))))


if __name__ == "__main__":
    main()
