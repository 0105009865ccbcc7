"""The run lifecycle: runs opened together (an ensemble's seeds), metrics buffered and sent in batches, and
every run ended FINISHED, FAILED or KILLED whatever happens; results added to runs after they ended."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from depthlab import environment, hardware
from depthlab.errors import TrackingError
from depthlab.interrupts import deferred
from depthlab.tracking import models
from depthlab.tracking.run import Run
from depthlab.tracking.store import (
    MAX_BATCH,
    client,
    experiment_id,
    flatten,
    machine_tags,
    tracking_uri,
    without_advice,
)
from depthlab.tracking.system_metrics import SystemSampler

if TYPE_CHECKING:
    from torch import nn


def describe_datasets(
    splits: Mapping[str, tuple[pd.DataFrame, int, Path, str]], name: str, digest: str, notes: Mapping[str, str]
) -> list[Any]:
    """MLflow dataset inputs for {split: (first rows, row count, source file, context)}: built once per stage,
    not per run.

    From the split's first rows and its row count, not the whole split, which training may never hold in memory
    (it is memory-mapped where it does not fit) and from which MLflow would infer the schema by visiting every
    cell in Python (docs/performance.md): validated data has no missing values, so its first row gives the
    same schema, and the profile's counts are set from the row count. The content digest is the prepare
    stage's own. `notes` become tags of each input (what prepare dropped from the source), shown beside it.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.models import infer_signature
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    with without_advice():
        for split, (head, rows, source, context) in splits.items():
            dataset = mlflow.data.from_pandas(
                head.iloc[:1], source=str(source), name=f"{name}-{split}", targets="label", digest=digest[:36]
            )
            dataset.schema = infer_signature(head.iloc[:1]).inputs  # primes MLflow's cached property
            entity = dataset._to_mlflow_entity()
            profile = json.dumps({"num_rows": rows, "num_elements": rows * head.shape[1]})
            entity = Dataset(
                name=entity.name,
                digest=entity.digest,
                source_type=entity.source_type,
                source=entity.source,
                schema=entity.schema,
                profile=profile,
            )
            tags = [InputTag(MLFLOW_DATASET_CONTEXT, context), *(InputTag(k, v) for k, v in notes.items())]
            inputs.append(DatasetInput(entity, tags=tags))
    return inputs


class UntrackedRun:
    """Stands in for a TrackedRun when `tracking.enabled` is false: the same methods, nothing recorded."""

    run_id = "untracked"

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def log_inputs(self, inputs: list[Any]) -> None:
        pass

    def log_model(self, net: nn.Module, example: np.ndarray, serialization_format: str) -> None:
        pass

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        pass


class TrackedRun:
    """A live MLflow run: buffered metrics (one log_batch per flush, not one call per value)."""

    def __init__(self, store: MlflowClient, experiment_id: str, run_id: str, flush_interval_s: float):
        self.client = store
        self.experiment_id = experiment_id
        self.run_id = run_id
        self._flush_interval_s = flush_interval_s
        self._pending: list[Metric] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()  # the system-metrics sampler logs from its own thread

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        with self._lock:
            self._pending += [Metric(key, float(value), now, step) for key, value in metrics.items()]
            due = time.monotonic() - self._last_flush >= self._flush_interval_s
        if due:
            self.flush()

    @deferred()
    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        for start in range(0, len(pending), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=pending[start : start + MAX_BATCH], synchronous=True)

    @deferred()
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()])

    @deferred()
    def log_inputs(self, inputs: list[Any]) -> None:
        """Link datasets described once by `describe_datasets` to this run.

        The store creates a dataset's row on first use with a non-atomic get-or-create, so two parallel
        workers can collide on it (UNIQUE constraint); the loser's transaction is rolled back whole, and
        on retry the row exists.
        """
        for attempt in range(1, 4):
            try:
                self.client.log_inputs(self.run_id, datasets=inputs)
                return
            except MlflowException:
                if attempt == 3:
                    raise
                time.sleep(0.05 * attempt)

    @deferred()
    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        """A folder's files, or one file."""
        if path.is_file():
            self.client.log_artifact(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifacts(self.run_id, str(path), artifact_path)

    @deferred()
    def log_model(self, net: nn.Module, example: np.ndarray, serialization_format: str) -> None:
        models.log_model(self.run_id, net, example, serialization_format)


@dataclass(frozen=True)
class RunSpec:
    """One run to open: its name, params (nested, flattened for MLflow) and tags."""

    name: str
    params: Mapping[str, Any]
    tags: Mapping[str, Any]


@dataclass
class RecordedRun:
    """A run kept as the calls made to it, for a process that cannot reach the store (a Ray worker on another
    machine, or any worker of a task that may be retried): `replay_runs` makes it a real run, once, in the
    process that can. The machine it trained on goes with it (`hw.*`)."""

    spec: RunSpec
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    run_id = "recorded"

    def __post_init__(self) -> None:
        self.set_tags({f"hw.{key}": value for key, value in hardware.fingerprint().items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        self.calls.append(("log_metrics", (dict(metrics), step)))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.calls.append(("set_tags", (dict(tags),)))

    def log_inputs(self, inputs: list[Any]) -> None:
        self.calls.append(("log_inputs", (inputs,)))

    def log_model(self, net: nn.Module, example: np.ndarray, serialization_format: str) -> None:
        self.calls.append(("log_model", (net, example, serialization_format)))

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        raise NotImplementedError("a recorded run holds no files: log artifacts where the store is reachable")


def replay_runs(dataset: str, recorded: list[RecordedRun], tags: Mapping[str, Any], **options: Any) -> list[str]:
    """Recorded runs made real, with `tags` added to each, in the order they were recorded; their run ids."""
    if not options.get("enabled", True):
        return [UntrackedRun.run_id] * len(recorded)
    specs = [RunSpec(run.spec.name, run.spec.params, {**run.spec.tags, **tags}) for run in recorded]
    with tracked_runs(dataset=dataset, runs=specs, **options) as live:
        for run, target in zip(recorded, live, strict=True):
            for method, arguments in run.calls:
                getattr(target, method)(*arguments)
        return [run.run_id for run in live]


@contextmanager
def tracked_runs(
    *,
    dataset: str,
    runs: list[RunSpec],
    system_metrics_interval_s: float | None = None,
    flush_interval_s: float = 5.0,
    enabled: bool = True,
    record: bool = False,
) -> Iterator[list[Run]]:
    """Open runs in the dataset's experiment, live at the same time (the seeds of one ensemble); always end
    each one FINISHED, FAILED or KILLED. With `record`, the runs are only recorded (RecordedRun).

    Tags added to every run: MLflow's own (user, source), git commit and dirty flag, DVC stage and experiment,
    and the hardware fingerprint (`hw.*`). With `system_metrics_interval_s`, CPU, memory, disk, network (and
    GPU) are sampled that often (see SystemSampler).
    """
    if not enabled:
        yield [UntrackedRun() for _ in runs]
        return
    if record:
        recorded = [RecordedRun(spec) for spec in runs]
        sampling = SystemSampler(recorded, system_metrics_interval_s) if system_metrics_interval_s else None
        with sampling or contextlib.nullcontext():
            yield recorded
        return
    from mlflow.tracking.context.registry import resolve_tags

    try:
        store = client()
        experiment = experiment_id(store, dataset)
        # Models are logged by run id with no active run; MLflow files them under the active experiment.
        mlflow.set_experiment(experiment_id=experiment)
    except MlflowException as err:
        raise TrackingError(f"MLflow tracking store {tracking_uri()} cannot be used: {err}") from None
    common_tags = resolve_tags(
        {
            **machine_tags(),
            "dataset": dataset,
            "dvc_stage": os.environ.get("DVC_STAGE", "none"),
            "dvc_experiment": os.environ.get("DVC_EXP_NAME", "none"),
            "pid": str(os.getpid()),  # with hw.host: lets a later start tell a killed process's run from a live one
            "trigger": environment.trigger(),
            "pipeline_run_id": environment.pipeline_run_id(),
        }
    )
    opened: list[TrackedRun] = []
    # An interrupt while the runs are created is raised once they exist, inside the try: they still end KILLED.
    try:
        with deferred():
            for spec in runs:
                tags = {**common_tags, **{key: str(value) for key, value in spec.tags.items()}}
                created = store.create_run(experiment, run_name=spec.name, tags=tags)
                opened.append(TrackedRun(store, experiment, created.info.run_id, flush_interval_s))
                params = [Param(key, value[:6000]) for key, value in flatten(spec.params).items()]
                store.log_batch(created.info.run_id, params=params)
        sampling = SystemSampler(opened, system_metrics_interval_s) if system_metrics_interval_s else None
        with sampling or contextlib.nullcontext():
            yield opened
        for run in opened:
            run.flush()
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            _end(opened, "KILLED", f"interrupted ({str(err) or type(err).__name__})")
        else:
            _end(opened, "FAILED", f"{type(err).__name__}: {err}")
        raise
    else:
        with deferred():
            for run in opened:
                store.set_terminated(run.run_id, "FINISHED")


@contextmanager
def tracked_run(
    *, name: str, params: Mapping[str, Any], tags: Mapping[str, Any], **options: Any
) -> Iterator[TrackedRun | UntrackedRun]:
    """One run (see tracked_runs)."""
    with tracked_runs(runs=[RunSpec(name, params, tags)], **options) as runs:
        yield runs[0]


@deferred()
def _end(runs: list[TrackedRun], status: str, error: str) -> None:
    """Close every run, with what is left of its metrics and the reason in its `error` tag. A run that cannot
    be closed does not keep the others open; the first such error is raised once all were tried."""
    failure: BaseException | None = None
    for run in runs:
        try:
            try:
                run.flush()
                run.client.set_tag(run.run_id, "error", error[:5000])
            finally:
                run.client.set_terminated(run.run_id, status)
        except Exception as err:  # each run gets its chance to close
            failure = failure or err
    if failure:
        raise failure


@deferred()
def log_to_finished_run(run_id: str, metrics: Mapping[str, float], documents: Mapping[str, Any]) -> None:
    """Add later results (the evaluate stage's test metrics) to a training run without reopening it."""
    if run_id == UntrackedRun.run_id:
        return
    store = client()
    now = int(time.time() * 1000)
    entries = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
    with _unless_elsewhere():
        for start in range(0, len(entries), MAX_BATCH):
            store.log_batch(run_id, metrics=entries[start : start + MAX_BATCH])
        for artifact_file, document in documents.items():
            store.log_dict(run_id, document, artifact_file)


@deferred()
def log_class_results(run_id: str, table: pd.DataFrame, figure: Any) -> None:
    """A finished run's per-class accuracy as a table (the UI's artifact view shows and compares it) and its
    confusion matrix as a figure, under evaluation/. MLflow appends a table to one the run has: a run evaluated
    again (same weights, same test split, so the same table) keeps the one it has."""
    if run_id == UntrackedRun.run_id:
        return
    store = client()
    path = "evaluation/per_class_accuracy.json"
    with _unless_elsewhere():
        if path not in {artifact.path for artifact in store.list_artifacts(run_id, "evaluation")}:
            store.log_table(run_id, table, path)
        store.log_figure(run_id, figure, "evaluation/confusion_matrix.png")


@deferred()
def tag_finished_runs(tags: Mapping[str, Mapping[str, str]]) -> None:
    """Tags decided after runs ended ({run id: tags}), e.g. whether the lr grid chose a run's lr."""
    store = client()
    for run_id, run_tags in tags.items():
        if run_id != UntrackedRun.run_id:
            with _unless_elsewhere():
                store.log_batch(run_id, tags=[RunTag(key, value) for key, value in run_tags.items()])


@contextmanager
def _unless_elsewhere() -> Iterator[None]:
    """A write to a run this store does not hold is skipped: outputs pulled from a DVC remote name runs of the
    store that made them, which only a shared tracking server also holds here."""
    try:
        yield
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
