"""Where a train stage's ensembles train: the interface the scheduler drives (`Executor`), and its simplest
implementation, this very process (`Inline`).

The others: worker processes forked on this machine (`pool.ProcessPool`) and tasks on a Ray cluster
(`cluster.RayExecutor`). Each is given the stage's data once, when it is made, and then jobs, which are
small; it sets the torch threads a job trains with, since it knows how many run beside each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Protocol

from depthlab.params import RuntimeParams
from depthlab.records import TrainedSeed
from depthlab.training.ensemble_run import train_ensemble
from depthlab.training.jobs import EnsembleJob, StudyData


class Executor(Protocol):
    """Trains ensembles: the scheduler submits jobs and collects each one's outcome once its future is done."""

    # How many unfinished jobs it takes at once. A pool or a cluster queues any number itself; the scheduler
    # keeps the others, a grid's final job ahead of those not started.
    capacity: int

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def submit(self, job: EnsembleJob) -> Future[Any]:
        """Start training `job` (or queue it); its future is done when the job is."""

    def outcome(self, job: EnsembleJob, future: Future[Any]) -> list[TrainedSeed]:
        """The members of `job`, whose future is done, once this process has recorded what it must (its
        outputs, runs and cache): raises what training raised."""

    def cancel(self) -> None:
        """Stop every job still running or queued: the stage was interrupted, or a job failed."""


class Inline:
    """This process, one job at a time: a stage with one worker (one CPU core, `runtime.workers: 1`, or a
    single ensemble to train). A job trains when it is submitted, so an interrupt or an error is raised
    there, as from any function."""

    capacity = 1

    def __init__(self, data: Mapping[str, StudyData], threads: int):
        self.data = data
        self.threads = threads

    def __enter__(self) -> Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, job: EnsembleJob) -> Future[list[TrainedSeed]]:
        done: Future[list[TrainedSeed]] = Future()
        done.set_result(train_ensemble(replace(job, threads=self.threads), self.data[job.dataset]))
        return done

    def outcome(self, job: EnsembleJob, future: Future[list[TrainedSeed]]) -> list[TrainedSeed]:
        return future.result()

    def cancel(self) -> None:
        pass  # nothing runs once submit has returned


# Worker processes per GPU where `runtime.workers` is 0: two keep the GPU busy while either process launches its
# kernels; more CUDA contexts on one GPU only contend (measured on an H200: docs/performance.md, "On a GPU").
WORKERS_PER_GPU = 2


def worker_count(cfg: RuntimeParams, jobs: int, gpus: int = 0) -> int:
    """`runtime.workers`, where 0 means one per CPU core, or WORKERS_PER_GPU per GPU where the stage trains
    on `gpus` GPUs (never more than the cores); never more than there are jobs."""
    cores = os.cpu_count() or 1
    default = min(cores, WORKERS_PER_GPU * gpus) if gpus else cores
    return max(1, min(cfg.workers or default, jobs))
