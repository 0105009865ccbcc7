"""Benchmarks: ratios measured side by side in one run, on this machine, printed with its hardware.

    python -m depthlab.bench            (or: make bench)

1. step overhead: depthlab's training path (tracking and checkpointing on) vs a hand-written PyTorch loop
2. tracking overhead: a whole training run with MLflow tracking on vs off
3. parallel seeds: one train stage with its seeds in worker processes vs one at a time
4. no-op `dvc repro` time, and the fixed cost of starting one train stage
5. scaling with data: MNIST-1D at 5k, 50k and 500k samples, time per sample and peak memory
"""
from __future__ import annotations

import argparse
import contextlib
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
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterator, get_args

import numpy as np
import psutil
import torch
import torch.nn.functional as F
import yaml

from depthlab import hardware, tracking
from depthlab.data import load_arrays, load_meta, prepare
from depthlab.params import Params, TrackingParams, load_params
from depthlab.families import FAMILIES, build_network
from depthlab.training import in_child_process, seed_jobs, train_family, train_seed

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"step": 1.2, "tracking": 1.05, "parallel": 1.7, "noop_s": 2.0}
DATASET = "mnist1d"
SEEDS = [0, 1, 2, 3]  # target 3's stage: four runs, so two workers can split them evenly
REFERENCE_RUN_STEPS = 6000  # the MNIST-1D protocol's run length: targets 2 and 3 run it
MODEL_FORMATS = get_args(TrackingParams.model_fields["model_format"].annotation)


def quiet(function: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return function()


def with_train(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"train": params.train.model_copy(update=changes)})


def with_tracking(params: Params, **changes: Any) -> Params:
    return params.model_copy(update={"tracking": params.tracking.model_copy(update=changes)})


def sweep_of(family: str, depths: list[int]) -> dict[str, Any]:
    """A params.yaml `sweep` training only these depths of one family on MNIST-1D. Every family keeps its
    key: dvc.yaml's matrices read `sweep.<family>.datasets` for each of them."""
    sweep: dict[str, Any] = {name: {"datasets": [], "depths": []} for name in FAMILIES}
    sweep[family] = {"datasets": [DATASET], "depths": depths}
    return sweep


def only(params: Params, family: str, depth: int) -> Params:
    """The params with a sweep of one (family, depth) on MNIST-1D."""
    return Params.model_validate({**params.model_dump(mode="json"), "sweep": sweep_of(family, [depth])})


def plain_loop(params: Params, family: str, depth: int, data_dir: Path, steps: int, fused: bool = False) -> float:
    """The hand-written baseline: same network, same in-memory tensors, same steps; seconds. By default
    with torch's default Adam, as such a loop is usually written; `fused` uses depthlab's fused Adam."""
    meta = load_meta(data_dir)
    x, y = (torch.from_numpy(a) for a in load_arrays(data_dir, "train", meta))
    torch.manual_seed(0)
    net = build_network(params.models, family, depth, meta.shape)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.train.lr, fused=fused)
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
    """A real training run as the train stage does it: (whole-run seconds, training-loop seconds).

    The whole run includes its share of the stage's one-off work (reading data, describing it for MLflow).
    """
    out = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    try:
        started = time.perf_counter()
        jobs = seed_jobs(params, DATASET, family, [depth], data_dir, out, threads)
        shared = (time.perf_counter() - started) / len(jobs)
        started = time.perf_counter()
        trained = quiet(lambda: train_seed(jobs[0]))
        return shared + time.perf_counter() - started, trained.train_time_s
    finally:
        shutil.rmtree(out, ignore_errors=True)


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
    """Target 1, per family at depth 2: depthlab's training loop vs two plain loops, in rounds.

    The ratio that counts is against a plain loop with the same fused Adam as depthlab: it isolates what
    depthlab adds to a step. The plain loop with torch's default Adam, as a loop is usually written by
    hand, is shown beside it. Slow families (a GRU step costs 20x an MLP step) run fewer steps: about as
    long as `steps` MLP steps.
    """
    threads = torch.get_num_threads()
    rows = []
    budget_s = plain_loop(params, "mlp", 2, data_dir, steps)
    for family in FAMILIES:
        probe = 50
        per_step = plain_loop(params, family, 2, data_dir, probe) / probe
        family_steps = max(probe, min(steps, int(budget_s / per_step)))
        tracked = with_train(params, max_steps=family_steps)
        rounds = interleaved(
            [
                lambda: one_run(tracked, family, 2, data_dir, threads)[1],
                lambda: plain_loop(tracked, family, 2, data_dir, family_steps, fused=True),
                lambda: plain_loop(tracked, family, 2, data_dir, family_steps),
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
    on_gpu = with_train(params, max_steps=steps, accelerator="gpu")
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
    configured = with_train(params, max_steps=steps)
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


def bench_parallel(params: Params, data_dir: Path, steps: int, repeats: int) -> dict[str, Any]:
    """Target 3: one train stage (mlp depth 2, four seeds) in worker processes vs strictly one run at a time.

    One at a time is measured with all cores' threads and with one thread; the faster is the baseline.
    Run at the reference run length, four runs train about as many steps as a default train stage (27
    runs of 1500 steps for the MLPs on MNIST-1D), so the stage's fixed start weighs as it does there.
    """

    def stage_seconds(workers: int, threads: int = 0) -> Callable[[], float]:
        configured = with_train(only(params, "mlp", 2), max_steps=steps, workers=workers, threads=threads, seeds=SEEDS)

        def measure() -> float:
            out = Path(tempfile.mkdtemp(prefix="depthlab-bench-")) / "mlp"
            previous = torch.get_num_threads()
            try:
                with separate_store():  # one at a time trains in this process: it connects to its store
                    started = time.perf_counter()
                    quiet(lambda: train_family(configured, DATASET, "mlp", data_dir, out))
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
        "seeds": len(SEEDS),
        "workers": min(os.cpu_count() or 1, len(SEEDS)),
        "repeats": repeats,
        "steps": steps,
        "speedup": statistics.median(min(r[0], r[1]) / r[2] for r in rounds),
    }


PROJECT_FILES = ("dvc.yaml", "pipeline", "src", "presets", ".dvc/config", ".dvcignore", ".gitignore")


def copy_project(target: Path) -> None:
    """The pipeline's files (not params.yaml, data or results) copied into `target`, for a throwaway project."""
    for name in PROJECT_FILES:
        source, destination = ROOT / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, destination)


def project_env() -> dict[str, str]:
    """Environment for `dvc` in a throwaway project: this venv's tools, the project's own mlflow.db."""
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def bench_noop_repro(repeats: int) -> dict[str, Any]:
    """Target 4: a tiny copy of the project, reproduced once; then no-op repros and one stage's fixed cost."""
    project = Path(tempfile.mkdtemp(prefix="depthlab-bench-project-"))
    try:
        copy_project(project)
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["data"]["mnist1d"]["num_samples"] = 1000
        raw["data"]["datasets"] = [DATASET]
        raw["train"].update(max_steps=20, seeds=[0])
        raw["sweep"] = sweep_of("mlp", [0, 1])
        (project / "params.yaml").write_text(yaml.safe_dump(raw))
        env = project_env()

        def run(*command: str) -> float:
            started = time.perf_counter()
            done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            return time.perf_counter() - started

        run("git", "init", "-q")
        run("dvc", "repro")
        noop = median_of(lambda: run("dvc", "repro"), repeats)
        stage = run("dvc", "repro", "--force", "--single-item", f"train-mlp@{DATASET}")
        trained = json.loads((project / f"data/models/{DATASET}/mlp/runs.json").read_text())["runs"]
        return {
            "noop_repro_s": noop,
            "train_stage_wall_s": stage,
            "train_stage_training_s": sum(s["train_time_s"] for s in trained),
            "train_stage_fixed_cost_s": stage - sum(s["train_time_s"] for s in trained),
        }
    finally:
        shutil.rmtree(project, ignore_errors=True)


def bench_scaling(sizes: list[int], cache: Path) -> list[dict[str, Any]]:
    """Target 5: one epoch over MNIST-1D of each size, each in a fresh process for a clean peak-memory reading."""
    rows = []
    for size in sizes:
        arrays = cache / f"mnist1d-{size}.npz"
        if not arrays.exists():
            generate_mnist1d(size, arrays)
        done = subprocess.run(
            [sys.executable, "-m", "depthlab.bench", "--one-epoch", str(arrays)], capture_output=True, text=True, check=True
        )
        rows.append({"samples": size, **json.loads(done.stdout.strip().splitlines()[-1])})
    return rows


def _mnist1d_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    size, seed = args
    config = get_dataset_args()
    config.num_samples, config.seed, config.train_split = size, seed, 1.0
    data = make_dataset(config)
    return data["x"].astype(np.float32), data["y"].astype(np.int64)


def generate_mnist1d(size: int, path: Path, chunk: int = 25_000) -> None:
    """MNIST-1D of any size with the official generator, in chunks (one seed each) on every core."""
    jobs = [(min(chunk, size - start), 42 + i) for i, start in enumerate(range(0, size, chunk))]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        parts = list(pool.map(_mnist1d_chunk, jobs))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=np.concatenate([x for x, _ in parts]), y=np.concatenate([y for _, y in parts]))


def one_epoch(arrays: Path) -> dict[str, Any]:
    """Child of bench_scaling: one epoch of the real training loop, tracking off; time and peak memory."""
    import lightning as L

    from depthlab.families import DataShape
    from depthlab.training import Classifier, fit

    params = load_params(ROOT / "params.yaml")
    before = _rss_mb()
    with np.load(arrays) as data:
        x, y = data["x"], data["y"]
    held_out = len(y) // 10
    train_xy, val_xy = (x[held_out:], y[held_out:]), (x[:held_out], y[:held_out])
    data_mb = (x.nbytes + y.nbytes) / 2**20
    steps = -(-len(train_xy[1]) // params.train.batch_size)
    shape = DataShape(kind="sequence", sample_shape=(x.shape[1],), num_classes=10)
    module = Classifier(build_network(params.models, "mlp", 2, shape), params.train.lr, 0.0)
    cfg = params.train.model_copy(update={"max_steps": steps})
    peak = [_rss_mb()]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.005):
            peak.append(_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    fit(L.Fabric(accelerator="cpu", devices=1), module, train_xy, val_xy, cfg, 0, lambda *_: None)
    seconds = time.perf_counter() - started
    sampling.set()
    sampler.join()
    return {
        "train_samples": len(train_xy[1]),
        "seconds": seconds,
        "us_per_sample": 1e6 * seconds / len(train_xy[1]),
        "data_mb": data_mb,
        "peak_rss_mb": max(peak),
        "peak_beyond_data_mb": max(peak) - before - data_mb,
    }


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def report(results: dict[str, Any]) -> str:
    lines = [f"depthlab benchmark on: {hardware.summary()}", ""]
    lines.append("(ratios: medians of ratios taken within rounds, never ratios of medians taken minutes apart;")
    lines.append(" targets 1 and 3 alternate their arms back to back, target 2 runs a crossover on two cores)")
    lines.append("1. training step at batch 100: depthlab (tracking + checkpoint on) vs a plain PyTorch loop with the same")
    lines.append("   fused Adam (the target), and vs a plain loop with torch's default Adam:")
    for row in results["steps"]:
        lines.append(
            f"   {row['family']:<8} {row['steps']:>5} steps: depthlab {row['depthlab_ms_per_step']:.3f} ms/step, plain {row['plain_ms_per_step']:.3f},"
            f" ratio {row['ratio']:.2f}x (target <= {TARGETS['step']}x) {_verdict(row['ratio'] <= TARGETS['step'])};"
            f" default-Adam loop {row['plain_default_adam_ms_per_step']:.3f} ms/step, ratio {row['ratio_to_default_adam']:.2f}x"
        )
    if results["gpu"]:
        g = results["gpu"]
        lines.append(f"   GPU {g['device']}: {g['ms_per_step']:.3f} ms/step, {g['samples_per_s']:,.0f} samples/s (mlp depth 2)")
    else:
        lines.append("   GPU: none present")
    t = results["tracking"]
    lines.append(f"2. whole run, {t['steps']} steps, tracking on and off at once, one run per core, 1 torch thread each:")
    lines.append(f"   tracking off {t['untracked_s']:.2f}s; on, with the model logged as (median ratio of rounds, its 95% interval)")
    for fmt, arm in t["by_model_format"].items():
        configured = fmt == t["model_format"]
        verdict = f"(target <= {TARGETS['tracking']}x)  {_verdict(arm['ratio'] <= TARGETS['tracking'])}" if configured else "(the other format)"
        low, high = arm["ratio_interval"]
        lines.append(
            f"   {fmt:<7} {arm['tracked_s']:.2f}s ({arm['added_s']:+.2f}s), ratio {arm['ratio']:.3f}x"
            f" [{low:.3f}, {high:.3f}] of {arm['repeats']} {verdict}"
        )
    p = results["parallel"]
    lines.append(
        f"3. train stage, {p['seeds']} seeds x {p['steps']} steps (median of {p['repeats']}): one at a time {p['sequential_all_threads_s']:.2f}s (all threads) /"
        f" {p['sequential_one_thread_s']:.2f}s (1 thread), {p['workers']} workers {p['parallel_s']:.2f}s, "
        f"speedup {p['speedup']:.2f}x (target >= {TARGETS['parallel']}x)  {_verdict(p['speedup'] >= TARGETS['parallel'])}"
    )
    n = results["noop"]
    lines.append(
        f"4. no-op dvc repro {n['noop_repro_s']:.2f}s (target < {TARGETS['noop_s']}s)  {_verdict(n['noop_repro_s'] < TARGETS['noop_s'])};"
        f" one train stage: {n['train_stage_wall_s']:.2f}s wall, {n['train_stage_training_s']:.2f}s training,"
        f" {n['train_stage_fixed_cost_s']:.2f}s fixed cost (start-up, imports, tracking, hashing)"
    )
    lines.append("5. one epoch of MNIST-1D by size (mlp depth 2, tracking off):")
    for row in results["scaling"]:
        lines.append(
            f"   {row['samples']:>7} samples: {row['seconds']:.2f}s, {row['us_per_sample']:.2f} us/sample,"
            f" data {row['data_mb']:.1f} MB, peak RSS {row['peak_rss_mb']:.0f} MB, peak beyond process + data {row['peak_beyond_data_mb']:.1f} MB"
        )
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats, smaller scaling sizes")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--one-epoch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_epoch:
        print(json.dumps(one_epoch(args.one_epoch)))
        return
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    work = Path(tempfile.mkdtemp(prefix="depthlab-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    params = load_params(ROOT / "params.yaml")
    data_dir = work / "prepared"
    quiet(lambda: prepare(params.data, DATASET, data_dir))
    steps, repeats, tracking_repeats, parallel_repeats = (300, 1, 1, 1) if args.quick else (2000, 7, 12, 3)
    long_steps = steps if args.quick else REFERENCE_RUN_STEPS
    sizes = [5_000, 20_000] if args.quick else [5_000, 50_000, 500_000]
    cache = ROOT / ".cache" / "bench"
    results: dict[str, Any] = {}
    for key, label, work_fn in (
        ("steps", "step overhead", lambda: bench_steps(params, data_dir, steps, repeats)),
        ("gpu", "GPU path (if present)", lambda: bench_gpu(params, data_dir, steps)),
        ("tracking", "tracking overhead", lambda: bench_tracking(params, data_dir, long_steps, tracking_repeats)),
        ("parallel", "parallel seeds", lambda: bench_parallel(params, data_dir, long_steps, parallel_repeats)),
        ("noop", "no-op dvc repro", lambda: bench_noop_repro(3)),
        ("scaling", "scaling with data (first run generates 500k samples: minutes)", lambda: bench_scaling(sizes, cache)),
    ):
        started = time.perf_counter()
        print(f"... {label}", file=sys.stderr, flush=True)
        results[key] = work_fn()
        print(f"    {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    results["hardware"] = hardware.fingerprint()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(report(results))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
