"""The one module that knows MLflow: where runs go, how they are named and tagged, and batched metrics.

Default store: `sqlite:///<project>/mlflow.db` with artifacts in `<project>/mlartifacts`; the environment
variable MLFLOW_TRACKING_URI (a server, say) overrides both. Runs always end in a final status: FINISHED,
FAILED (with the error in the `error` tag) or KILLED.
"""
from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import contextlib  # noqa: E402
import functools  # noqa: E402
import logging  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, Iterator, Mapping  # noqa: E402

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from depthlab import hardware  # noqa: E402
from depthlab.errors import TrackingError  # noqa: E402
from depthlab.interrupts import deferred  # noqa: E402

if TYPE_CHECKING:
    from torch import nn

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call

logging.getLogger("mlflow").setLevel(logging.WARNING)
# MLflow's caution about the pickle format, printed every run: the format is chosen in params.yaml, whose
# comment and the README say what it means.
logging.getLogger("mlflow.pytorch").addFilter(lambda record: "by Pickle or CloudPickle" not in record.getMessage())


@contextmanager
def _without_advice() -> Iterator[None]:
    """MLflow's advice for interactive users, repeated every run; the schema and source here are deliberate.
    Also torch.export's note that nn.GRU caches its weights during export: harmless, and printed every run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The tensor attributes .*_flat_weights")
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column.*")
        yield


def project_root() -> Path:
    """DVC runs stages with DVC_ROOT set; outside DVC the working directory is the project."""
    return Path(os.environ.get("DVC_ROOT", ".")).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def experiment_name(dataset: str) -> str:
    return f"depthlab-{dataset}"


def run_name(family: str, depth: int, seed: int, grid_lr: float | None = None) -> str:
    """`mlp-d4-s0`; a run of the lr grid says so and its lr: `mlp-d4-s0-grid-lr0.003`."""
    return f"{family}-d{depth}-s{seed}" + ("" if grid_lr is None else f"-grid-lr{grid_lr:g}")


def _client() -> MlflowClient:
    mlflow.set_tracking_uri(tracking_uri())
    return MlflowClient()


def _experiment_id(client: MlflowClient, dataset: str) -> str:
    """Get or create the dataset's experiment; safe when several processes race to create it."""
    name = experiment_name(dataset)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = _artifacts_beside_database(tracking_uri())
    try:
        return client.create_experiment(name, artifact_location=location, tags={"dataset": dataset, **_experiment_tags(dataset)})
    except MlflowException:
        existing = client.get_experiment_by_name(name)
        if existing is None:
            raise
        return existing.experiment_id


def _experiment_tags(dataset: str) -> dict[str, str]:
    """What the MLflow UI shows an experiment as: one of model training (not the GenAI view it opens in
    otherwise), with a description on its overview."""
    if dataset == "study":
        note = "depthlab's claims reports: one `report` run per `dvc repro`, the verdicts as `claim_N` tags."
    elif dataset == PIPELINE:
        note = "depthlab's scheduled pipeline runs: the stages that ran, how long, each dataset's best accuracy."
    else:
        note = (f"depthlab's training runs on {dataset}: one run per (family, depth, seed, lr). "
                "`tags.reported = 'true'` shows the runs the claims report rests on; `tags.phase = 'grid'` the runs "
                "that chose each configuration's lr (`selected` marks the chosen one).")
    return {"mlflow.experimentKind": "custom_model_development", "mlflow.note.content": note}


def _artifacts_beside_database(uri: str) -> str | None:
    """For a SQLite store, artifacts go to `mlartifacts/` next to the .db file; a server decides for itself."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


def describe_datasets(splits: Mapping[str, tuple[pd.DataFrame, Path, str]], name: str, digest: str) -> list[Any]:
    """MLflow dataset inputs for {split: (frame, source file, context)}: built once per stage, not per run.

    MLflow would infer the schema by visiting every cell in Python (0.1 s for MNIST-1D's 4000 rows, about
    25 s for 500k): validated data has no missing values, so its first row gives the same schema. The
    content digest is the prepare stage's own.
    """
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.models import infer_signature
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    with _without_advice():
        for split, (frame, source, context) in splits.items():
            dataset = mlflow.data.from_pandas(frame, source=str(source), name=f"{name}-{split}", targets="label", digest=digest[:36])
            dataset.schema = infer_signature(frame.iloc[:1]).inputs  # primes MLflow's cached property
            inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs


def prepare_experiment(dataset: str) -> None:
    """Before a stage's runs start: close runs orphaned by killed processes, and create the store's tables and
    the dataset's experiment up front, before parallel writers start."""
    # Ctrl-C in the middle of MLflow creating a fresh database's tables leaves it unusable for good
    # ("table _alembic_tmp_experiments already exists"): interrupts wait until this is done.
    with deferred():
        client = _client()
        end_orphaned_runs(client)
        _experiment_id(client, dataset)


def check_reachable(timeout_s: float = 5.0) -> None:
    """Fail fast, naming the URI, when a tracking server does not answer (MLflow itself retries for minutes)."""
    import requests

    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=timeout_s).raise_for_status()
    except requests.RequestException as err:
        raise TrackingError(
            f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) is unreachable: {type(err).__name__}: {err}. "
            "Start the server, fix the URI, or set tracking.enabled: false in params.yaml."
        ) from None


def end_orphaned_runs(client: MlflowClient) -> list[str]:
    """Runs still RUNNING whose process on this host is gone (SIGKILL, a crash, a power cut) end FAILED with
    the reason in their `error` tag; return their ids. Runs of live processes and of other hosts are left."""
    import psutil

    experiments = [e.experiment_id for e in client.search_experiments(filter_string="name LIKE 'depthlab-%'")]
    if not experiments:
        return []
    host = hardware.fingerprint()["host"]
    ended = []
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=10_000):
        tags = run.data.tags
        if tags.get("hw.host") != host or not tags.get("pid", "").isdigit():
            continue
        pid = int(tags["pid"])
        try:
            alive = psutil.Process(pid).create_time() * 1000 <= run.info.start_time + 1000
        except psutil.NoSuchProcess:
            alive = False
        if not alive:
            client.set_tag(run.info.run_id, "error", f"process {pid} on {host} ended without closing the run "
                           "(killed with SIGKILL, crashed or the machine stopped); closed by a later pipeline start")
            client.set_terminated(run.info.run_id, "FAILED")
            ended.append(run.info.run_id)
    return ended


def _git_tags() -> dict[str, str]:
    return _git_tags_of(project_root())


@functools.cache
def _git_tags_of(root: Path) -> dict[str, str]:
    """Asked once per process (two git processes cost about 5 ms a run): a stage's runs share one commit."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit or "unknown", "git_dirty": str(bool(dirty)).lower()}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{'train': {'lr': 0.01}} -> {'train.lr': '0.01'}: nested params as MLflow param keys."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


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

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        pass


class TrackedRun:
    """A live MLflow run: buffered metrics (one log_batch per flush, not one call per value)."""

    def __init__(self, client: MlflowClient, run_id: str, flush_interval_s: float):
        self.client = client
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
    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    @deferred()
    def log_model(self, net: nn.Module, example: np.ndarray, serialization_format: str) -> None:
        """The trained network as an MLflow PyTorch model with its signature (`tracking.model_format`).

        pickle: the module, its depthlab classes pickled by value, so it loads wherever torch is installed;
        loading it runs code from the artifact. pt2: torch.export's graph, which loads without unpickling, at
        about 65 ms more per run (measured: 105 vs 40 ms for an MLP), most of the fixed cost that tracking
        adds to a run.
        """
        import cloudpickle
        import torch
        from mlflow.models import infer_signature

        import depthlab.families

        with torch.inference_mode():
            output = net(torch.from_numpy(example)).numpy()
        # pt2: torch.export needs the example; MLflow's check of it (a reload) is left to tests/test_tracking.py.
        # pickle: no example, or MLflow would reload the model to check it (its flag for not doing so would
        # reach torch.save).
        example_args = {"input_example": example, "validate_serving_input": False} if serialization_format == "pt2" else {}
        cloudpickle.register_pickle_by_value(depthlab.families)
        try:
            with _without_advice():
                mlflow.pytorch.log_model(
                    net,
                    name="model",
                    run_id=self.run_id,
                    signature=infer_signature(example, output),
                    pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
                    serialization_format=serialization_format,
                    **example_args,
                )
        finally:
            cloudpickle.unregister_pickle_by_value(depthlab.families)


class SystemSampler:
    """MLflow's own CPU, memory, disk, network (and GPU) collectors, sampled on a thread into runs' buffers.

    MLflow's SystemMetricsMonitor builds a client and reads the run back from the store at every sample:
    measured here, that costs about 7% of a small model's training step; its collectors cost under 0.1 ms.
    The runs of one ensemble share the process, so each sample goes to every one of them. Metrics keep
    MLflow's `system/` names, so the UI shows them as system metrics.
    """

    def __init__(self, runs: list[TrackedRun], interval_s: float):
        from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
        from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
        from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

        self.runs = runs
        self.interval_s = interval_s
        self.monitors = [CPUMonitor(), DiskMonitor(), NetworkMonitor(), *_gpu_monitors()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="depthlab-system-metrics", daemon=True)

    def _sample(self) -> None:
        step = 0
        while True:
            metrics: dict[str, float] = {}
            for monitor in self.monitors:
                monitor.collect_metrics()
                metrics.update(monitor.aggregate_metrics())
                monitor.clear_metrics()
            for run in self.runs:
                run.log_metrics({f"system/{key}": value for key, value in metrics.items()}, step)
            step += 1
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> SystemSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _gpu_monitors() -> list[Any]:
    import torch

    if not torch.cuda.is_available():
        return []
    try:
        from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

        return [GPUMonitor()]
    except Exception:  # needs nvidia-ml-py; without it, the hw.* tags still name the GPU
        return []


@dataclass(frozen=True)
class RunSpec:
    """One run to open: its name, params (nested, flattened for MLflow) and tags."""

    name: str
    params: Mapping[str, Any]
    tags: Mapping[str, Any]


@contextmanager
def tracked_runs(
    *,
    dataset: str,
    runs: list[RunSpec],
    system_metrics_interval_s: float | None = None,
    flush_interval_s: float = 5.0,
    enabled: bool = True,
) -> Iterator[list[TrackedRun] | list[UntrackedRun]]:
    """Open runs in the dataset's experiment, live at the same time (the seeds of one ensemble); always end
    each one FINISHED, FAILED or KILLED.

    Tags added to every run: MLflow's own (user, source), git commit and dirty flag, DVC stage and experiment,
    and the hardware fingerprint (`hw.*`). With `system_metrics_interval_s`, CPU, memory, disk, network (and
    GPU) are sampled that often (see SystemSampler).
    """
    if not enabled:
        yield [UntrackedRun() for _ in runs]
        return
    from mlflow.tracking.context.registry import resolve_tags

    try:
        client = _client()
        experiment_id = _experiment_id(client, dataset)
        # Models are logged by run id with no active run; MLflow files them under the active experiment.
        mlflow.set_experiment(experiment_id=experiment_id)
    except MlflowException as err:
        raise TrackingError(f"MLflow tracking store {tracking_uri()} cannot be used: {err}") from None
    common_tags = resolve_tags({
        **_git_tags(),
        **{f"hw.{key}": value for key, value in hardware.fingerprint().items()},
        "dataset": dataset,
        "dvc_stage": os.environ.get("DVC_STAGE", "none"),
        "dvc_experiment": os.environ.get("DVC_EXP_NAME", "none"),
        "pid": str(os.getpid()),  # with hw.host: lets a later start tell a killed process's run from a live one
        "trigger": os.environ.get("DEPTHLAB_TRIGGER", "manual"),
        "pipeline_run_id": os.environ.get("DEPTHLAB_PIPELINE_RUN_ID", "none"),
    })
    opened: list[TrackedRun] = []
    # An interrupt while the runs are created is raised once they exist, inside the try: they still end KILLED.
    try:
        with deferred():
            for spec in runs:
                tags = {**common_tags, **{key: str(value) for key, value in spec.tags.items()}}
                created = client.create_run(experiment_id, run_name=spec.name, tags=tags)
                opened.append(TrackedRun(client, created.info.run_id, flush_interval_s))
                client.log_batch(created.info.run_id, params=[Param(k, v[:6000]) for k, v in flatten(spec.params).items()])
        with SystemSampler(opened, system_metrics_interval_s) if system_metrics_interval_s else contextlib.nullcontext():
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
                client.set_terminated(run.run_id, "FINISHED")


@contextmanager
def tracked_run(*, name: str, params: Mapping[str, Any], tags: Mapping[str, Any], **options: Any) -> Iterator[TrackedRun | UntrackedRun]:
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
        except Exception as err:  # noqa: PERF203 - each run gets its chance to close
            failure = failure or err
    if failure:
        raise failure


@deferred()
def log_to_finished_run(run_id: str, metrics: Mapping[str, float], documents: Mapping[str, Any]) -> None:
    """Add later results (the evaluate stage's test metrics) to a training run without reopening it."""
    if run_id == UntrackedRun.run_id:
        return
    client = _client()
    now = int(time.time() * 1000)
    entries = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
    for start in range(0, len(entries), MAX_BATCH):
        client.log_batch(run_id, metrics=entries[start : start + MAX_BATCH])
    for artifact_file, document in documents.items():
        client.log_dict(run_id, document, artifact_file)


@deferred()
def tag_finished_runs(tags: Mapping[str, Mapping[str, str]]) -> None:
    """Tags decided after runs ended ({run id: tags}), e.g. whether the lr grid chose a run's lr."""
    client = _client()
    for run_id, run_tags in tags.items():
        if run_id != UntrackedRun.run_id:
            client.log_batch(run_id, tags=[RunTag(key, value) for key, value in run_tags.items()])


def training_runs(datasets: list[str]) -> pd.DataFrame:
    """Every evaluated training run the reports rest on (`reported`) in these datasets' experiments, labelled
    with the machine it ran on, so that runs from different machines logging to one server can be compared
    side by side."""
    client = _client()
    experiments = [e for e in (client.get_experiment_by_name(experiment_name(d)) for d in datasets) if e is not None]
    columns = ["dataset", "family", "depth", "seed", "hardware", "test_accuracy", "train_time_s"]
    if not experiments:
        return pd.DataFrame(columns=columns)
    runs = client.search_runs(
        [e.experiment_id for e in experiments],
        filter_string="tags.kind = 'training' and tags.reported = 'true' and attributes.status = 'FINISHED'",
        max_results=50_000,
    )
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        if "test_accuracy" not in metrics or "train_time_s" not in metrics:
            continue
        gpu = tags.get("hw.gpu_name", "no GPU") if tags.get("accelerator") == "cuda" else "CPU"
        hardware = f"{tags.get('hw.host', '?')}: {tags.get('hw.cpu_model', '?')}, {tags.get('hw.cpu_logical_cores', '?')} cores, {gpu}"
        rows.append([tags["dataset"], tags["family"], int(tags["depth"]), int(tags["seed"]), hardware,
                     metrics["test_accuracy"], metrics["train_time_s"]])
    return pd.DataFrame(rows, columns=columns)


PIPELINE = "pipeline"  # the experiment `depthlab-pipeline` holds one run per scheduled pipeline run


def previous_pipeline_metrics(trigger: str) -> dict[str, float]:
    """Metrics of the latest successful pipeline run with this trigger; empty if there is none."""
    client = _client()
    experiment = client.get_experiment_by_name(experiment_name(PIPELINE))
    if experiment is None:
        return {}
    previous = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.trigger = '{trigger}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return dict(previous[0].data.metrics) if previous else {}


def log_pipeline_run(
    pipeline_run_id: str,
    trigger: str,
    *,
    succeeded: bool,
    duration_s: float,
    ran: list[str],
    up_to_date: list[str],
    metrics: Mapping[str, float],
    alert: bool,
) -> None:
    """One run per pipeline run: which stages ran, which were up to date, how long, the headline metrics."""
    client = _client()
    run = client.create_run(
        _experiment_id(client, PIPELINE),
        run_name=f"pipeline-{trigger}-{pipeline_run_id}",
        tags={
            "kind": "pipeline", "trigger": trigger, "pipeline_run_id": pipeline_run_id, "alert": str(alert).lower(),
            "stages_ran": ",".join(ran)[:5000] or "none", "stages_up_to_date": ",".join(up_to_date)[:5000] or "none",
            **_git_tags(), **{f"hw.{key}": value for key, value in hardware.fingerprint().items()},
        },
    )
    now = int(time.time() * 1000)
    entries = [Metric(key, float(value), now, 0) for key, value in {**metrics, "duration_s": duration_s,
               "stages_ran": len(ran), "stages_up_to_date": len(up_to_date)}.items()]
    client.log_batch(run.info.run_id, metrics=entries)
    client.set_terminated(run.info.run_id, "FINISHED" if succeeded else "FAILED")
