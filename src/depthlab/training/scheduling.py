"""One scheduling path for a train stage's ensembles, whichever executor trains them.

The plan's first ensembles (every configuration's lr grid, or its final ensemble where there is no grid to
choose from) are queued deepest and longest first, so that the last to start is a short one. A grid's
outcome chooses its configuration's lr and makes its final ensemble, which goes ahead of the queued ones:
it starts as soon as an executor can take it, not after every grid, and no worker waits for a phase to end.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from depthlab import hardware
from depthlab.params import Params
from depthlab.records import FINAL, GRID, TrainedSeed
from depthlab.training import cluster
from depthlab.training.executor import Executor, Inline, worker_count
from depthlab.training.jobs import EnsembleJob, StudyData
from depthlab.training.plan import Configuration, Plan, choose_lr
from depthlab.training.pool import ProcessPool


@dataclass(frozen=True)
class Trained:
    """What a stage's ensembles gave: every run labelled with its dataset, the lr each configuration chose,
    and the ensembles that ran (or were found finished in the cache)."""

    runs: list[tuple[str, TrainedSeed]]
    chosen: dict[Configuration, float]
    jobs: list[EnsembleJob]


def executor_for(params: Params, data: Mapping[str, StudyData], jobs: int) -> Executor:
    """Where the jobs run: a Ray cluster when the environment asks for one (`cluster.wanted`), otherwise
    worker processes forked on this machine where there are several jobs and `runtime.workers` allows (on
    GPUs: WORKERS_PER_GPU per GPU, the jobs spread over them), or this process. The choice is not in
    params.yaml, so it never reruns a stage. GPUs are counted through NVML: the parent must not create a CUDA
    context before it forks."""
    if cluster.wanted():
        return cluster.RayExecutor(params, data)
    gpus = int(hardware.fingerprint()["gpu_count"]) if params.train.accelerator != "cpu" else 0
    workers = worker_count(params.runtime, jobs, gpus)
    threads = params.runtime.threads or max(1, (os.cpu_count() or 1) // workers)
    return Inline(data, threads) if workers == 1 else ProcessPool(data, workers, threads, gpus)


def train_configurations(plan: Plan, executor: Executor) -> Trained:
    """Every configuration of the plan: its lr grid, then its final ensemble at the lr the grid chose."""
    queued = deque(sorted(plan.first_jobs(), key=lambda j: (j.depth, len(j.members) * j.max_steps), reverse=True))
    chosen = {job.configuration: job.lrs[0] for job in queued if job.phase == FINAL}  # no grid: its one lr
    runs: list[tuple[str, TrainedSeed]] = []
    ran: list[EnsembleJob] = []
    running: dict[Future[Any], EnsembleJob] = {}
    with executor:
        try:
            while queued or running:
                while queued and len(running) < executor.capacity:
                    job = queued.popleft()
                    running[executor.submit(job)] = job
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    seeds = executor.outcome(job, future)
                    ran.append(job)
                    runs += [(job.dataset, seed) for seed in seeds]
                    if job.phase == GRID:
                        lr = chosen[job.configuration] = choose_lr(plan.params, seeds)
                        queued.appendleft(plan.final_job(job.configuration, lr))
        except BaseException:  # Ctrl-C, SIGTERM or a failed run: stop the other jobs' runs too
            executor.cancel()
            raise
    return Trained(runs, chosen, ran)
