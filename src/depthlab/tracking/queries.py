"""What the report and the scheduler read back from the store, and the scheduler's own record of a run."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping

import pandas as pd
from mlflow.entities import Metric

from depthlab.tracking.store import PIPELINE, client, experiment_id, experiment_name, machine_tags


def runs_by_machine(datasets: list[str]) -> pd.DataFrame:
    """Every evaluated training run the reports rest on (`reported`) in these datasets' experiments, whatever
    workspace logged it, labelled with the machine it ran on and the protocol it followed, so that runs from
    different machines logging to one server can be compared like with like (claim 7)."""
    store = client()
    experiments = [e for e in (store.get_experiment_by_name(experiment_name(d)) for d in datasets) if e is not None]
    columns = ["machine", "protocol", "dataset", "family", "depth", "seed", "test_accuracy", "train_time_s"]
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
        rows.append([
            machine_of(tags), protocol_of(tags, run.data.params), tags["dataset"], tags["family"],
            int(tags["depth"]), int(tags["seed"]), metrics["test_accuracy"], metrics["train_time_s"],
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def machine_of(tags: Mapping[str, str]) -> str:
    """The hardware a run trained on, not a host name (one machine under two names is one machine, and two
    workspaces on one host that train on different devices are two): on CUDA the GPU (or its MIG slice); on
    the CPU its model and the torch threads the run had, the share of the CPU it used."""
    if tags.get("accelerator") == "cuda":
        mig = " (a MIG slice)" if tags.get("hw.gpu_mig") == "enabled" else ""
        return f"{tags.get('hw.gpu_name', 'a GPU')}{mig}"
    threads = tags.get("torch_threads", "?")
    return f"{tags.get('hw.cpu_model', 'a CPU')}, {threads} thread{'s' if threads != '1' else ''}"


def protocol_of(tags: Mapping[str, str], params: Mapping[str, str]) -> str:
    """What must be equal for two runs to be compared: the commit, the data's digest, and every param that
    shapes training but the device (steps, batch, weight decay, shuffling, the lr grid, the model, the data's
    settings). Shown as the commit and a digest of the rest."""
    shaping = {
        key: value
        for key, value in params.items()
        if (key.startswith(("train.", "model.", "data.")) and key != "train.accelerator") or key == "lr_grid"
    }
    shaping["dataset_digest"] = tags.get("dataset_digest", "?")
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:8]
    return f"{tags.get('git_commit', 'unknown')[:8]}-{digest}"


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
