"""Shared fixtures: the project's real params.yaml made tiny, real prepared data, a real SQLite MLflow store."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from depthlab.families import FAMILIES
from depthlab.params import Params
from depthlab.presets import merged

ROOT = Path(__file__).resolve().parents[1]

# A few steps on a small MNIST-1D: every stage runs for real in seconds.
NO_SWEEP = {family: {"datasets": [], "depths": []} for family in FAMILIES}
TINY = {
    "data": {"datasets": ["mnist1d"], "mnist1d": {"num_samples": 1000}},
    "train": {"seeds": [0, 1], "max_steps": 30, "lr": [0.01], "selection": {"seeds": 1, "max_steps": 30}},
    "sweep": {**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0, 1]}},
    "evaluate": {"latency_samples": 10},
    "tracking": {"system_metrics_interval_s": 0.2, "flush_interval_s": 1.0},
}


def raw_params(**overrides: Any) -> dict[str, Any]:
    """The repository's params.yaml with the tiny profile and any overrides applied."""
    return merged(merged(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY), overrides)


def corrupt_user_dataset(project: Path) -> dict[str, Any]:
    """A user CSV with an infinite feature in the project's data/raw/, and raw params that study only it."""
    rows = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(60))
    (project / "data" / "raw" / "user.csv").write_text("a,b,label\n" + rows + "inf,1,0\n")
    user = {"path": "data/raw/user.csv", "label_column": "label", "standardize": False}
    return raw_params(data={"datasets": ["user"], "csv": {"user": user}}, sweep={"mlp": {"datasets": ["user"]}})


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
    prepare(tiny_params.data, "mnist1d", out)
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_params: Params, prepared: Path) -> Path:
    """mlp depths 0 and 1 trained over the tiny profile's seeds, tracked in the session's store."""
    from depthlab.training import train_family

    out = tmp_path_factory.mktemp("models") / "mlp"
    train_family(tiny_params, "mlp", {"mnist1d": prepared}, out)
    return out / "mnist1d"
