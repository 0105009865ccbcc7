"""Shared fixtures: the project's real params.yaml made tiny, real prepared data, a real SQLite MLflow store."""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from depthlab.params import Params

ROOT = Path(__file__).resolve().parents[1]

# A few steps on a small MNIST-1D: every stage runs for real in seconds.
TINY = {
    "data": {"mnist1d": {"num_samples": 1000}},
    "train": {"seeds": [0, 1], "max_steps": 30},
    "sweep": {"mlp": [0, 1]},
    "evaluate": {"latency_samples": 10},
    "tracking": {"system_metrics_interval_s": 0.2, "flush_interval_s": 1.0},
}


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def raw_params(**overrides: Any) -> dict[str, Any]:
    """The repository's params.yaml with the tiny profile and any overrides applied."""
    return merged(merged(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY), overrides)


def make_params(**overrides: Any) -> Params:
    return Params.model_validate(raw_params(**overrides))


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real SQLite store for the session (creating its tables takes over a second)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture(scope="session")
def tiny_params() -> Params:
    return make_params()


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, tiny_params: Params) -> Path:
    """Tiny MNIST-1D prepared once for the session; tests that damage data copy it first."""
    from depthlab.data import prepare

    out = tmp_path_factory.mktemp("data") / "prepared"
    prepare(tiny_params.data, out)
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_params: Params, prepared: Path) -> Path:
    """mlp depth 1 trained over the tiny profile's seeds, tracked in the session's store."""
    from depthlab.training import train_point

    out = tmp_path_factory.mktemp("models") / "mlp-d1"
    train_point(tiny_params, "mlp", 1, prepared, out)
    return out
