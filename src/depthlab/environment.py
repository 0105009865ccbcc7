"""The environment variables depthlab reads, named in one place. The scheduler sets the first two for every
stage of its `dvc repro`, so that each MLflow run says what started it and the report knows a scheduled run."""

from __future__ import annotations

import os

TRIGGER = "DEPTHLAB_TRIGGER"  # what started the pipeline run: schedule, or manual (unset)
PIPELINE_RUN_ID = "DEPTHLAB_PIPELINE_RUN_ID"  # the scheduled run's id, on every MLflow run it makes
EXECUTOR = "DEPTHLAB_EXECUTOR"  # where train stages run: local or ray (see depthlab.cluster)


def trigger() -> str:
    return os.environ.get(TRIGGER, "manual")


def pipeline_run_id() -> str:
    return os.environ.get(PIPELINE_RUN_ID, "none")
