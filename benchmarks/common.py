"""What the benchmarks share: the dataset they train on, params with a section changed, a plain PyTorch loop and
a depthlab run to set against each other, and how measurements are alternated and summarised."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import torch
import torch.nn.functional as F

from benchmarks.project import DATASET
from depthlab import tracking
from depthlab.data import load_arrays, load_meta
from depthlab.families import build_network
from depthlab.params import Params
from depthlab.training import EnsembleJob, StudyData, ensemble_job, in_child_process, train_ensemble

# The families timed against a plain loop: pretrained and rbm are left out, their runs include pre-training, which
# a loop of labelled steps has not, and their labelled steps are mlp's (Linear layers and activations).
TIMED_FAMILIES = ("mlp", "resmlp", "cnn", "gru")


def quiet(function: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return function()


def with_train(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"train": params.train.model_copy(update=changes)})


def with_runtime(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"runtime": params.runtime.model_copy(update=changes)})


def with_tracking(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"tracking": params.tracking.model_copy(update=changes)})


Step = Callable[[torch.Tensor, torch.Tensor, int], None]  # a plain loop's step on a batch (x, y) and its index


def plain_loop(params: Params, family: str, depth: int, data_dir: Path, steps: int, fused: bool = False) -> float:
    """The hand-written baseline: same network, same in-memory tensors, same steps; seconds. By default
    with torch's default Adam, as such a loop is usually written; `fused` uses depthlab's fused Adam."""
    torch.manual_seed(0)
    net = build_network(params.models, family, depth, load_meta(data_dir).shape)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.train.grid[0], fused=fused)

    def step(x: torch.Tensor, y: torch.Tensor, index: int) -> None:
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return timed_batches(params, data_dir, steps, step)


def timed_batches(params: Params, data_dir: Path, steps: int, step: Step) -> float:
    """Seconds of `steps` calls of `step(x, y, index)` on shuffled batches of the prepared training split, held
    in memory as tensors: a plain loop's time, whatever its step does."""
    meta = load_meta(data_dir)
    x, y = (torch.from_numpy(a) for a in load_arrays(data_dir, "train", meta))
    batch = params.train.batch_size
    started = time.perf_counter()
    index = 0
    while index < steps:
        order = torch.randperm(len(y))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            step(x[rows], y[rows], index)
            index += 1
            if index == steps:
                break
    return time.perf_counter() - started


def one_run(params: Params, family: str, depth: int, data_dir: Path, threads: int) -> tuple[float, float]:
    """A real training run of the configured seeds (one ensemble), as the train stage does it:
    (whole-run seconds, training-loop seconds per seed).

    A stage reads its data and describes it for MLflow once for all its runs (60 with the defaults), so
    that is done once per process here too, not counted in any run.
    """
    out = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    try:
        job, data = stage_job(params, family, depth, data_dir, threads)
        job = dataclasses.replace(job, out_dir=out)
        started = time.perf_counter()
        trained = quiet(lambda: train_ensemble(job, data))
        return time.perf_counter() - started, trained[0].train_time_s
    finally:
        shutil.rmtree(out, ignore_errors=True)


@functools.cache
def _stage_job(
    params_json: str, family: str, depth: int, data_dir: Path, threads: int
) -> tuple[EnsembleJob, StudyData]:
    params = Params.model_validate_json(params_json)
    job, data = ensemble_job(params, DATASET, family, depth, data_dir, data_dir.parent)
    return dataclasses.replace(job, threads=threads), data


def stage_job(params: Params, family: str, depth: int, data_dir: Path, threads: int) -> tuple[EnsembleJob, StudyData]:
    """The job a train stage would make for one (family, depth), and its data, made once per process and params."""
    return _stage_job(params.model_dump_json(), family, depth, data_dir, threads)


def median_of(function: Callable[[], float], repeats: int) -> float:
    return statistics.median(function() for _ in range(repeats))


def interleaved(measures: list[Callable[[], float]], repeats: int) -> list[list[float]]:
    """`repeats` rounds of every measurement back to back, the order rotated from round to round.

    The machine's speed drifts by up to 30% within a minute here (other tenants), so ratios are taken
    within a round and summarised by their median, never as a ratio of two medians taken minutes apart.
    """
    rounds = []
    for repeat in range(repeats):
        shift = repeat % len(measures)
        results = [0.0] * len(measures)
        for index in [*range(shift, len(measures)), *range(shift)]:
            results[index] = measures[index]()
        rounds.append(results)
    return rounds


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median: the order statistics that a Binomial(n, 1/2) count of
    values below it falls between with at least `confidence`; the full range when there are too few values."""
    from scipy import stats

    ordered = sorted(values)
    n = len(ordered)
    # The median lies below ordered[k] only if at most k values do: probability binom.cdf(k), each side.
    ks = [k for k in range(n // 2) if stats.binom.cdf(k, n, 0.5) <= (1 - confidence) / 2]
    k = ks[-1] if ks else 0
    return ordered[k], ordered[-1 - k]


@contextlib.contextmanager
def separate_store() -> Iterator[None]:
    """A fresh SQLite store, its tables made in a child. Worker processes forked while it is in use inherit
    no connection to it from this process (SQLAlchemy's pooled connections must not cross a fork), as long
    as this process does not connect to it before forking them."""
    previous = os.environ["MLFLOW_TRACKING_URI"]
    folder = Path(tempfile.mkdtemp(prefix="depthlab-bench-store-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        in_child_process(tracking.prepare_experiment, DATASET)
        yield
    finally:
        os.environ["MLFLOW_TRACKING_URI"] = previous
        shutil.rmtree(folder, ignore_errors=True)


class PeakMemory:
    """The process's peak resident memory while the block runs, sampled on a thread every 5 ms: all of it
    (`mb`), and its private part (`private_mb`), which leaves out pages of mapped files: those are the page
    cache's, shared and given back under pressure, as a memory-mapped dataset's are."""

    def __enter__(self) -> PeakMemory:
        self.mb, self.private_mb = rss_mb(), private_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.mb, self.private_mb = max(self.mb, rss_mb()), max(self.private_mb, private_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.mb, self.private_mb = max(self.mb, rss_mb()), max(self.private_mb, private_mb())


def private_mb() -> float:
    """Resident memory less that of mapped files (psutil's `shared` on Linux: file pages and shared memory)."""
    info = psutil.Process().memory_info()
    return (info.rss - getattr(info, "shared", 0)) / 2**20


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
