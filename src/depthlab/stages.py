"""The pipeline's stages over the project's fixed layout; `pipeline/<stage>.py` calls `run` with one of them."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from depthlab.errors import DataError, DepthlabError, ParamsError, TrackingError, ValidationFailed
from depthlab.params import Params, load_params

PREPARED = Path("data/prepared")
VALIDATED = Path("data/validated.json")
MODELS = Path("data/models")
EVALUATIONS = Path("data/eval")
METRICS = Path("data/metrics")
REPORTS = Path("reports")

# Exit codes a scheduler can tell apart (documented in the README).
EXIT_CODES: dict[type[DepthlabError], int] = {ParamsError: 2, DataError: 3, ValidationFailed: 4, TrackingError: 5}


def point_name(family: str, depth: int) -> str:
    return f"{family}-d{depth}"


def prepare(params: Params) -> None:
    from depthlab import data

    meta = data.prepare(params.data, PREPARED)
    print(f"prepared {meta.name}: {meta.rows} rows, {len(meta.classes)} classes, sample shape {meta.sample_shape}")


def validate(params: Params) -> None:
    from depthlab import validation
    from depthlab.outputs import write_json

    VALIDATED.unlink(missing_ok=True)
    summary = validation.validate(PREPARED, params.validation, REPORTS / "validation")
    write_json(VALIDATED, summary)
    print(f"validated {summary['dataset']}: all {summary['expectations']} expectations met")


def train(params: Params, family: str, depth: int) -> None:
    from depthlab import training

    _require_in_sweep(params, family, depth)
    trained = training.train_point(params, family, depth, PREPARED, MODELS / point_name(family, depth))
    times = ", ".join(f"seed {t.seed}: {t.train_time_s:.1f}s" for t in trained)
    print(f"trained {point_name(family, depth)} ({trained[0].param_count} parameters) - {times}")


def evaluate(params: Params, family: str, depth: int) -> None:
    from depthlab import evaluation

    _require_in_sweep(params, family, depth)
    name = point_name(family, depth)
    summary = evaluation.evaluate_point(
        params, family, depth, PREPARED, MODELS / name, METRICS / f"{name}.json", EVALUATIONS / name
    )
    print(
        f"evaluated {name}: test accuracy {summary['test_accuracy']:.4f} ± {summary['test_accuracy_std']:.4f} "
        f"over {summary['seeds']} seeds"
    )


def report(params: Params) -> None:
    from depthlab import report as reporting

    table = reporting.write_report(params, METRICS, REPORTS)
    print(f"report over {len(table)} models: {REPORTS / 'summary.md'}")


def _require_in_sweep(params: Params, family: str, depth: int) -> None:
    if depth not in dict(params.sweep_items()).get(family, []):
        raise ParamsError(f"{family} depth {depth} is not in params.yaml sweep.{family}")


def point_arguments(description: str) -> dict[str, Any]:
    """`--family F --depth D` of a per-(family, depth) stage, as keyword arguments for `run`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--family", required=True)
    parser.add_argument("--depth", type=int, required=True)
    return vars(parser.parse_args())


def run(stage: Callable[..., None], **arguments: Any) -> None:
    """Load params, run one stage, exit: 0 on success, a distinct code and one message on a user error."""
    name = stage.__name__
    started = time.perf_counter()
    try:
        stage(load_params(), **arguments)
    except DepthlabError as err:
        print(f"depthlab {name}: error: {err}", file=sys.stderr)
        sys.exit(EXIT_CODES.get(type(err), 1))
    except KeyboardInterrupt:
        print(f"depthlab {name}: interrupted", file=sys.stderr)
        sys.exit(130)
    print(f"depthlab {name}: done in {time.perf_counter() - started:.1f}s")
