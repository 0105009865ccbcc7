import json
from dataclasses import asdict

from mlflow import MlflowClient

from depthlab import tracking
from depthlab.training import train_family
from tests.helpers.params import NO_SWEEP, make_params


def test_a_finished_ensemble_in_the_cache_is_reused_by_the_next_run(tmp_path, prepared, capfd):
    """The same stage run twice: the second trains nothing, opens no run, and writes the same outputs."""
    params = make_params(
        train={"seeds": [0, 1], "lr": [0.001, 0.03], "selection": {"seeds": [100], "max_steps": 30}},
        sweep={**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [1]}},
    )
    cache = tmp_path / "cache"
    client = MlflowClient(tracking.tracking_uri())

    def train(out: str) -> tuple[list[dict], dict[str, bytes], int]:
        trained = train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / out, cache)["mnist1d"]
        models = tmp_path / out / "mnist1d"
        checkpoints = {path.relative_to(models).as_posix(): path.read_bytes() for path in models.rglob("*.ckpt")}
        experiment = client.get_experiment_by_name(tracking.experiment_name("mnist1d"))
        runs = len(client.search_runs([experiment.experiment_id], max_results=50_000))
        return [asdict(t) for t in trained], checkpoints, runs

    first, first_checkpoints, runs_after_first = train("first")
    assert len(first) == 4 and len(first_checkpoints) == 4  # seed 100 at both lrs (the grid), 0 and 1 at the chosen
    cached = sorted(path.name for path in cache.iterdir())
    assert len(cached) == 2 * 4 and not any(name.endswith(".state") for name in cached)
    capfd.readouterr()

    second, second_checkpoints, runs_after_second = train("second")
    printed = capfd.readouterr().out
    assert "trained before with the same params, data and code: reused" in printed and "step " not in printed
    assert second == first, "the same runs, their ids included"
    assert second_checkpoints == first_checkpoints
    assert runs_after_second == runs_after_first, "no run opened"
    assert json.loads((tmp_path / "second" / "mnist1d" / "runs.json").read_text()) == json.loads(
        (tmp_path / "first" / "mnist1d" / "runs.json").read_text()
    )
    assert sorted(path.name for path in cache.iterdir()) == cached, "what the run used is kept, nothing else"
