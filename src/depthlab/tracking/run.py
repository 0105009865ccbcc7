"""What a training run is to the code that fills it: `Run`, the interface the three kinds of run share (a live
MLflow run, a run recorded for replay elsewhere, and the stand-in used when tracking is off), so that training
takes any of them without knowing which."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from torch import nn


@runtime_checkable
class Run(Protocol):
    """A run being filled: `TrackedRun` (live in MLflow), `RecordedRun` (its calls kept, made real later by
    `replay_runs`) or `UntrackedRun` (nothing kept: `tracking.enabled` is false)."""

    @property
    def run_id(self) -> str: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None: ...

    def set_tags(self, tags: Mapping[str, Any]) -> None: ...

    def log_inputs(self, inputs: list[Any]) -> None: ...

    def log_model(self, net: nn.Module, example: np.ndarray, serialization_format: str) -> None: ...

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None: ...
