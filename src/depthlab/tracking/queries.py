"""What the report and the scheduler read back from the store, and the scheduler's own record of a run."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
from mlflow.entities import Metric

from depthlab.tracking.store import PIPELINE, client, experiment_id, experiment_name, machine_tags


def runs_by_machine(datasets: list[str]) -> pd.DataFrame:
    """Every evaluated training run the reports rest on (`reported`) in these datasets' experiments, labelled
    with the machine it ran on, so that runs from different machines logging to one server can be compared
    side by side (claim 7)."""
    store = client()
    experiments = [e for e in (store.get_experiment_by_name(experiment_name(d)) for d in datasets) if e is not None]
    columns = ["dataset", "family", "depth", "seed", "hardware", "test_accuracy", "train_time_s"]
    if not experiments:
        return pd.DataFrame(columns=columns)
    runs = store.search_runs(
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
        cores = tags.get("hw.cpu_logical_cores", "?")
        machine = f"{tags.get('hw.host', '?')}: {tags.get('hw.cpu_model', '?')}, {cores} cores, {gpu}"
        rows.append([
            tags["dataset"], tags["family"], int(tags["depth"]), int(tags["seed"]), machine,
            metrics["test_accuracy"], metrics["train_time_s"],
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def previous_pipeline_metrics(trigger: str) -> dict[str, float]:
    """Metrics of the latest successful pipeline run with this trigger; empty if there is none."""
    store = client()
    experiment = store.get_experiment_by_name(experiment_name(PIPELINE))
    if experiment is None:
        return {}
    previous = store.search_runs(
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
    tags: Mapping[str, str] | None = None,
) -> None:
    """One run per pipeline run: which stages ran, which were up to date, how long, the headline metrics."""
    store = client()
    run = store.create_run(
        experiment_id(store, PIPELINE),
        run_name=f"pipeline-{trigger}-{pipeline_run_id}",
        tags={
            "kind": "pipeline",
            "trigger": trigger,
            "pipeline_run_id": pipeline_run_id,
            "alert": str(alert).lower(),
            "stages_ran": ",".join(ran)[:5000] or "none",
            "stages_up_to_date": ",".join(up_to_date)[:5000] or "none",
            **machine_tags(),
            **(tags or {}),
        },
    )
    counts = {"duration_s": duration_s, "stages_ran": len(ran), "stages_up_to_date": len(up_to_date)}
    now = int(time.time() * 1000)
    store.log_batch(
        run.info.run_id, metrics=[Metric(key, float(value), now, 0) for key, value in {**metrics, **counts}.items()]
    )
    store.set_terminated(run.info.run_id, "FINISHED" if succeeded else "FAILED")
