"""What `depthlab.reproduce` reads back about a recorded run, and its own record of the attempt."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from depthlab.errors import TrackingError
from depthlab.tracking.store import client, experiment_id, machine_tags, tracking_uri


def recorded_run(run_id: str) -> dict[str, Any]:
    """The run's params, tags and metrics, as the store holds them."""
    try:
        run = client().get_run(run_id)
    except MlflowException:
        raise TrackingError(f"run {run_id} is not in the tracking store {tracking_uri()}") from None
    return {"name": run.info.run_name, "params": run.data.params, "tags": run.data.tags, "metrics": run.data.metrics}


def recorded_weights(run_id: str) -> dict[str, Any]:
    """The weights of the model the run logged (its `model` artifact)."""
    import mlflow.pytorch

    return mlflow.pytorch.load_model(f"runs:/{run_id}/model", map_location="cpu").state_dict()


def log_reproduction(
    original: Mapping[str, Any],
    run_id: str,
    outcome: str,
    comparison: list[dict[str, Any]],
    metrics: Mapping[str, float],
) -> str:
    """A `reproduction` run beside the original, linked by its `reproduces` tag; its id."""
    store = client()
    dataset = original["tags"]["dataset"]
    run = store.create_run(
        experiment_id(store, dataset),
        run_name=f"reproduce-{original['name']}",
        tags={"kind": "reproduction", "reproduces": run_id, "outcome": outcome, "dataset": dataset, **machine_tags()},
    )
    now = int(time.time() * 1000)
    store.log_batch(run.info.run_id, metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()])
    store.log_dict(
        run.info.run_id, {"reproduces": run_id, "outcome": outcome, "comparison": comparison}, "reproduction.json"
    )
    store.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
