"""The champion rule on tables made by hand, and the Model Registry in a real SQLite store of its own."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from depthlab import champions
from depthlab.data import load_arrays, load_meta
from depthlab.evaluation import evaluate_family
from depthlab.report import write_report
from depthlab.summary import Summary

CONFIGURATIONS = pd.DataFrame(
    [  # dataset, family, depth, lr, param_count, seeds, accuracy, its interval
        ("d", "mlp", 4, 0.01, 9000, 3, 0.90, 0.85, 0.95),
        ("d", "mlp", 1, 0.01, 3000, 3, 0.88, 0.86, 0.90),  # inside the best's interval, a third of its parameters
        ("d", "mlp", 0, 0.01, 400, 3, 0.70, 0.69, 0.71),  # fewer still, but clearly worse
        ("e", "cnn", 2, 0.003, 500, 3, math.nan, math.nan, math.nan),  # every seed diverged
    ],
    columns=["dataset", "family", "depth", "lr", "param_count", "seeds", "accuracy", "accuracy_low", "accuracy_high"],
)
SEEDS = pd.DataFrame(
    [("d", "mlp", 1, seed, 0.86 + 0.02 * seed, f"run-{seed}", seed == 1) for seed in range(3)],
    columns=["dataset", "family", "depth", "seed", "test_accuracy", "run_id", "representative"],
)


def test_a_smaller_configuration_inside_the_best_ones_interval_is_the_champion_with_its_representative_seed():
    champion = champions.candidate(CONFIGURATIONS, SEEDS, "d")
    assert (champion.configuration, champion.param_count, champion.seed, champion.run_id) == (
        "mlp-d1",
        3000,
        1,
        "run-1",
    )
    assert champion.seed_accuracy == pytest.approx(0.88)
    assert champions.Champion.from_tags({**champion.tags(), "report_run_id": "x"}) == champion
    assert champions.candidate(CONFIGURATIONS, SEEDS, "e") is None


def test_the_alias_moves_only_above_the_registered_champions_interval_and_never_on_a_regression():
    registered = champions.candidate(CONFIGURATIONS, SEEDS, "d")  # 88% [86, 90]
    assert champions.decide(registered, None, None).moves
    assert not champions.decide(registered, registered, None).moves
    inside = replace(registered, depth=2, run_id="other", accuracy=0.899)
    outside = replace(inside, accuracy=0.91)
    assert not champions.decide(inside, registered, None).moves
    decision = champions.decide(outside, registered, None)
    assert decision.moves and "91.0% is above the registered mlp-d1's interval (up to 90.0%)" in decision.reason
    regressed = champions.decide(outside, registered, "best_accuracy.d: 0.95 -> 0.91")
    assert not regressed.moves and "regressed" in regressed.reason
    assert not champions.decide(None, registered, None).moves


@pytest.fixture
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A store of this test's own: the registry's aliases must not see the session store's other reports."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return MlflowClient(uri)


def test_the_champion_loads_by_alias_and_predicts_the_test_split_with_its_recorded_accuracy(
    own_store, tiny_params, prepared, tmp_path
):
    from depthlab.training import train_family

    train_family(tiny_params, "mlp", {"mnist1d": prepared}, tmp_path / "models")
    evaluate_family(
        tiny_params, "mlp", {"mnist1d": prepared}, tmp_path / "models", tmp_path / "metrics", tmp_path / "eval" / "mlp"
    )
    write_report(tiny_params, tmp_path / "eval", tmp_path / "reports")
    version = own_store.get_model_version_by_alias("depthlab-mnist1d", "champion")
    report = own_store.search_runs([own_store.get_experiment_by_name("depthlab-study").experiment_id])[0]
    assert version.tags["report_run_id"] == report.info.run_id and version.tags["why"] == "the first champion"
    assert report.data.tags["champion.mnist1d"] == "moved"
    description = report.data.tags["mlflow.note.content"]  # the verdicts, linked to the report, and the champion
    assert "| 1 | " in description and f"[claims.html](#/experiments/{report.info.experiment_id}/runs/" in description
    assert "- [depthlab-mnist1d](#/models/depthlab-mnist1d)@champion moved: the first champion." in description
    assert {a.path for a in own_store.list_artifacts(report.info.run_id, "report")} >= {
        "report/claims.html",
        "report/summary.csv",
        "report/plots",
    }

    model = mlflow.pyfunc.load_model("models:/depthlab-mnist1d@champion")
    x, y = load_arrays(prepared, "test", load_meta(prepared))
    accuracy = float((np.asarray(model.predict(x)).argmax(axis=1) == y).mean())
    summary = Summary.read(tmp_path / "eval" / "mlp" / "mnist1d" / "summary.json")
    seed = (
        summary.at(tiny_params.train.main_cell).depths[int(version.tags["depth"])].per_seed[int(version.tags["seed"])]
    )
    assert accuracy == seed.test_accuracy == float(version.tags["seed_accuracy"])
    assert seed.run_id == version.run_id

    write_report(tiny_params, tmp_path / "eval", tmp_path / "reports")  # the same results again: the alias stays
    again = own_store.get_model_version_by_alias("depthlab-mnist1d", "champion")
    assert again.version == version.version

    for key, value in {"depth": "7", "run_id": "an-older-run", "accuracy_high": "0.05"}.items():  # a weak champion
        own_store.set_model_version_tag("depthlab-mnist1d", version.version, key, value)
    write_report(tiny_params, tmp_path / "eval", tmp_path / "reports")
    moved = own_store.get_model_version_by_alias("depthlab-mnist1d", "champion")
    assert int(moved.version) == int(version.version) + 1 and "above the registered" in moved.tags["why"]
