"""Ensembles trained in worker processes forked on this machine, and the other fork the stage makes.

A forked worker inherits the stage's data from the moment it is forked, so a job sends only itself through
the pool's pipe, a few kilobytes: pickling megabytes of data there also hung the pool's shutdown when a
worker was interrupted.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace

from depthlab.records import TrainedSeed
from depthlab.training.ensemble_run import train_ensemble
from depthlab.training.jobs import EnsembleJob, StudyData

_INHERITED: dict[str, StudyData] = {}  # the stage's data per dataset, as the workers find it once forked


class ProcessPool:
    """`workers` processes forked on this machine, each training one job at a time with `threads` torch
    threads (an Executor), on one of `gpus` GPUs in turn where there are any. They are forked when the first
    job is submitted, with the data already here."""

    capacity = sys.maxsize  # the pool's own queue holds what waits for a worker

    def __init__(self, data: Mapping[str, StudyData], workers: int, threads: int, gpus: int = 0):
        _INHERITED.clear()
        _INHERITED.update(data)
        self.threads = threads
        self.gpus = itertools.cycle(range(gpus)) if gpus else itertools.repeat(0)  # jobs spread over the GPUs
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()

    def submit(self, job: EnsembleJob) -> Future[list[TrainedSeed]]:
        return self.pool.submit(_train_in_worker, replace(job, threads=self.threads, device=next(self.gpus)))

    def outcome(self, job: EnsembleJob, future: Future[list[TrainedSeed]]) -> list[TrainedSeed]:
        return future.result()

    def cancel(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in multiprocessing.active_children():
            worker.terminate()


def _train_in_worker(job: EnsembleJob) -> list[TrainedSeed]:
    """A job, on the data the worker inherited. A pool worker that was interrupted exits once its runs are
    closed, instead of taking the next job."""
    try:
        return train_ensemble(job, _INHERITED[job.dataset])
    except KeyboardInterrupt:
        os._exit(130)


def in_child_process(function: Callable[[str], object], argument: str) -> None:
    """Run in a short-lived fork, so this process holds no database connection that workers would inherit."""
    child = multiprocessing.get_context("fork").Process(target=function, args=(argument,))
    child.start()
    child.join()
    if child.exitcode != 0:
        function(argument)  # again here, to raise the error with its message
