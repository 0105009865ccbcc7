"""Where an ensemble's training is (`FitState`), and that state saved to a file now and then, so that an
interrupted train stage continues from it rather than starting over.

The file lives in the stage's cache folder, outside DVC's outputs (which DVC may delete before a stage runs),
and its name carries the ensemble's key (`EnsembleJob.state_name`): a change to anything that shapes the
runs never resumes an old state.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from depthlab.training.jobs import EnsembleJob


@dataclass
class Stopped:
    """A seed whose loss turned NaN or infinite: the step it stopped at and its weights then, frozen."""

    step: int
    state: dict[str, torch.Tensor]


@dataclass
class FitState:
    """Where an ensemble's training is: the step, each seed's shuffle stream, the seeds that stopped; and
    where its data is, resident on the device or streamed to it, and why (`residence.DeviceData`): not saved,
    since a resumed run places its data anew."""

    orders: list[torch.Generator]
    step: int = 0
    stopped: dict[int, Stopped] = field(default_factory=dict)
    last: dict[int, dict[str, float]] = field(default_factory=dict)  # each seed's latest value of each metric
    resumed_from_step: int = 0  # 0 unless training continued from a saved state
    residence: str = "resident"
    residence_note: str = ""

    def remember(self, metrics: dict[int, dict[str, float]]) -> None:
        """Keep each seed's latest metrics ({seed index: metrics}): its outcome reads them at the end."""
        for index, seed_metrics in metrics.items():
            self.last.setdefault(index, {}).update(seed_metrics)


class ResumeFile:
    """An ensemble's saved training state: restored when training starts, saved when `due` at the end of an
    epoch, discarded once the ensemble is finished."""

    def __init__(self, folder: Path, job: EnsembleJob, member: int | None = None):
        self.folder, self.job, self.member = folder, job, member
        stem = job.state_name.removesuffix(".state")
        self.path = folder / (job.state_name if member is None else f"{stem}-member{member}.state")
        self.interval_s = job.params.runtime.resume_interval_s
        self.saved_at = time.monotonic()
        folder.mkdir(parents=True, exist_ok=True)

    def for_member(self, index: int) -> ResumeFile:
        """The state of member `index` of an ensemble trained seed by seed, in a file of its own: saved when due
        and once it has finished, so that a resumed stage skips the members already trained."""
        return ResumeFile(self.folder, self.job, index)

    def due(self, finished: bool = False) -> bool:
        """Whether `runtime.resume_interval_s` has passed since the state was last saved, or a member trained
        seed by seed has `finished` (a whole ensemble's state is discarded once it has)."""
        return (finished and self.member is not None) or time.monotonic() - self.saved_at >= self.interval_s

    def load(self, module: nn.Module, optimizer: torch.optim.Optimizer, state: FitState) -> None:
        """Restore the saved state, if there is one, into the module, the optimizer and `state`."""
        if not self.path.exists():
            return
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for order, order_state in zip(state.orders, saved["orders"], strict=True):
            order.set_state(order_state)
        state.stopped = {int(index): Stopped(int(step), frozen) for index, (step, frozen) in saved["stopped"].items()}
        state.last = {int(index): metrics for index, metrics in saved["last"].items()}
        state.step = state.resumed_from_step = int(saved["step"])

    def save(self, module: nn.Module, optimizer: torch.optim.Optimizer, state: FitState) -> None:
        saved = {
            "model": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": state.step,
            "orders": [order.get_state() for order in state.orders],
            "stopped": {str(index): (stop.step, stop.state) for index, stop in state.stopped.items()},
            "last": {str(index): metrics for index, metrics in state.last.items()},
        }
        partial = self.path.with_suffix(".partial")
        torch.save(saved, partial)
        os.replace(partial, self.path)  # a kill while saving leaves the previous state whole
        self.saved_at = time.monotonic()

    def discard(self) -> None:
        """Delete the saved state, and that of every member trained seed by seed."""
        self.path.unlink(missing_ok=True)
        for member in self.folder.glob(f"{self.path.stem}-member*.state"):
            member.unlink()
