"""Target 2, tracking overhead: a whole training run with MLflow tracking on vs off."""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, get_args

from benchmarks.common import median_interval, one_run, separate_store, verdict, with_tracking, with_train
from depthlab.params import Params, TrackingParams

TARGET = 1.05
REFERENCE_RUN_STEPS = 6000  # the MNIST-1D protocol's run length: target 2 runs it
MODEL_FORMATS = get_args(TrackingParams.model_fields["model_format"].annotation)


def run(params: Params, data_dir: Path, steps: int, repeats: int) -> dict[str, Any]:
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


def _warm_up(core: set[int], arms: list[Params], data_dir: Path) -> None:
    os.sched_setaffinity(0, core)
    for arm in arms:
        _timed_run(arm, data_dir)


def _timed_run(arm: Params, data_dir: Path) -> float:
    return one_run(arm, "mlp", 2, data_dir, threads=1)[0]


def report(t: dict[str, Any]) -> list[str]:
    lines = [
        f"2. whole run, {t['steps']} steps, tracking on and off at once, one run per core, 1 torch thread each:",
        f"   tracking off {t['untracked_s']:.2f}s; on, with the model logged as (median ratio of rounds, its"
        " 95% interval)",
    ]
    for fmt, arm in t["by_model_format"].items():
        configured = fmt == t["model_format"]
        shown = f"(target <= {TARGET}x)  {verdict(arm['ratio'] <= TARGET)}" if configured else "(the other format)"
        low, high = arm["ratio_interval"]
        lines.append(
            f"   {fmt:<7} {arm['tracked_s']:.2f}s ({arm['added_s']:+.2f}s), ratio {arm['ratio']:.3f}x"
            f" [{low:.3f}, {high:.3f}] of {arm['repeats']} {shown}"
        )
    return lines
