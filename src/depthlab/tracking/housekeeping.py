"""Runs left RUNNING by processes that are gone (SIGKILL, a crash, a power cut) are closed at the next start."""

from __future__ import annotations

from mlflow import MlflowClient

from depthlab import hardware
from depthlab.interrupts import deferred
from depthlab.tracking.store import client, experiment_id


def prepare_experiment(dataset: str) -> None:
    """Before a stage's runs start: close runs orphaned by killed processes, and create the store's tables and
    the dataset's experiment up front, before parallel writers start."""
    # Ctrl-C in the middle of MLflow creating a fresh database's tables leaves it unusable for good
    # ("table _alembic_tmp_experiments already exists"): interrupts wait until this is done.
    with deferred():
        store = client()
        end_orphaned_runs(store)
        experiment_id(store, dataset)


def end_orphaned_runs(store: MlflowClient) -> list[str]:
    """Runs still RUNNING whose process on this host is gone end FAILED with the reason in their `error` tag;
    return their ids. Runs of live processes and of other hosts are left."""
    import psutil

    experiments = [e.experiment_id for e in store.search_experiments(filter_string="name LIKE 'depthlab-%'")]
    if not experiments:
        return []
    host = hardware.fingerprint()["host"]
    ended = []
    for run in store.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=10_000):
        tags = run.data.tags
        if tags.get("hw.host") != host or not tags.get("pid", "").isdigit():
            continue
        pid = int(tags["pid"])
        try:
            alive = psutil.Process(pid).create_time() * 1000 <= run.info.start_time + 1000
        except psutil.NoSuchProcess:
            alive = False
        if not alive:
            reason = (
                f"process {pid} on {host} ended without closing the run "
                "(killed with SIGKILL, crashed or the machine stopped); closed by a later pipeline start"
            )
            store.set_tag(run.info.run_id, "error", reason)
            store.set_terminated(run.info.run_id, "FAILED")
            ended.append(run.info.run_id)
    return ended
