"""The one package that knows MLflow: where runs go, how they are named and tagged, and batched metrics.

Default store: `sqlite:///<project>/mlflow.db` with artifacts in `<project>/mlartifacts`; the environment
variable MLFLOW_TRACKING_URI (a server, say) overrides both. Runs always end in a final status: FINISHED,
FAILED (with the error in the `error` tag) or KILLED.

One module a job: `store` (location, experiments, names), `housekeeping` (runs orphaned by killed
processes), `run` (`Run`, what every kind of run does), `runs` (the run lifecycle with buffered metrics),
`system_metrics` (the sampler), `models` (model logging), `registry` (the champion per dataset), `queries` (what
the report and the scheduler read back, and the scheduler's own runs), `reproduction` (what
`depthlab.reproduce` reads and records).
Nothing outside this package imports mlflow.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is first imported

from depthlab.tracking.housekeeping import end_orphaned_runs, prepare_experiment
from depthlab.tracking.queries import log_pipeline_run, previous_pipeline_metrics, runs_by_machine
from depthlab.tracking.registry import CHAMPION, register_champion, registered_champion, registered_model_name
from depthlab.tracking.reproduction import log_reproduction, recorded_run, recorded_weights
from depthlab.tracking.run import Run
from depthlab.tracking.runs import (
    RecordedRun,
    RunSpec,
    TrackedRun,
    UntrackedRun,
    describe_datasets,
    log_class_results,
    log_to_finished_run,
    replay_runs,
    tag_finished_runs,
    tracked_run,
    tracked_runs,
)
from depthlab.tracking.store import (
    PIPELINE,
    check_reachable,
    experiment_name,
    flatten,
    import_store_modules,
    run_name,
    tracking_uri,
    ui_link,
)
from depthlab.tracking.system_metrics import SystemSampler

__all__ = [
    "CHAMPION",
    "PIPELINE",
    "RecordedRun",
    "Run",
    "RunSpec",
    "SystemSampler",
    "TrackedRun",
    "UntrackedRun",
    "check_reachable",
    "describe_datasets",
    "end_orphaned_runs",
    "experiment_name",
    "flatten",
    "import_store_modules",
    "log_class_results",
    "log_pipeline_run",
    "log_reproduction",
    "log_to_finished_run",
    "prepare_experiment",
    "previous_pipeline_metrics",
    "recorded_run",
    "recorded_weights",
    "register_champion",
    "registered_champion",
    "registered_model_name",
    "replay_runs",
    "run_name",
    "runs_by_machine",
    "tag_finished_runs",
    "tracked_run",
    "tracked_runs",
    "tracking_uri",
    "ui_link",
]
