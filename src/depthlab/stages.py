"""The pipeline's stages over the project's fixed layout; `pipeline/<stage>.py` calls `run` with one of them."""

from __future__ import annotations

import faulthandler
import gc
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthlab import interrupts
from depthlab.errors import INTERRUPTED, DepthlabError, ParamsError, Terminated
from depthlab.params import Params, load_params

RAW = Path("data/raw")
PREPARED = Path("data/prepared")
VALIDATED = Path("data/validated")
MODELS = Path("data/models")
EVALUATIONS = Path("data/eval")
METRICS = Path("metrics")  # at the top, so that `dvc metrics show` fits 80 columns
REPORTS = Path("reports")
CACHE = Path(".cache/ensembles")  # outside DVC's outputs: resumable states and finished ensembles to reuse
ARRAYS = Path(".cache/arrays")  # training data memory-mapped where it does not fit in memory (not DVC outputs)


def export_csv(params: Params, name: str) -> None:
    from depthlab import data

    print(f"writing scikit-learn's {name} table to {RAW / f'{name}.csv'}", flush=True)
    rows = data.export_sklearn_table(name, RAW / f"{name}.csv")
    print(f"wrote scikit-learn's {name} table to {RAW / f'{name}.csv'}: {rows} rows")


def prepare(params: Params, dataset: str) -> None:
    from depthlab import data

    _require_dataset(params, dataset)
    print(f"preparing {dataset} ({params.data.source(dataset)} source)", flush=True)
    meta = data.prepare(params.data, dataset, PREPARED / dataset)
    dropped = f" ({meta.dropped_text} from the source)" if meta.dropped_text else ""
    print(
        f"prepared {meta.name}: {meta.rows} rows{dropped}, {len(meta.classes)} classes, "
        f"sample shape {meta.sample_shape}"
    )


def validate(params: Params, dataset: str) -> None:
    from depthlab import validation
    from depthlab.outputs import write_json

    _require_dataset(params, dataset)
    print(f"validating {PREPARED / dataset} with the Great Expectations suite", flush=True)
    marker = VALIDATED / f"{dataset}.json"
    marker.unlink(missing_ok=True)
    summary = validation.validate(PREPARED / dataset, params.validation, REPORTS / "validation" / dataset)
    write_json(marker, summary)
    print(f"validated {summary['dataset']}: all {summary['expectations']} expectations met")


def train(params: Params, family: str) -> None:
    datasets = _datasets_of(params, family)
    if not datasets:
        return _nothing_to_do(family, MODELS / family)
    _check_imported(params, family, datasets)
    from depthlab import training
    from depthlab.training import cluster

    _check_tracking(params)
    if cluster.wanted():
        cluster.check_reachable()  # before any data is read
    cfg = params.train
    selection_steps = "each cell's own" if cfg.selection.max_steps is None else cfg.selection.max_steps
    grid = (
        f"the lr of {len(cfg.grid)} ({', '.join(f'{lr:g}' for lr in cfg.grid)}) with the best validation accuracy on "
        f"{training.seeds_text(len(cfg.selection.seeds))} of their own and {selection_steps} steps, then "
        if len(cfg.grid) > 1
        else f"lr {cfg.grid[0]:g}, "
    )
    cells = f" and cell ({'; '.join(cell.label for cell in cfg.cells)})" if cfg.swept else ""
    print(
        f"training {family} on {', '.join(datasets)}: per depth{cells} {grid}{training.seeds_text(len(cfg.seeds))} "
        "as one ensemble",
        flush=True,
    )
    trained = training.train_family(
        params, family, {dataset: PREPARED / dataset for dataset in datasets}, MODELS / family, CACHE / family, ARRAYS
    )
    for dataset, seeds in trained.items():
        seconds = sum(t.train_time_s for t in seeds)
        diverged = sum(t.diverged for t in seeds)
        print(f"trained {family} on {dataset}: {len(seeds)} runs, {seconds:.1f}s of training, {diverged} diverged")


def evaluate(params: Params, family: str) -> None:
    datasets = _datasets_of(params, family)
    if not datasets:
        return _nothing_to_do(family, EVALUATIONS / family, METRICS / family)
    from depthlab import evaluation

    _check_tracking(params)
    print(
        f"evaluating {family} on the test splits of {', '.join(datasets)}: every trained depth, lr and seed", flush=True
    )
    summaries = evaluation.evaluate_family(
        params,
        family,
        {dataset: PREPARED / dataset for dataset in datasets},
        MODELS / family,
        METRICS / family,
        EVALUATIONS / family,
    )
    for dataset, summary in summaries.items():
        for depth, point in summary.at(params.train.main_cell).depths.items():
            accuracy = point.mean("test_accuracy")
            shown = "n/a" if accuracy is None else f"{accuracy:.4f} ± {point.std('test_accuracy'):.4f}"
            print(
                f"evaluated {family}-d{depth} on {dataset} (lr {point.lr:g}): test accuracy {shown} "
                f"over {len(point.per_seed)} seeds"
            )


def report(params: Params) -> None:
    from depthlab.report import write_report

    _check_tracking(params)
    print(f"writing the claims report from {EVALUATIONS}", flush=True)
    table = write_report(params, EVALUATIONS, REPORTS)
    print(f"report over {len(table)} configurations: {REPORTS / 'claims.md'}")


def _check_imported(params: Params, family: str, datasets: list[str]) -> None:
    """A user's module (a family named by import path) imports and builds at every depth of its sweep, on every
    dataset's shape, before anything is read, trained or recorded: what params.yaml names wrongly is one message."""
    from depthlab.families import family_of

    if not family_of(params.models, family).imported:
        return
    from depthlab.data import load_meta
    from depthlab.families import imported

    shapes = {dataset: load_meta(PREPARED / dataset).shape for dataset in datasets}
    depths = [depth for dataset in datasets for depth in params.depths(dataset, family)]
    imported.check(family, getattr(params.models, family), shapes, depths)


def _check_tracking(params: Params) -> None:
    """Every stage that tracks fails fast, before any work, when the tracking server does not answer."""
    if params.tracking.enabled:
        from depthlab import tracking

        tracking.check_reachable()


def _require_dataset(params: Params, dataset: str) -> None:
    if dataset not in params.data.datasets:
        raise ParamsError(f"dataset '{dataset}' is not in params.yaml data.datasets {params.data.datasets}")


def _nothing_to_do(family: str, *outputs: Path) -> None:
    """A family whose sweep trains nothing: its stages leave empty outputs, having imported nothing heavy."""
    from depthlab.outputs import staged_dir

    for output in outputs:
        with staged_dir(output):
            pass
    print(f"sweep.{family} trains nothing: no datasets or no depths")


def _datasets_of(params: Params, family: str) -> list[str]:
    """The datasets `family` trains on, in data.datasets order; an empty list when its sweep trains nothing."""
    if family not in params.families:
        raise ParamsError(f"family '{family}' has no sweep.{family} in params.yaml")
    return [dataset for dataset in params.data.datasets if params.depths(dataset, family)]


def arguments(description: str, *names: str) -> dict[str, Any]:
    """The stage's `--name value` options (all required strings), as keyword arguments for `run`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    for name in names:
        parser.add_argument(f"--{name}", required=True)
    return vars(parser.parse_args())


def run(stage: Callable[..., None], **arguments: Any) -> None:
    """Load params, run one stage, exit: 0 on success, a distinct code (`errors`) and one message on a user
    error."""
    name = stage.__name__
    started = time.perf_counter()
    interrupts.install()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>` prints where a stage is
    try:
        stage(load_params(), **arguments)
    except DepthlabError as err:
        print(f"depthlab {name}: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt as err:
        print(f"depthlab {name}: {str(err) or 'interrupted'}", file=sys.stderr)
        sys.exit(err.exit_code if isinstance(err, Terminated) else INTERRUPTED)
    finally:
        # Python's shutdown collects garbage over every object the stage's imports made (torch, MLflow, pandas,
        # Great Expectations): seconds a stage (docs/performance.md), for memory the system reclaims anyway. Frozen
        # objects are not collected; threads, atexit handlers and file flushes still run.
        gc.freeze()
    print(f"depthlab {name}: done in {time.perf_counter() - started:.1f}s")
