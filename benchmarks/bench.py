"""Benchmarks: ratios measured side by side in one run, on this machine, printed with its hardware.

    python -m benchmarks.bench            (or: make bench; --only SECTION,... for some of them)

1. step overhead: depthlab's training path at one seed (tracking and checkpointing on) vs a plain PyTorch loop
2. tracking overhead: a whole training run with MLflow tracking on vs off
3. parallel ensembles: one train stage with its depths in worker processes vs one at a time
4. no-op `dvc repro` time
5. scaling with data: MNIST-1D at 5k to 1M samples and an image folder of 5,000 and 50,000 images, the data
   resident and streamed: time per sample and peak memory
6. ensembles: time per seed-step of ten seeds trained as one ensemble vs a plain loop training one; peak memory
7. stage start-up: each stage kind on a negligible workload, this code vs the baseline commit's
8. whole study: `dvc repro` of the defaults, this code (ten seeds as ensembles) vs the baseline commit's
   (three seeds, each its own run)
9. Ray: the default study's mlp train stage on MNIST-1D on a local Ray cluster of two one-CPU nodes vs the
   local executor's two worker processes (on 2 cores this shows Ray's overhead, not a speed-up)
10. a user's module (benchmarks/own_model.py): stacked with torch.func vs depthlab's own stacked form, and seed by
   seed vs a plain PyTorch loop, per seed-step
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, get_args

import numpy as np
import psutil
import torch
import torch.nn.functional as F
import yaml

from benchmarks import own_model
from depthlab import hardware, tracking
from depthlab.data import load_arrays, load_meta, prepare
from depthlab.families import FAMILIES, build_network
from depthlab.params import Params, TrackingParams, load_params
from depthlab.training import EnsembleJob, StudyData, ensemble_job, in_child_process, train_ensemble, train_family
from tests.helpers.project import ROOT, copy_project
from tests.helpers.project import project_env as helpers_project_env

TARGETS = {
    "step": 1.2,
    "tracking": 1.05,
    "parallel": 1.7,
    "noop_s": 2.0,
    "scaling": 1.2,
    "ensemble_memory": 2.0,
    "startup": 0.5,
}
# Target 5's arms: runtime.device_data_mb for data kept whole in memory, and for data streamed from a mapped file.
SCALING_ARMS = {"resident": "auto", "streamed": 0}
# Target 5 trains a small set for several epochs: its one epoch (a tenth of a second for 5,000 samples) is too
# short to time on this shared machine, and what is compared is the cost of a sample, not of an epoch's start.
SCALING_MIN_STEPS = 2000
# Ensemble per seed-step against a plain loop's step: the GRU only has to match it (its batched form is
# written from the gate equations, against torch's fused kernel).
ENSEMBLE_TARGETS = {"mlp": 0.5, "resmlp": 0.5, "cnn": 0.5, "gru": 1.0}
ENSEMBLE_SEEDS = list(range(10))
DATASET = "mnist1d"
PARALLEL_DEPTHS = [1, 2, 3, 4]  # target 3's stage: four ensembles that two workers split about evenly
REFERENCE_RUN_STEPS = 6000  # the MNIST-1D protocol's run length: target 2 runs it
MODEL_FORMATS = get_args(TrackingParams.model_fields["model_format"].annotation)
# The last commit that trained each seed as its own run, with every stage importing torch: the "before" of
# targets 7 and 8. Its code is taken from git history (`git archive`), so a fresh clone can measure it.
BASELINE = "8d43205"
STAGE_KINDS = ("export-csv", "prepare", "validate", "train", "evaluate", "report")


def stage_name(kind: str, arm: str) -> str:
    """The stage of `kind` for mlp on the benchmark's dataset: one train/evaluate stage per family now, one per
    (family, dataset) at the baseline."""
    if kind in ("prepare", "validate"):
        return f"{kind}@{DATASET}"
    if kind in ("train", "evaluate"):
        return f"{kind}@mlp" if arm == "after" else f"{kind}-mlp@{DATASET}"
    return kind


def quiet(function: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return function()


def with_train(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"train": params.train.model_copy(update=changes)})


def with_runtime(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"runtime": params.runtime.model_copy(update=changes)})


def with_tracking(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"tracking": params.tracking.model_copy(update=changes)})


def sweep_of(family: str, depths: list[int]) -> dict[str, Any]:
    """A params.yaml `sweep` training only these depths of one family on MNIST-1D. Every family keeps its
    key: dvc.yaml's matrices read `sweep.<family>.datasets` for each of them."""
    sweep: dict[str, Any] = {name: {"datasets": [], "depths": []} for name in FAMILIES}
    sweep[family] = {"datasets": [DATASET], "depths": depths}
    return sweep


def plain_loop(params: Params, family: str, depth: int, data_dir: Path, steps: int, fused: bool = False) -> float:
    """The hand-written baseline: same network, same in-memory tensors, same steps; seconds. By default
    with torch's default Adam, as such a loop is usually written; `fused` uses depthlab's fused Adam."""
    meta = load_meta(data_dir)
    x, y = (torch.from_numpy(a) for a in load_arrays(data_dir, "train", meta))
    torch.manual_seed(0)
    net = build_network(params.models, family, depth, meta.shape)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.train.grid[0], fused=fused)
    batch = params.train.batch_size
    started = time.perf_counter()
    step = 0
    while step < steps:
        order = torch.randperm(len(y))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            loss = F.cross_entropy(net(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
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


def bench_steps(params: Params, data_dir: Path, steps: int, repeats: int) -> list[dict[str, Any]]:
    """Target 1, per family at depth 2: depthlab's training loop at one seed vs two plain loops, in rounds.

    The ratio that counts is against a plain loop with the same fused Adam as depthlab: it isolates what
    depthlab adds to a step. The plain loop with torch's default Adam, as a loop is usually written by
    hand, is shown beside it. Slow families (a GRU step costs 20x an MLP step) run fewer steps: about as
    long as `steps` MLP steps.
    """
    threads = torch.get_num_threads()
    rows = []
    budget_s = plain_loop(params, "mlp", 2, data_dir, steps)
    # pretrained and rbm: their runs include pre-training, which a loop of labelled steps has not; their
    # labelled steps are mlp's (Linear layers and activations).
    for family in ENSEMBLE_TARGETS:
        probe = 50
        per_step = plain_loop(params, family, 2, data_dir, probe) / probe
        family_steps = max(probe, min(steps, int(budget_s / per_step)))
        tracked = with_train(params, max_steps=family_steps, seeds=[0])
        rounds = interleaved(
            [
                lambda tracked=tracked, family=family: one_run(tracked, family, 2, data_dir, threads)[1],
                lambda tracked=tracked, family=family, steps=family_steps: plain_loop(
                    tracked, family, 2, data_dir, steps, fused=True
                ),
                lambda tracked=tracked, family=family, steps=family_steps: plain_loop(
                    tracked, family, 2, data_dir, steps
                ),
            ],
            repeats,
        )
        ms_per_step = [1000 * statistics.median(r[i] for r in rounds) / family_steps for i in range(3)]
        rows.append(
            {
                "family": family,
                "steps": family_steps,
                "depthlab_ms_per_step": ms_per_step[0],
                "plain_ms_per_step": ms_per_step[1],
                "plain_default_adam_ms_per_step": ms_per_step[2],
                "ratio": statistics.median(r[0] / r[1] for r in rounds),
                "ratio_to_default_adam": statistics.median(r[0] / r[2] for r in rounds),
            }
        )
    return rows


def bench_gpu(params: Params, data_dir: Path, steps: int) -> dict[str, Any] | None:
    """Where a GPU is present: the same training path on it (Fabric picks the device), and its throughput."""
    if not torch.cuda.is_available():
        return None
    on_gpu = with_train(params, max_steps=steps, accelerator="gpu", seeds=[0])
    _, seconds = one_run(on_gpu, "mlp", 2, data_dir, torch.get_num_threads())
    return {
        "device": torch.cuda.get_device_name(0),
        "ms_per_step": 1000 * seconds / steps,
        "samples_per_s": steps * params.train.batch_size / seconds,
    }


def bench_tracking(params: Params, data_dir: Path, steps: int, repeats: int) -> dict[str, Any]:
    """Target 2: whole-run wall time with MLflow tracking on vs off (same code path otherwise).

    A crossover design, because runs one after the other differed by more than the 5% being measured (the
    machine drifts by up to 30% within a minute). Two worker processes, each pinned to its own core with
    one torch thread (as a train stage's workers run), train at the same time: first A tracked and B not,
    then A not and B tracked. The round's ratio, sqrt(on_A * on_B / (off_A * off_B)), is free of drift
    common to both cores within each half and of a steady speed difference between the cores.

    A round's ratio varies by about 4% here, as much as the effect, so the configured
    `tracking.model_format`, which the target applies to, gets `repeats` rounds and a 95% interval of their
    median; the other format, for comparison, a third as many.

    Each worker first trains every arm briefly, untimed: a process's first tracked run imports and sets up
    MLflow's model logging, once per worker, within target 4's train stage fixed cost.
    """
    configured = with_train(params, max_steps=steps, seeds=[0])
    tracked = {fmt: with_tracking(configured, model_format=fmt) for fmt in MODEL_FORMATS}
    untracked = with_tracking(configured, enabled=False)
    warm_up = [with_train(arm, max_steps=100) for arm in [*tracked.values(), untracked]]
    cores = sorted(os.sched_getaffinity(0))
    rounds: dict[str, list[tuple[float, float, float]]] = {fmt: [] for fmt in MODEL_FORMATS}
    other_repeats = max(1, repeats // 3)

    def worker(index: int) -> ProcessPoolExecutor:
        core = {cores[index % len(cores)]}
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(1, mp_context=context, initializer=_warm_up, initargs=(core, warm_up, data_dir))

    def at_once(first_arm: Params, second_arm: Params) -> tuple[float, float]:
        runs = first.submit(_timed_run, first_arm, data_dir), second.submit(_timed_run, second_arm, data_dir)
        return runs[0].result(), runs[1].result()

    with separate_store(), worker(0) as first, worker(1) as second:
        wait([first.submit(int), second.submit(int)])  # both warmed up before either is timed
        for repeat in range(repeats):
            for fmt, arm in tracked.items():
                if fmt != params.tracking.model_format and repeat >= other_repeats:
                    continue
                on_first, off_second = at_once(arm, untracked)
                off_first, on_second = at_once(untracked, arm)
                ratio = math.sqrt(on_first * on_second / (off_first * off_second))
                rounds[fmt].append((ratio, (on_first + on_second) / 2, (off_first + off_second) / 2))
    by_format = {
        fmt: {
            "repeats": len(results),
            "ratio": statistics.median(ratio for ratio, _, _ in results),
            "ratio_interval": median_interval([ratio for ratio, _, _ in results]),
            "tracked_s": statistics.median(on for _, on, _ in results),
            "added_s": statistics.median(on - off for _, on, off in results),
        }
        for fmt, results in rounds.items()
    }
    return {
        "steps": steps,
        "repeats": repeats,
        "untracked_s": statistics.median(off for results in rounds.values() for _, _, off in results),
        "model_format": params.tracking.model_format,
        "by_model_format": by_format,
        **by_format[params.tracking.model_format],
    }


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


def _warm_up(core: set[int], arms: list[Params], data_dir: Path) -> None:
    os.sched_setaffinity(0, core)
    for arm in arms:
        _timed_run(arm, data_dir)


def _timed_run(arm: Params, data_dir: Path) -> float:
    return one_run(arm, "mlp", 2, data_dir, threads=1)[0]


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


def bench_parallel(params: Params, data_dir: Path, repeats: int) -> dict[str, Any]:
    """Target 3: one train stage (mlp depths 1-4, each an ensemble of the configured seeds, at the configured
    run length, like a default train stage) in worker processes vs strictly one ensemble at a time.

    One at a time is measured with all cores' threads and with one thread; the faster is the baseline.
    """
    sweep = {**params.model_dump(mode="json"), "sweep": sweep_of("mlp", PARALLEL_DEPTHS)}

    def stage_seconds(workers: int, threads: int = 0) -> Callable[[], float]:
        configured = with_runtime(Params.model_validate(sweep), workers=workers, threads=threads)

        def measure() -> float:
            out = Path(tempfile.mkdtemp(prefix="depthlab-bench-")) / "mlp"
            previous = torch.get_num_threads()
            try:
                with separate_store():  # one at a time trains in this process: it connects to its store
                    started = time.perf_counter()
                    quiet(lambda: train_family(configured, "mlp", {DATASET: data_dir}, out))
                    return time.perf_counter() - started
            finally:
                torch.set_num_threads(previous)
                shutil.rmtree(out.parent, ignore_errors=True)

        return measure

    rounds = interleaved([stage_seconds(1), stage_seconds(1, threads=1), stage_seconds(0)], repeats)
    return {
        "sequential_all_threads_s": statistics.median(r[0] for r in rounds),
        "sequential_one_thread_s": statistics.median(r[1] for r in rounds),
        "parallel_s": statistics.median(r[2] for r in rounds),
        "depths": PARALLEL_DEPTHS,
        "seeds": len(params.train.seeds),
        "workers": min(os.cpu_count() or 1, len(PARALLEL_DEPTHS)),
        "repeats": repeats,
        "steps": params.train.max_steps,
        "speedup": statistics.median(min(r[0], r[1]) / r[2] for r in rounds),
    }


def project_env(project: Path, source_root: Path = ROOT) -> dict[str, str]:
    """`dvc`'s environment for a throwaway project of `source_root`; a baseline commit's stages also find the
    packages that commit pinned differently (installed by baseline_tree)."""
    if source_root == ROOT:
        return helpers_project_env(project)
    return helpers_project_env(project, ROOT / ".cache" / "bench" / f"packages-{BASELINE}")


def tiny_project(source_root: Path = ROOT, **train: Any) -> Path:
    """A throwaway git repository with the pipeline of `source_root` studying mlp depths 0 and 1 on 1000
    MNIST-1D samples, not yet reproduced."""
    project = Path(tempfile.mkdtemp(prefix="depthlab-bench-project-"))
    copy_project(project, source_root)
    raw = yaml.safe_load((source_root / "params.yaml").read_text())
    raw["data"]["mnist1d"]["num_samples"] = 1000
    raw["data"]["datasets"] = [DATASET]
    raw["train"].update(max_steps=20, seeds=[0], **train)
    if isinstance(raw["train"]["lr"], list):  # one lr (a grid here, a number at the baseline commit)
        raw["train"]["lr"] = [0.01]
    raw["sweep"] = {family: sweep_of("mlp", [0, 1])[family] for family in raw["sweep"]}  # that commit's families
    raw["evaluate"]["latency_samples"] = 10
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


def dvc(project: Path, *arguments: str, source_root: Path = ROOT) -> list[tuple[float, str]]:
    """Run `dvc <arguments>` in `project`; each line of its output with the seconds since the start."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["dvc", *arguments],
        cwd=project,
        env=project_env(project, source_root),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=1,
    )
    assert process.stdout is not None
    lines = [(time.perf_counter() - started, line.rstrip()) for line in process.stdout]
    if process.wait() != 0:
        raise RuntimeError(
            f"dvc {' '.join(arguments)} failed in {project}:\n" + "\n".join(text for _, text in lines[-40:])
        )
    return lines


def bench_noop_repro(repeats: int) -> dict[str, Any]:
    """Target 4: a tiny copy of the project, reproduced once; then no-op repros."""
    project = tiny_project()
    try:
        dvc(project, "repro")
        noop = median_of(lambda: dvc(project, "repro")[-1][0], repeats)
        return {"noop_repro_s": noop}
    finally:
        shutil.rmtree(project, ignore_errors=True)


def baseline_tree() -> Path | None:
    """The baseline commit's files (`git archive`), or None where this checkout has no git history of it.

    The pinned packages it locked and this checkout does not (it used `lightning`, not `lightning-fabric`)
    are installed once into `.cache/bench/`, and its stages find them there (see project_env).
    """
    tree = Path(tempfile.mkdtemp(prefix=f"depthlab-bench-{BASELINE}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE], capture_output=True)
    if archive.returncode != 0:
        shutil.rmtree(tree, ignore_errors=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    missing = sorted(
        set((tree / "requirements.lock").read_text().split()) - set((ROOT / "requirements.lock").read_text().split())
    )
    packages = ROOT / ".cache" / "bench" / f"packages-{BASELINE}"
    if missing and not (packages / ".installed").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(packages), *missing],
            check=True,
        )
        (packages / ".installed").touch()
    return tree


def stage_seconds(lines: list[tuple[float, str]]) -> tuple[float, float]:
    """From `dvc repro` output of one stage: seconds from DVC starting the stage ("Running stage") to the
    stage's first line of its own, and to the end of the stage (DVC's next line after the command's)."""
    started = next(t for t, line in lines if line.startswith("Running stage"))
    command = next(i for i, (_, line) in enumerate(lines) if line.startswith("> "))
    own = [(t, line) for t, line in lines[command + 1 :] if line]
    ended = next((t for t, line in own if line.startswith(("Updating lock file", "Use `dvc push`"))), lines[-1][0])
    return own[0][0] - started, ended - started


def bench_stage_startup(repeats: int) -> dict[str, Any]:
    """Target 7: each stage kind run by `dvc repro --force --single-item` on a negligible workload (20 steps,
    1000 samples, one seed), here and at the baseline commit, alternating, `repeats` times.

    What counts is a stage's whole time there, from DVC starting it to its end: with nothing to do, that is
    its fixed cost. The time to its first line is shown too: this code's stages print one as their work
    starts, once they have imported what they use; the baseline's printed theirs only when done.
    """
    baseline = baseline_tree()
    if baseline is None:
        return {"baseline": None}
    projects = {"after": (tiny_project(), ROOT), "before": (tiny_project(baseline), baseline)}
    try:
        for project, source in projects.values():
            dvc(project, "repro", source_root=source)
        times: dict[str, dict[str, list[tuple[float, float]]]] = {arm: {k: [] for k in STAGE_KINDS} for arm in projects}
        for repeat in range(repeats):
            for arm in list(projects) if repeat % 2 == 0 else list(reversed(projects)):
                project, source = projects[arm]
                for kind in STAGE_KINDS:
                    lines = dvc(project, "repro", "--force", "--single-item", stage_name(kind, arm), source_root=source)
                    times[arm][kind].append(stage_seconds(lines))
        per_stage = {
            stage: {
                arm: {
                    "first_line_s": statistics.median(first for first, _ in times[arm][stage]),
                    "total_s": statistics.median(total for _, total in times[arm][stage]),
                }
                for arm in projects
            }
            for stage in STAGE_KINDS
        }
        counts = {arm: default_stage_counts(source, per_family=arm == "after") for arm, (_, source) in projects.items()}
        return {"baseline": BASELINE, "repeats": repeats, "stages": per_stage, "counts": counts}
    finally:
        for project, _ in projects.values():
            shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(baseline, ignore_errors=True)


def default_stage_counts(source_root: Path, per_family: bool) -> dict[str, int]:
    """How many stages of each kind `dvc repro` runs on the defaults of `source_root`'s params.yaml: a train and
    an evaluate stage per family, or (`per_family` false, the baseline) per trained (family, dataset)."""
    raw = yaml.safe_load((source_root / "params.yaml").read_text())
    datasets, sweep = raw["data"]["datasets"], raw["sweep"]
    trained = len(sweep) if per_family else sum(len(s["datasets"]) for s in sweep.values() if s["depths"])
    return {
        "export-csv": 1,
        "prepare": len(datasets),
        "validate": len(datasets),
        "train": trained,
        "evaluate": trained,
        "report": 1,
    }


def bench_study() -> dict[str, Any]:
    """Target 8: `dvc repro` of the defaults from nothing, at the baseline commit (its defaults: three seeds,
    each its own run) and here (ten seeds, one ensemble per depth), one after the other in one run."""
    baseline = baseline_tree()
    if baseline is None:
        return {"baseline": None}
    arms = {"before": baseline, "after": ROOT}
    results: dict[str, Any] = {"baseline": BASELINE}
    try:
        for arm, source in arms.items():
            project = Path(tempfile.mkdtemp(prefix="depthlab-bench-study-"))
            try:
                copy_project(project, source)
                shutil.copy(source / "params.yaml", project / "params.yaml")
                subprocess.run(["git", "init", "-q"], cwd=project, check=True)
                print(
                    f"    {arm}: dvc repro of {source if source != ROOT else 'this checkout'}'s defaults",
                    file=sys.stderr,
                    flush=True,
                )
                lines = dvc(project, "repro", source_root=source)
                seeds = yaml.safe_load((source / "params.yaml").read_text())["train"]["seeds"]
                runs = sum(
                    len(json.loads(f.read_text())["runs"]) for f in (project / "data" / "models").rglob("runs.json")
                )
                results[arm] = {
                    "repro_s": lines[-1][0],
                    "seeds": len(seeds),
                    "runs": runs,
                    "stages": sum(line.startswith("Running stage") for _, line in lines),
                }
            finally:
                shutil.rmtree(project, ignore_errors=True)
    finally:
        shutil.rmtree(baseline, ignore_errors=True)
    return results


def bench_ensemble(params: Params, data_dir: Path, budget_s: float, repeats: int) -> list[dict[str, Any]]:
    """Target 6, per family at depth 2: the time per seed-step of depthlab's path training ten seeds as one
    ensemble (tracking and checkpointing on) against a plain PyTorch loop training one seed, with the same
    batch, fused Adam and thread count, in rounds; and the peak memory of the ensemble's process against
    one seed's.

    Each family runs as many steps as its plain loop takes `budget_s` for. A round's ratio drifts by a few
    percent with the machine, so each target gets the median of `repeats` rounds and its 95% interval.
    """
    threads, previous = 1, torch.get_num_threads()  # as a train stage's workers run here: one torch thread each
    torch.set_num_threads(threads)
    rows = []
    for family in ENSEMBLE_TARGETS:  # pretrained and rbm stack as mlp does: Linear layers and activations
        probe = 30
        per_step = plain_loop(params, family, 2, data_dir, probe, fused=True) / probe
        steps = max(100, int(budget_s / per_step))
        ensemble = with_train(params, max_steps=steps, seeds=ENSEMBLE_SEEDS)
        rounds = interleaved(
            [
                lambda ensemble=ensemble, family=family, steps=steps: (
                    one_run(ensemble, family, 2, data_dir, threads)[1] / steps
                ),
                lambda ensemble=ensemble, family=family, steps=steps: (
                    plain_loop(ensemble, family, 2, data_dir, steps, fused=True) / steps
                ),
            ],
            repeats,
        )
        ratios = [r[0] / r[1] for r in rounds]
        memory = {seeds: peak_memory(family, seeds, data_dir) for seeds in (1, len(ENSEMBLE_SEEDS))}
        rows.append(
            {
                "family": family,
                "steps": steps,
                "ensemble_ms_per_seed_step": 1000 * statistics.median(r[0] for r in rounds),
                "plain_ms_per_step": 1000 * statistics.median(r[1] for r in rounds),
                "ratio": statistics.median(ratios),
                "ratio_interval": median_interval(ratios),
                "target": ENSEMBLE_TARGETS[family],
                "peak_mb": memory,
                "memory_ratio": memory[len(ENSEMBLE_SEEDS)]["peak_mb"] / memory[1]["peak_mb"],
            }
        )
    torch.set_num_threads(previous)
    return rows


def peak_memory(family: str, seeds: int, data_dir: Path) -> dict[str, float]:
    """Resident memory of a fresh process training `seeds` seeds of `family` at depth 2 as the train stage
    does, tracking off (MLflow's own memory does not depend on the seeds): before training, with imports
    and data loaded, and at its peak during training, sampled every 5 ms."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--peak-memory", family, str(seeds), str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_for_peak_memory(family: str, seeds: int, data_dir: Path) -> dict[str, float]:
    """Child of peak_memory."""
    params = with_tracking(
        with_train(load_params(ROOT / "params.yaml"), max_steps=200, seeds=list(range(seeds))), enabled=False
    )
    out = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    try:
        job, data = ensemble_job(params, DATASET, family, 2, data_dir, out)
        before = _rss_mb()
        with PeakMemory() as peak:
            quiet(lambda: train_ensemble(job, data))
        return {"before_training_mb": before, "peak_mb": peak.mb}
    finally:
        shutil.rmtree(out, ignore_errors=True)


class PeakMemory:
    """The process's peak resident memory while the block runs, sampled on a thread every 5 ms: all of it
    (`mb`), and its private part (`private_mb`), which leaves out pages of mapped files: those are the page
    cache's, shared and given back under pressure, as a memory-mapped dataset's are."""

    def __enter__(self) -> PeakMemory:
        self.mb, self.private_mb = _rss_mb(), _private_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.mb, self.private_mb = max(self.mb, _rss_mb()), max(self.private_mb, _private_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.mb, self.private_mb = max(self.mb, _rss_mb()), max(self.private_mb, _private_mb())


def bench_scaling(sizes: list[int], image_sizes: list[int], cache: Path, repeats: int) -> dict[str, Any]:
    """Target 5: the training loop over MNIST-1D of each size and over an image folder's images (`one_epoch`),
    with the data resident in memory and streamed from a memory-mapped .npy file (`runtime.device_data_mb: 0`),
    each in a fresh process for a clean peak-memory reading. Smaller sizes are the first rows of the largest.

    In `repeats` rounds of every measurement, the order rotated (`interleaved`): a size's figures are the
    medians of its rounds, and a ratio between sizes the median of the ratios within rounds."""
    sets = [
        ("mnist1d", mnist1d_arrays(max(sizes), cache), "sequence", sizes),
        ("images", image_folder_arrays(max(image_sizes), cache), "image", image_sizes),
    ]
    specs = [
        {"data": name, "folder": str(folder), "samples": count, "arm": arm, "kind": kind}
        for name, folder, kind, counts in sets
        for count in counts
        for arm in SCALING_ARMS
    ]
    rounds = interleaved([functools.partial(_epoch_in_child, spec) for spec in specs], repeats)
    rows = []
    for index, spec in enumerate(specs):
        measured = [results[index] for results in rounds]
        row = {key: spec[key] for key in ("data", "samples", "arm")}
        rows.append(row | {key: statistics.median(m[key] for m in measured) for key in measured[0]})
    ratios = []
    for name, _, _, counts in sets:
        for arm in SCALING_ARMS:
            smallest, largest = (
                specs.index(next(s for s in specs if (s["data"], s["samples"], s["arm"]) == (name, count, arm)))
                for count in (min(counts), max(counts))
            )
            per_round = [r[largest]["us_per_sample"] / r[smallest]["us_per_sample"] for r in rounds]
            ratios.append({"data": name, "arm": arm, "smallest": min(counts), "largest": max(counts)})
            ratios[-1]["ratio"] = statistics.median(per_round)
    return {"rows": rows, "ratios": ratios, "repeats": repeats}


def _epoch_in_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--one-epoch", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mnist1d_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    size, seed = args
    config = get_dataset_args()
    config.num_samples, config.seed, config.train_split = size, seed, 1.0
    data = make_dataset(config)
    return data["x"].astype(np.float32), data["y"].astype(np.int64)


def mnist1d_arrays(size: int, cache: Path, chunk: int = 25_000) -> Path:
    """A folder of x.npy and y.npy: MNIST-1D of `size` samples from the official generator, in chunks of
    `chunk` samples (seeds 42, 43, ...) on every core; kept under `cache`, named by those parameters. The
    generator is pure Python: 1M samples take about 260 s of CPU (measured), so they are made once."""
    folder = cache / f"mnist1d-{size}-chunk{chunk}-seed42"
    if not (folder / "y.npy").exists():
        started = time.perf_counter()
        jobs = [(min(chunk, size - start), 42 + i) for i, start in enumerate(range(0, size, chunk))]
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            parts = list(pool.map(_mnist1d_chunk, jobs))
        _save_arrays(folder, np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
        print(f"    generated {size:,} MNIST-1D samples in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return folder


def image_folder_arrays(count: int, cache: Path, size: int = 28) -> Path:
    """A folder of x.npy and y.npy: an image folder of `count` distinct size x size grayscale PNGs written by
    `benchmarks.data_memory`, prepared by the image_folder source, its splits together; kept under `cache`."""
    from benchmarks.data_memory import write_images
    from depthlab.presets import merged

    folder = cache / f"image-folder-{count}-{size}px"
    if not (folder / "y.npy").exists():
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_images(Path(tmp) / "images", count, size)
            raw = yaml.safe_load((ROOT / "params.yaml").read_text())
            datasets = [*raw["data"]["datasets"], "images"]
            entry = {"datasets": datasets, "image_folder": {"images": {"root": str(Path(tmp) / "images")}}}
            params = Params.model_validate(merged(raw, {"data": entry}))
            meta = quiet(lambda: prepare(params.data, "images", Path(tmp) / "prepared"))
            splits = [load_arrays(Path(tmp) / "prepared", split, meta) for split in ("train", "val", "test")]
        _save_arrays(folder, np.concatenate([x for x, _ in splits]), np.concatenate([y for _, y in splits]))
        print(f"    wrote and prepared {count:,} images in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return folder


def _save_arrays(folder: Path, x: np.ndarray, y: np.ndarray) -> None:
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.save(partial / "x.npy", x)
    np.save(partial / "y.npy", y)
    partial.rename(folder)


def one_epoch(spec: dict[str, Any]) -> dict[str, Any]:
    """Child of bench_scaling: the real training loop (mlp depth 2, one seed, one thread) on the first `rows`
    samples of a folder's arrays, a tenth held out for validation, for an epoch or SCALING_MIN_STEPS steps,
    whichever is more; the data read into memory (resident) or memory-mapped and streamed. Time and peak
    memory."""
    import lightning_fabric as L

    from depthlab.families import DataShape
    from depthlab.training import Classifier, fit
    from depthlab.training.loop import Schedule, TrainingData

    params = load_params(ROOT / "params.yaml")
    torch.set_num_threads(1)  # as a train stage's workers; and steadier on a shared machine
    folder, rows, arm = Path(spec["folder"]), spec["samples"], spec["arm"]
    before, before_private = _rss_mb(), _private_mb()
    mapped = np.load(folder / "x.npy", mmap_mode="c")[:rows]
    x = mapped if arm == "streamed" else np.array(mapped)
    y = np.load(folder / "y.npy")[:rows]
    held_out = rows // 10
    train_xy, val_xy = (x[held_out:], y[held_out:]), (x[:held_out], y[:held_out])
    data_mb = (x.nbytes + y.nbytes) / 2**20
    batch, rows_trained = params.train.batch_size, len(train_xy[1])
    epoch_steps = -(-rows_trained // batch)
    steps = max(epoch_steps, SCALING_MIN_STEPS)
    epochs, extra = divmod(steps, epoch_steps)
    samples = epochs * rows_trained + min(extra * batch, rows_trained)
    shape = DataShape(kind=spec["kind"], sample_shape=x.shape[1:], num_classes=int(y.max()) + 1)
    module = Classifier(build_network(params.models, "mlp", 2, shape), 1, params.train.grid[0], 0.0)
    cfg = params.train.model_copy(update={"max_steps": steps})
    fabric = L.Fabric(accelerator="cpu", devices=1)
    with PeakMemory() as peak:
        started = time.perf_counter()
        state = fit(
            fabric=fabric,
            module=module,
            data=TrainingData(train_xy, val_xy, (0,), device_data_mb=SCALING_ARMS[arm]),
            schedule=Schedule.of(cfg, cfg.max_steps),
        )
        seconds = time.perf_counter() - started
    assert state.residence == arm, state.residence_note
    return {
        "train_samples": rows_trained,
        "steps": steps,
        "seconds": seconds,
        "us_per_sample": 1e6 * seconds / samples,
        "data_mb": data_mb,
        "peak_rss_mb": peak.mb,
        # What training holds privately beyond the process and the data it was given (resident: in memory).
        "peak_private_beyond_mb": peak.private_mb - before_private - (data_mb if arm == "resident" else 0),
        "before_mb": before,
    }


def _private_mb() -> float:
    """Resident memory less that of mapped files (psutil's `shared` on Linux: file pages and shared memory)."""
    info = psutil.Process().memory_info()
    return (info.rss - getattr(info, "shared", 0)) / 2**20


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def format_results(results: dict[str, Any]) -> str:
    lines = [f"depthlab benchmark on: {hardware.summary()}", ""]
    lines.append("(ratios: medians of ratios taken within rounds, never ratios of medians taken minutes apart;")
    lines.append(" targets 1, 3 and 6 alternate their arms back to back, target 2 runs a crossover on two cores)")
    if "steps" in results:
        lines.append(
            "1. training step at batch 100, one seed: depthlab (tracking + checkpoint on) vs a plain PyTorch loop with"
        )
        lines.append("   the same fused Adam (the target), and vs a plain loop with torch's default Adam:")
        for row in results["steps"]:
            lines.append(
                f"   {row['family']:<8} {row['steps']:>5} steps: depthlab {row['depthlab_ms_per_step']:.3f}"
                f" ms/step, plain {row['plain_ms_per_step']:.3f},"
                f" ratio {row['ratio']:.2f}x (target <= {TARGETS['step']}x)"
                f" {_verdict(row['ratio'] <= TARGETS['step'])};"
                f" default-Adam loop {row['plain_default_adam_ms_per_step']:.3f} ms/step, ratio"
                f" {row['ratio_to_default_adam']:.2f}x"
            )
    if "gpu" in results:
        g = results["gpu"]
        lines.append(
            f"   GPU {g['device']}: {g['ms_per_step']:.3f} ms/step, {g['samples_per_s']:,.0f} samples/s (mlp depth 2)"
            if g
            else "   GPU: none present"
        )
    if "tracking" in results:
        t = results["tracking"]
        lines.append(
            f"2. whole run, {t['steps']} steps, tracking on and off at once, one run per core, 1 torch thread each:"
        )
        lines.append(
            f"   tracking off {t['untracked_s']:.2f}s; on, with the model logged as (median ratio of rounds, its"
            " 95% interval)"
        )
        for fmt, arm in t["by_model_format"].items():
            configured = fmt == t["model_format"]
            verdict = (
                f"(target <= {TARGETS['tracking']}x)  {_verdict(arm['ratio'] <= TARGETS['tracking'])}"
                if configured
                else "(the other format)"
            )
            low, high = arm["ratio_interval"]
            lines.append(
                f"   {fmt:<7} {arm['tracked_s']:.2f}s ({arm['added_s']:+.2f}s), ratio {arm['ratio']:.3f}x"
                f" [{low:.3f}, {high:.3f}] of {arm['repeats']} {verdict}"
            )
    if "parallel" in results:
        p = results["parallel"]
        lines.append(
            f"3. train stage, mlp depths {p['depths']} as ensembles of {p['seeds']} seeds x {p['steps']} steps"
            f" (median of {p['repeats']}):"
            f" one at a time {p['sequential_all_threads_s']:.2f}s (all threads) /"
            f" {p['sequential_one_thread_s']:.2f}s (1 thread),"
            f" {p['workers']} workers {p['parallel_s']:.2f}s, speedup {p['speedup']:.2f}x (target >="
            f" {TARGETS['parallel']}x)"
            f"  {_verdict(p['speedup'] >= TARGETS['parallel'])}"
        )
        # What a perfect split over the workers could reach: one thread each, against the faster one at a time.
        ceiling = min(p["sequential_all_threads_s"], p["sequential_one_thread_s"]) / (
            p["sequential_one_thread_s"] / p["workers"]
        )
        lines.append(f"   a perfect split over {p['workers']} one-thread workers would reach {ceiling:.2f}x here")
    if "noop" in results:
        n = results["noop"]
        lines.append(
            f"4. no-op dvc repro {n['noop_repro_s']:.2f}s (target < {TARGETS['noop_s']}s) "
            f" {_verdict(n['noop_repro_s'] < TARGETS['noop_s'])}"
        )
    if "scaling" in results:
        lines += _report_scaling(results["scaling"])
    if "ensemble" in results:
        lines += _report_ensemble(results["ensemble"])
    if "startup" in results:
        lines += _report_startup(results["startup"])
    if "study" in results:
        lines += _report_study(results["study"])
    if "ray" in results:
        lines += _report_ray(results["ray"])
    if "own_model" in results:
        lines += own_model.report_own_model(results["own_model"])
    return "\n".join(lines)


def _report_scaling(scaling: dict[str, Any]) -> list[str]:
    lines = [
        "5. training by data size, mlp depth 2, one seed, one torch thread, tracking off, for an epoch or",
        f"   {SCALING_MIN_STEPS} steps (whichever is more): the data resident in memory, and streamed from a",
        "   memory-mapped .npy (runtime.device_data_mb: 0); peak memory: resident set (RSS, mapped pages included)",
        "   and what training holds privately beyond the process and, resident, its data (medians of"
        f" {scaling['repeats']} rounds):",
    ]
    for row in scaling["rows"]:
        lines.append(
            f"   {row['data']:<8} {row['samples']:>9,} samples, {row['data_mb']:6.1f} MB, {row['arm']:<8}"
            f" {row['seconds']:6.2f}s {row['us_per_sample']:6.2f} us/sample, peak RSS {row['peak_rss_mb']:5.0f} MB,"
            f" private beyond {row['peak_private_beyond_mb']:5.1f} MB"
        )
    for r in scaling["ratios"]:
        lines.append(
            f"   {r['data']} {r['arm']}: cost per sample at {r['largest']:,} / at {r['smallest']:,} samples"
            f" {r['ratio']:.2f}x (flat: <= {TARGETS['scaling']}x)  {_verdict(r['ratio'] <= TARGETS['scaling'])}"
        )
    return lines


def _report_ensemble(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"6. {len(ENSEMBLE_SEEDS)} seeds as one ensemble (depthlab's path, tracking + checkpoints on) vs a plain"
        " loop training one"
        " seed, depth 2, one torch thread (as a stage's workers), per seed-step (median ratio of rounds, its 95%"
        " interval);",
        "   peak memory of a process training them (tracking off), and how much of it training added:",
    ]
    for row in rows:
        low, high = row["ratio_interval"]
        one, many = row["peak_mb"][1], row["peak_mb"][len(ENSEMBLE_SEEDS)]
        lines.append(
            f"   {row['family']:<8} {row['steps']:>5} steps: ensemble {row['ensemble_ms_per_seed_step']:.3f}"
            " ms/seed-step, plain"
            f" {row['plain_ms_per_step']:.3f} ms/step, ratio {row['ratio']:.2f}x [{low:.2f}, {high:.2f}] (target"
            f" <= {row['target']}x)"
            f" {_verdict(row['ratio'] <= row['target'])}; peak {many['peak_mb']:.0f} vs {one['peak_mb']:.0f} MB,"
            f" {row['memory_ratio']:.2f}x (target <= {TARGETS['ensemble_memory']}x)"
            f" {_verdict(row['memory_ratio'] <= TARGETS['ensemble_memory'])};"
            f" added by training {many['peak_mb'] - many['before_training_mb']:.0f} vs"
            f" {one['peak_mb'] - one['before_training_mb']:.0f} MB"
        )
    return lines


def _report_startup(startup: dict[str, Any]) -> list[str]:
    if startup["baseline"] is None:
        return [f"7. stage start-up: skipped, no git history of the baseline commit {BASELINE} here"]
    lines = [
        f"7. fixed cost per stage kind: from DVC starting the stage to its end, on a negligible workload (median of"
        f" {startup['repeats']}); before = commit {startup['baseline']}, after = this code; first line = to the"
        " stage's first output:"
    ]
    counts, before_sum, after_sum = startup["counts"], 0.0, 0.0
    for stage, arms in startup["stages"].items():
        before, after = arms["before"]["total_s"], arms["after"]["total_s"]
        before_sum += counts["before"][stage] * before
        after_sum += counts["after"][stage] * after
        lines.append(
            f"   {stage:<22} before {before:5.2f}s, after {after:5.2f}s: {after / before:.2f}x (target <="
            f" {TARGETS['startup']}x)"
            f" {_verdict(after / before <= TARGETS['startup'])}; after's first line at"
            f" {arms['after']['first_line_s']:.2f}s"
        )
    lines.append(
        f"   the default pipelines' stages together ({sum(counts['before'].values())} before, "
        f"{sum(counts['after'].values())} after): before {before_sum:.0f}s, after {after_sum:.0f}s,"
        f" {after_sum / before_sum:.2f}x (target <= {TARGETS['startup']}x) "
        f" {_verdict(after_sum / before_sum <= TARGETS['startup'])}"
    )
    return lines


def _report_study(study: dict[str, Any]) -> list[str]:
    if study["baseline"] is None:
        return [f"8. whole study: skipped, no git history of the baseline commit {BASELINE} here"]
    before, after = study["before"], study["after"]
    return [
        "8. dvc repro of the defaults from nothing, one after the other:",
        f"   before (commit {study['baseline']}): {before['seeds']} seeds, each its own run: {before['runs']} runs,"
        f" {before['stages']} stages, {before['repro_s']:.0f}s",
        f"   after (this code): {after['seeds']} seeds as one ensemble per depth: {after['runs']} runs,"
        f" {after['stages']} stages,"
        f" {after['repro_s']:.0f}s ({after['repro_s'] / before['repro_s']:.2f}x the time for"
        f" {after['runs'] / before['runs']:.1f}x the runs)",
    ]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


SECTIONS = (
    "steps",
    "gpu",
    "tracking",
    "parallel",
    "noop",
    "scaling",
    "ensemble",
    "startup",
    "study",
    "ray",
    "own_model",
)


def bench_ray(rounds: int, quick: bool) -> dict[str, Any]:
    """Target 9: `dvc repro --force` of one train stage, the default study's mlp on MNIST-1D (its lr grid, its
    ten seeds), with `RAY_ADDRESS` naming a local cluster and without, in alternating rounds. Finished
    ensembles are cleared before each run, so both arms train everything."""
    from ray.cluster_utils import Cluster

    project = Path(tempfile.mkdtemp(prefix="depthlab-bench-ray-"))
    copy_project(project)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    mlp_depths = raw["sweep"]["mlp"]["depths"]
    raw["data"]["datasets"] = [DATASET]
    raw["sweep"] = {family: {"datasets": [], "depths": []} for family in raw["sweep"]}
    raw["sweep"]["mlp"] = {"datasets": [DATASET], "depths": mlp_depths}
    if quick:
        raw["train"]["max_steps"] = raw["train"]["selection"]["max_steps"] = 100
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        dvc(project, "repro", "validate@mnist1d")

        def train_stage(address: str | None) -> float:
            shutil.rmtree(project / ".cache" / "ensembles", ignore_errors=True)
            env = {**project_env(project), **({"RAY_ADDRESS": address} if address else {})}
            started = time.perf_counter()
            subprocess.run(
                ["dvc", "repro", "--force", "--single-item", "train@mlp"],
                cwd=project, env=env, check=True, capture_output=True,
            )  # fmt: skip
            return time.perf_counter() - started

        measured = interleaved([lambda: train_stage(None), lambda: train_stage(cluster.address)], rounds)
    finally:
        cluster.shutdown()
        shutil.rmtree(project, ignore_errors=True)
    return {
        "rounds": rounds,
        "steps": raw["train"]["max_steps"],
        "configurations": len(mlp_depths),
        "local_s": statistics.median(r[0] for r in measured),
        "ray_s": statistics.median(r[1] for r in measured),
        "ratio": statistics.median(r[1] / r[0] for r in measured),
    }


def _report_ray(ray: dict[str, Any]) -> list[str]:
    return [
        f"9. the default study's mlp train stage on MNIST-1D ({ray['configurations']} depths, lr grid, "
        f"{ray['steps']} steps), `dvc repro --force`, {ray['rounds']} alternating rounds:",
        f"   local executor (2 worker processes) {ray['local_s']:.1f}s; Ray, 2 one-CPU nodes on this machine"
        f" {ray['ray_s']:.1f}s: {ray['ratio']:.2f}x (median of per-round ratios; 2 cores cannot show a speed-up:"
        " this is Ray's overhead)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="fewer steps and repeats, smaller scaling sizes, no whole study"
    )
    parser.add_argument("--only", help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--one-epoch", type=json.loads, help=argparse.SUPPRESS)
    parser.add_argument("--peak-memory", nargs=3, metavar=("FAMILY", "SEEDS", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_epoch:
        print(json.dumps(one_epoch(args.one_epoch)))
        return
    if args.peak_memory:
        family, seeds, data = args.peak_memory
        print(json.dumps(train_for_peak_memory(family, int(seeds), Path(data))))
        return
    chosen = args.only.split(",") if args.only else [s for s in SECTIONS if not (args.quick and s == "study")]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    work = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    # One lr, the reference's: the benchmarks time ensembles, stages and tracking, not the choice of an lr.
    params = with_train(load_params(ROOT / "params.yaml"), lr=[0.01])
    data_dir = work / "prepared"
    quiet(lambda: prepare(params.data, DATASET, data_dir))
    steps, repeats, tracking_repeats, parallel_repeats = (300, 1, 1, 1) if args.quick else (2000, 7, 12, 3)
    long_steps = steps if args.quick else REFERENCE_RUN_STEPS
    sizes = [5_000, 20_000] if args.quick else [5_000, 50_000, 500_000, 1_000_000]
    image_sizes = [1_000, 2_000] if args.quick else [5_000, 50_000]
    ensemble_budget_s, ensemble_repeats = (0.3, 1) if args.quick else (1.5, 7)
    cache = ROOT / ".cache" / "bench"
    work_of = {
        "steps": ("step overhead", lambda: bench_steps(params, data_dir, steps, repeats)),
        "gpu": ("GPU path (if present)", lambda: bench_gpu(params, data_dir, steps)),
        "tracking": ("tracking overhead", lambda: bench_tracking(params, data_dir, long_steps, tracking_repeats)),
        "parallel": (
            "parallel ensembles",
            lambda: bench_parallel(
                with_train(params, max_steps=steps) if args.quick else params, data_dir, parallel_repeats
            ),
        ),
        "noop": ("no-op dvc repro", lambda: bench_noop_repro(3)),
        "scaling": (
            "scaling with data (the first run generates 1M MNIST-1D samples and 50,000 images: minutes)",
            lambda: bench_scaling(sizes, image_sizes, cache, repeats=1 if args.quick else 3),
        ),
        "ensemble": (
            "ensembles vs one seed",
            lambda: bench_ensemble(params, data_dir, ensemble_budget_s, ensemble_repeats),
        ),
        "startup": ("stage start-up, before and after", lambda: bench_stage_startup(1 if args.quick else 3)),
        "study": ("whole study, before and after (about 15 minutes)", bench_study),
        "ray": (
            "one train stage on a local Ray cluster vs the local executor",
            lambda: bench_ray(1 if args.quick else 3, args.quick),
        ),
        "own_model": (
            "a user's module: stacked with torch.func, and seed by seed",
            lambda: own_model.bench_own_model(params, data_dir, steps // 2, repeats),
        ),
    }
    results: dict[str, Any] = {}
    for key in [s for s in SECTIONS if s in chosen]:
        label, work_fn = work_of[key]
        started = time.perf_counter()
        print(f"... {label}", file=sys.stderr, flush=True)
        results[key] = work_fn()
        print(f"    {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    results["hardware"] = hardware.fingerprint()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(format_results(results))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
