"""params.yaml, read once into typed models; every stage takes its slice.

Unknown keys, wrong types and impossible values are errors that name the key, never silent defaults.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from depthlab.errors import ParamsError
from depthlab.families import FAMILIES
from depthlab.schema import StrictModel

PARAMS_FILE = Path("params.yaml")

# The shape of one sample each source produces; families declare which shapes they accept.
SOURCE_KINDS = {"mnist1d": "sequence", "digits": "image", "csv": "tabular"}


class Mnist1dParams(StrictModel):
    num_samples: int = Field(5000, ge=100, description="generated samples, train + test")
    generator_seed: int = Field(42, description="42 reproduces the official frozen MNIST-1D data")
    train_split: float = Field(0.8, gt=0, lt=1, description="the generator's own train/test split")


class CsvParams(StrictModel):
    path: Path | None = None
    label_column: str = "label"


class DataParams(StrictModel):
    source: Literal["mnist1d", "digits", "csv"] = "mnist1d"
    split_seed: int = 0
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="digits and csv; mnist1d splits itself")
    mnist1d: Mnist1dParams = Mnist1dParams()
    csv: CsvParams = CsvParams()

    @model_validator(mode="after")
    def _csv_needs_a_path(self) -> DataParams:
        if self.source == "csv" and self.csv.path is None:
            raise ValueError("data.source is 'csv' but data.csv.path is not set")
        return self


class ValidationParams(StrictModel):
    max_abs_feature: float = Field(1e6, gt=0, description="any |feature| above this is corrupt")
    min_rows: int = Field(10, ge=1, description="fewest rows allowed in any split")
    min_class_share_ratio: float = Field(
        0.5, ge=0, le=1, description="each class's share of a split >= ratio / number of classes"
    )
    max_class_share_ratio: float = Field(
        2.0, ge=1, description="each class's share of a split <= ratio / number of classes"
    )


class TrainParams(StrictModel):
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    max_steps: int = Field(2000, gt=0)
    batch_size: int = Field(100, gt=0)
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    shuffle: bool = Field(True, description="reshuffle training batches every epoch")
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    workers: int = Field(0, ge=0, description="parallel processes for the seeds of a stage; 0 = one per CPU core")
    threads: int = Field(0, ge=0, description="torch threads per training process; 0 = CPU cores / workers")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds


class EvaluateParams(StrictModel):
    latency_samples: int = Field(200, gt=0, description="single-sample forward passes timed")


class TrackingParams(StrictModel):
    enabled: bool = Field(True, description="false: train and evaluate without recording anything in MLflow")
    system_metrics_interval_s: float = Field(1.0, gt=0, description="MLflow system metrics sampling")
    flush_interval_s: float = Field(5.0, gt=0, description="buffered metrics reach MLflow this often")


Depth = Annotated[int, Field(ge=0)]

# One field per registered family, so a new family needs no change here.
ModelsParams = create_model(
    "ModelsParams",
    __base__=StrictModel,
    **{name: (family.config, family.config()) for name, family in FAMILIES.items()},
)
SweepParams = create_model(
    "SweepParams",
    __base__=StrictModel,
    **{name: (list[Depth], []) for name in FAMILIES},
)


class Params(StrictModel):
    data: DataParams
    validation: ValidationParams
    train: TrainParams
    models: ModelsParams  # type: ignore[valid-type]
    sweep: SweepParams  # type: ignore[valid-type]
    evaluate: EvaluateParams
    tracking: TrackingParams

    @model_validator(mode="after")
    def _sweep_fits_data(self) -> Params:
        kind = SOURCE_KINDS[self.data.source]
        for name, depths in self.sweep_items():
            if len(set(depths)) != len(depths):
                raise ValueError(f"sweep.{name} lists a depth twice: {depths}")
            if kind not in FAMILIES[name].sample_kinds:
                raise ValueError(
                    f"sweep.{name}: family '{name}' cannot model {kind} data "
                    f"(data.source is '{self.data.source}'); it accepts {', '.join(FAMILIES[name].sample_kinds)}"
                )
        if not any(depths for _, depths in self.sweep_items()):
            raise ValueError("sweep lists no depth for any family: nothing to train")
        return self

    def sweep_items(self) -> list[tuple[str, list[int]]]:
        """(family, depths) for every family with at least one depth to train."""
        return [(name, depths) for name, depths in self.sweep if depths]


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and check params.yaml; raise ParamsError naming every bad key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file is missing") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        problems = "\n".join(f"  - {_describe(e)}" for e in err.errors())
        raise ParamsError(f"{path}: {err.error_count()} problem(s):\n{problems}") from None


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        guess = f"; did you mean '{close[0]}'?" if close else ""
        return f"{key}: unknown key{guess} (allowed here: {', '.join(allowed)})"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" or "input" not in error:
        return f"{key}: {message}" if loc else message
    return f"{key}: {message} (got {error['input']!r})"


def _allowed_keys(loc: list[str]) -> list[str]:
    """Keys the schema accepts under a dotted location, for 'did you mean' hints."""
    model: Any = Params
    for part in loc:
        field = model.model_fields.get(part) if isinstance(model, type) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(model.model_fields)
