"""The parallel-seeds path against a fresh SQLite store: no 'database is locked', no lost run or metric."""
from mlflow import MlflowClient

from depthlab import tracking
from depthlab.training import train_point, worker_count
from tests.conftest import make_params


def test_parallel_seeds_on_a_fresh_store_lose_nothing(tmp_path, prepared, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    params = make_params(train={"seeds": [0, 1, 2, 3], "max_steps": 40, "workers": 2})
    assert worker_count(params.train) == 2
    trained = train_point(params, "mlp", 0, prepared, tmp_path / "mlp-d0")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.experiment_name("mnist1d"))
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"mlp-d0-s{seed}" for seed in range(4)]
    assert {r.info.run_id for r in runs} == {t.run_id for t in trained}
    epochs = -(-40 // 8)  # 720 training rows at batch 100: 8 steps an epoch
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val_acc")) == epochs
        assert run.data.tags["hw.cpu_model"]
