"""The Model Registry: one registered model per dataset, `depthlab-<dataset>`, whose alias `champion` marks
the version that stands for the dataset's best configuration (`depthlab.champions` decides when it moves).
Load it with `mlflow.pyfunc.load_model("models:/depthlab-<dataset>@champion")`."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.exceptions import MlflowException

from depthlab.interrupts import deferred
from depthlab.tracking.store import client

CHAMPION = "champion"


def registered_model_name(dataset: str) -> str:
    return f"depthlab-{dataset}"


def registered_champion(dataset: str) -> tuple[str, dict[str, str]] | None:
    """(version, its tags) of the dataset's champion; None before the first one."""
    try:
        version = client().get_model_version_by_alias(registered_model_name(dataset), CHAMPION)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # no model, or no alias yet
            return None
        raise
    return version.version, dict(version.tags)


@deferred()
def register_champion(dataset: str, run_id: str, tags: Mapping[str, str], description: str) -> str | None:
    """Register the model logged by `run_id` as a new version of the dataset's model and move `champion` to it;
    the version, or None when this store does not hold the run (its outputs were pulled from a DVC remote)."""
    store = client()
    try:
        run = store.get_run(run_id)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    (logged,) = run.outputs.model_outputs  # a training run logs one model
    name = registered_model_name(dataset)
    try:
        store.create_registered_model(name, tags={"dataset": dataset}, description=description)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = store.create_model_version(
        name, source=f"models:/{logged.model_id}", run_id=run_id, tags=dict(tags), model_id=logged.model_id
    )
    store.set_registered_model_alias(name, CHAMPION, version.version)
    return version.version
