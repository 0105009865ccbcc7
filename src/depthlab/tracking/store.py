"""Where runs go and what they are called: the store's URI, experiments with their UI tags, run names, and
the tags every run shares (git commit, hardware)."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from depthlab import hardware
from depthlab.errors import TrackingError

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
PIPELINE = "pipeline"  # the experiment `depthlab-pipeline` holds one run per scheduled pipeline run

logging.getLogger("mlflow").setLevel(logging.WARNING)
# MLflow's caution about the pickle format, printed every run: the format is chosen in params.yaml, whose
# comment and docs/tracking.md say what it means.
logging.getLogger("mlflow.pytorch").addFilter(lambda record: "by Pickle or CloudPickle" not in record.getMessage())


@contextmanager
def without_advice() -> Iterator[None]:
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


def import_store_modules() -> None:
    """Import the database store's code (SQLAlchemy, Alembic: about a second) without connecting, so that
    processes forked from here inherit it rather than each importing its own."""
    if tracking_uri().startswith(("sqlite:", "postgresql", "mysql", "mssql")):  # not a server's REST API
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


def client() -> MlflowClient:
    mlflow.set_tracking_uri(tracking_uri())
    return MlflowClient()


def experiment_id(store: MlflowClient, dataset: str) -> str:
    """Get or create the dataset's experiment; safe when several processes race to create it."""
    name = experiment_name(dataset)
    existing = store.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = artifacts_beside_database(tracking_uri())
    try:
        return store.create_experiment(name, artifact_location=location, tags=_experiment_tags(dataset))
    except MlflowException:
        existing = store.get_experiment_by_name(name)
        if existing is None:
            raise
        return existing.experiment_id


def _experiment_tags(dataset: str) -> dict[str, str]:
    """What the MLflow UI shows an experiment as: one of model training (not the GenAI view it opens in
    otherwise), with a description on its overview."""
    if dataset == "study":
        note = (
            "depthlab's claims reports: one `report` run per `dvc repro`, the verdicts as `claim_N` tags, the "
            "report's files as artifacts; each dataset's champion is in the Model Registry as `depthlab-<dataset>`."
        )
    elif dataset == PIPELINE:
        note = "depthlab's scheduled pipeline runs: the stages that ran, how long, each dataset's best accuracy."
    else:
        note = (
            f"depthlab's training runs on {dataset}: one run per (family, depth, seed, lr). "
            "`tags.reported = 'true'` shows the runs the claims report rests on; `tags.phase = 'grid'` the runs "
            "that chose each configuration's lr (`selected` marks the chosen one); `tags.representative = 'true'` "
            "each configuration's median seed, with its per-class table and confusion matrix. Group by the `depth` "
            "or `family` tag to see a configuration's seeds together."
        )
    return {"dataset": dataset, "mlflow.experimentKind": "custom_model_development", "mlflow.note.content": note}


def ui_link(experiment: str, run_id: str, artifact: str) -> str:
    """A run's artifact as a link inside the MLflow UI (the UI routes after `#`), for run descriptions."""
    return f"#/experiments/{experiment}/runs/{run_id}/artifacts/{artifact}"


def artifacts_beside_database(uri: str) -> str | None:
    """For a SQLite store, artifacts go to `mlartifacts/` next to the .db file; a server decides for itself."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


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


def machine_tags() -> dict[str, str]:
    """The commit the runs come from and the hardware fingerprint (`hw.*`)."""
    hw = {f"hw.{key}": value for key, value in hardware.fingerprint().items()}
    return {**_git_tags_of(project_root()), **hw}


@functools.cache
def _git_tags_of(root: Path) -> dict[str, str]:
    """Asked once per process: a stage's runs share one commit."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
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
