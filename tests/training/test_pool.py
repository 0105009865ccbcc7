"""The parallel-seeds path against a fresh SQLite store: no 'database is locked', no lost run or metric."""

import multiprocessing
import os
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from depthlab import tracking
from depthlab.training import train_family, worker_count
from tests.helpers.params import NO_SWEEP, make_params


@pytest.fixture
def fresh_store(tmp_path, monkeypatch):
    """A store of the test's own. The stage points MLflow's global URI at it (`tracking.client`), so the
    session's store is pointed at again afterwards, for the tests that follow."""
    session = os.environ["MLFLOW_TRACKING_URI"]
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    yield uri
    mlflow.set_tracking_uri(session)


def test_parallel_seeds_on_a_fresh_store_lose_nothing(tmp_path, prepared, fresh_store):
    uri = fresh_store
    params = make_params(
        train={"seeds": [0, 1], "max_steps": 40},
        runtime={"workers": 2},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0, 2]}},
    )
    assert worker_count(params.runtime, 4) == 2
    trained = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "mlp")["mnist1d"]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.experiment_name("mnist1d"))
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["mlp-d0-s0", "mlp-d0-s1", "mlp-d2-s0", "mlp-d2-s1"]
    assert {r.info.run_id for r in runs} == {t.run_id for t in trained}
    epochs = -(-40 // 8)  # 720 training rows at batch 100: 8 steps an epoch
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val_acc")) == epochs
        assert run.data.tags["hw.cpu_model"]


def _log_same_new_dataset(uri: str, barrier, errors, name: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        inputs = tracking.describe_datasets(
            {"train": (pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]}), 2, Path("train.parquet"), "training")},
            name,
            "0123456789abcdef",
            {},
        )
        with tracking.tracked_run(dataset="race", name="racer", params={}, tags={}) as run:
            barrier.wait()
            run.log_inputs(inputs)
    except Exception as err:  # reported to the parent, which asserts none happened
        errors.put(f"{type(err).__name__}: {err}")


def test_workers_logging_the_same_new_dataset_at_once_do_not_collide(tmp_path):
    """MLflow's SQLite store creates a dataset row with a non-atomic get-or-create: racing workers collide."""
    uri = f"sqlite:///{tmp_path / 'race.db'}"
    context = multiprocessing.get_context("fork")
    tracking_setup = context.Process(target=_prepare, args=(uri,))
    tracking_setup.start()
    tracking_setup.join()
    errors = context.Queue()
    for round_ in range(3):
        barrier = context.Barrier(4)
        workers = [
            context.Process(target=_log_same_new_dataset, args=(uri, barrier, errors, f"fresh-{round_}"))
            for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    assert errors.empty(), errors.get()
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(tracking.experiment_name("race")).experiment_id])
    assert len(runs) == 12 and all(len(r.inputs.dataset_inputs) == 1 for r in runs)


def _prepare(uri: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    tracking.prepare_experiment("race")


def test_the_default_worker_count_is_a_process_per_core_or_two_per_gpu():
    import os

    default = make_params(runtime={"workers": 0}).runtime
    cores = os.cpu_count() or 1
    assert worker_count(default, 100) == cores and worker_count(default, 1) == 1
    assert worker_count(default, 100, gpus=1) == min(cores, 2) and worker_count(default, 100, gpus=8) == min(cores, 16)
    assert worker_count(make_params(runtime={"workers": 3}).runtime, 100, gpus=1) == 3  # asked for: as asked
