"""The project's real params.yaml made tiny: every stage runs for real in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from depthlab.families import FAMILIES
from depthlab.params import Params
from depthlab.presets import merged
from tests.helpers.project import ROOT

NO_SWEEP = {family: {"datasets": [], "depths": []} for family in FAMILIES}
TINY = {
    "data": {"datasets": ["mnist1d"], "mnist1d": {"num_samples": 1000}},
    "train": {"seeds": [0, 1], "max_steps": 30, "lr": [0.01], "selection": {"seeds": [100], "max_steps": 30}},
    "sweep": {**NO_SWEEP, "mlp": {"datasets": ["mnist1d"], "depths": [0, 1]}},
    "evaluate": {"latency_samples": 10},
    "tracking": {"system_metrics_interval_s": 0.2, "flush_interval_s": 1.0},
}


# The worked example (examples/resnet.py) as a family of the user's, trained on the tiny profile's MNIST-1D.
USER_FAMILY = {
    "models": {
        "resnet": {
            "class_path": "examples.resnet.ResNet",
            "init_args": {"width": 4},
            "depth_arg": "blocks",
            "article_type": "convolutional (residual)",
        }
    },
    "sweep": {"resnet": {"datasets": ["mnist1d"], "depths": [0, 1]}},
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


def family_config(family: str, **changes: Any) -> Any:
    """A family's architecture as params.yaml sets it, with `changes`."""
    return getattr(make_params().models, family).model_copy(update=changes)
