"""Shared fixtures: the project's real params.yaml made tiny, real prepared data, a real SQLite MLflow store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from depthlab.params import Params
from tests.helpers.params import make_params


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
