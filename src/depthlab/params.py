"""params.yaml, read once into typed models; every stage takes its slice.

Unknown keys, wrong types and impossible values are errors that name the key, never silent defaults.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from depthlab.cell import Cell, largest
from depthlab.errors import ParamsError
from depthlab.families import FAMILIES, ImportedConfig, family_of
from depthlab.schema import StrictModel
from depthlab.sources import SOURCES, USER_SOURCES, Dataset, Kind, SourceParams, declared

PARAMS_FILE = Path("params.yaml")


class DatasetsParams(StrictModel):
    """The study's datasets and how they are split; `DataParams` adds a section per source with settings."""

    datasets: list[str] = Field(min_length=1, description="a built-in dataset, or a name under a source's section")
    split_seed: int
    val_fraction: float = Field(
        ge=0, lt=0.5, description="share of the training data held out for validation; 0 = none"
    )
    test_fraction: float = Field(gt=0, lt=0.5, description="sources without a test split of their own")
    split_seeds: bool = Field(
        description="each seed its own stratified train/validation split of the prepared train and validation "
        "rows, of the same sizes per class; the test split stays one for every seed"
    )

    @model_validator(mode="after")
    def _datasets_are_defined(self) -> DatasetsParams:
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"data.datasets lists a dataset twice: {self.datasets}")
        names = self._declared()
        for name in self.datasets:
            if name not in names:
                raise ValueError(
                    f"data.datasets: '{name}' is neither built in nor declared under data.<source> "
                    f"({', '.join(USER_SOURCES)}) (known: {list(names)})"
                )
        if self.split_seeds and self.val_fraction == 0:
            raise ValueError(
                "data.split_seeds: each seed's own split is drawn from the training and validation rows, but "
                "data.val_fraction is 0 (no validation split, as in the reference protocol); set split_seeds: false "
                "or give a val_fraction"
            )
        return self

    def _declared(self) -> dict[str, Dataset]:
        """Every dataset a name can resolve to. A name a user source declares is that dataset even where a built-in
        one has the name (a params.yaml written before the built-in was added keeps its meaning); two user sources
        declaring one name are refused."""
        found: dict[str, Dataset] = {}
        for dataset in declared({name: getattr(self, name, None) for name in SOURCES}):
            known = found.get(dataset.name)
            if known is not None and not known.built_in:
                raise ValueError(
                    f"data: '{dataset.name}' is declared twice, as {known.source} and {dataset.source}: give one a "
                    "new name"
                )
            found[dataset.name] = dataset
        return found

    def resolve(self, dataset: str) -> Dataset:
        """The study's dataset of that name: its source, kind and settings."""
        return self._declared()[dataset]

    def source(self, dataset: str) -> str:
        """The dataset's source: its own name for a built-in one, else the section declaring it (csv, npz, ...)."""
        return self.resolve(dataset).source

    def entry(self, dataset: str) -> SourceParams | None:
        """The settings of a user source's dataset (`data.<source>.<dataset>`); None for a built-in one."""
        resolved = self.resolve(dataset)
        return None if resolved.built_in else resolved.settings

    def kind(self, dataset: str) -> Kind:
        """What one sample is: a sequence, an image or a tabular row; decides which families apply."""
        return self.resolve(dataset).kind

    def describe(self, dataset: str) -> dict[str, Any]:
        """The settings that made one dataset, as logged with every run trained on it."""
        resolved = self.resolve(dataset)
        shared = self.model_dump(mode="json", include={"split_seed", "split_seeds", "val_fraction", "test_fraction"})
        own = resolved.settings.model_dump(mode="json") if resolved.settings else {}
        return {"name": dataset, "source": resolved.source, **shared, **own}


# One section per source with settings (a user source's maps dataset names to settings), so a new source needs no
# change here.
DataParams = create_model(
    "DataParams",
    __base__=DatasetsParams,
    **{name: (source.section, ...) for name, source in SOURCES.items() if source.section is not None},
)


class ValidationParams(StrictModel):
    max_abs_feature: float = Field(gt=0, description="any |feature| above this is corrupt")
    min_rows: int = Field(ge=1, description="fewest rows allowed in any split")
    min_class_share_ratio: float = Field(
        ge=0, le=1, description="each class's share of a split >= ratio / number of classes"
    )
    max_class_share_ratio: float = Field(ge=1, description="each class's share of a split <= ratio / number of classes")


class SelectionParams(StrictModel):
    seeds: list[int] = Field(
        min_length=1,
        description="seeds that train every lr of the grid, none of them in train.seeds: the lr is chosen on runs "
        "the report never uses",
    )
    max_steps: int | None = Field(
        gt=0, description="steps of every run of the grid; null: each cell's own train.max_steps"
    )


PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Depth = Annotated[int, Field(ge=0)]


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"lists a value twice: {values}")
    return values


T = TypeVar("T")
Distinct = Annotated[T, AfterValidator(_distinct)]  # a list in which no value repeats
_AXIS = TypeAdapter(Annotated[Distinct[list[PositiveInt]], Field(min_length=1)])
_ONE = TypeAdapter(PositiveInt)


def _one_or_axis(value: Any) -> Any:
    """A number, or a list of them (an axis), checked as the one its input is: pydantic's own union error would
    name each member it tried (`train.max_steps.constrained-int`, `...function-after[...]`), not the key."""
    try:
        return (_AXIS if isinstance(value, list) else _ONE).validate_python(value)
    except ValidationError as err:
        first = err.errors()[0]
        where = f" (item {first['loc'][0]})" if first["loc"] else ""
        message = first["msg"].removeprefix("Value error, ")
        raise ValueError(f"{message}{where}, got {value!r}: a number > 0, or a list of them (an axis)") from None


OneOrAxis = Annotated[
    PositiveInt | Annotated[Distinct[list[PositiveInt]], Field(min_length=1)], BeforeValidator(_one_or_axis)
]


class TrainParams(StrictModel):
    seeds: Distinct[list[int]] = Field(min_length=1, description="trained together, one ensemble per depth")
    max_steps: OneOrAxis = Field(
        description="optimizer steps of every reported run; a list is an axis of the study (a budget per cell)"
    )
    train_rows: OneOrAxis | None = Field(
        description="training rows: null = the whole training split; a number or a list (an axis) = nested, "
        "stratified subsamples of it, every size tested on the same test split"
    )
    larger_than_split: Literal["refuse", "whole_split"] = Field(
        description="a size of train_rows larger than a dataset's training split: refuse it before training, or "
        "train that dataset on its whole split in that cell (a small table beside large image sets, so that each "
        "cell judges claim 6; the report names the cells where it did)"
    )
    batch_size: int = Field(gt=0)
    lr: Distinct[list[PositiveFloat]] = Field(
        min_length=1,
        description="Adam's learning rate; a grid: each configuration takes the lr of best mean "
        "validation accuracy (see train.selection)",
    )
    selection: SelectionParams
    weight_decay: float = Field(ge=0)
    shuffle: bool = Field(description="reshuffle training batches every epoch")
    accelerator: Literal["auto", "cpu", "gpu"]

    @field_validator("lr", mode="before")
    @classmethod
    def _one_lr_is_a_grid_of_one(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _selection_apart_from_seeds(self) -> TrainParams:
        if len(set(self.selection.seeds)) != len(self.selection.seeds):
            raise ValueError(f"train.selection.seeds lists a seed twice: {self.selection.seeds}")
        shared = sorted(set(self.selection.seeds) & set(self.seeds))
        if len(self.lr) > 1 and shared:
            raise ValueError(
                f"train.selection.seeds {shared} are also in train.seeds: the lr would be chosen on runs the report "
                "uses, which flatters the chosen lr (choose selection seeds apart, e.g. [1000, 1001])"
            )
        if len(self.budgets) > 1 and self.selection.max_steps is not None:
            raise ValueError(
                f"train.selection.max_steps is {self.selection.max_steps} but train.max_steps sweeps the budgets "
                f"{self.budgets}: an lr chosen at another budget than its cell's would confound budget with lr; "
                "set train.selection.max_steps: null (each cell chooses at its own steps)"
            )
        return self

    @property
    def budgets(self) -> list[int]:
        """The training budgets, ascending: one unless `max_steps` is a list (an axis)."""
        return sorted(self.max_steps) if isinstance(self.max_steps, list) else [self.max_steps]

    @property
    def sizes(self) -> list[int | None]:
        """The training-set sizes, ascending; [None] for the whole training split."""
        return sorted(self.train_rows) if isinstance(self.train_rows, list) else [self.train_rows]

    @property
    def cells(self) -> list[Cell]:
        """Every (budget, size) the study trains each configuration at, in ascending order."""
        return [Cell(steps, rows) for steps in self.budgets for rows in self.sizes]

    @property
    def main_cell(self) -> Cell:
        """The cell the main verdicts rest on (`cell.largest`)."""
        return largest(self.cells)

    @property
    def swept(self) -> bool:
        """Whether budget or size is an axis: more than one cell."""
        return len(self.cells) > 1

    def selection_steps(self, cell: Cell) -> int:
        """Steps of a cell's lr grid: `selection.max_steps`, or where that is null the cell's own budget."""
        return cell.steps if self.selection.max_steps is None else self.selection.max_steps

    @property
    def grid(self) -> list[float]:
        """The learning rates to choose from, in ascending order (a tie goes to the smaller)."""
        return sorted(self.lr)

    def selection_seeds(self) -> list[int]:
        return list(self.selection.seeds)


class RuntimeParams(StrictModel):
    """How a stage runs, not what it produces: no DVC stage depends on these, so changing one reruns nothing."""

    workers: int = Field(
        ge=0, description="parallel training processes of a train stage; 0 = one per CPU core, or two per GPU"
    )
    threads: int = Field(ge=0, description="torch threads per training process; 0 = CPU cores / workers")
    resume_interval_s: float = Field(
        ge=0, description="training state saved at most this often, so an interrupted stage resumes from it"
    )
    ray_cpus_per_task: int = Field(gt=0, description="CPUs (and torch threads) of each Ray task, on a cluster")
    ray_gpus_per_task: float = Field(
        ge=0, description="GPUs of each Ray task; a fraction lets several ensembles share one GPU"
    )
    device_data_mb: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        description="training data kept whole on the training device up to this many MB, streamed a batch at a "
        "time beyond it (auto: half the device's free memory); the same results either way",
    )


class EvaluateParams(StrictModel):
    latency_samples: int = Field(gt=0, description="single-sample forward passes timed")


class ReportParams(StrictModel):
    confidence: float = Field(gt=0.5, lt=1, description="confidence intervals; tests count at p < 1 - this")
    deep_from: int = Field(ge=1, description="claim 6 calls a model deep from this many layers")
    collapse_margin: float = Field(
        ge=0,
        lt=1,
        description="a seed failed when its accuracy is closer to chance than to its configuration's median seed, "
        "or below chance + this x (1 - chance); chance is the majority class's share",
    )
    verdict_agreement: float = Field(
        gt=0.5, le=1, description="a verdict is stated when this share of the study's replicates reach it"
    )
    resamples: int = Field(ge=20, description="replicates of the study (seeds and test examples resampled)")


class ScheduleParams(StrictModel):
    max_accuracy_drop: float = Field(ge=0, le=1, description="alert when a dataset's best accuracy drops more")
    lock_wait_s: float = Field(ge=0, description="an overlapping scheduled run waits this long, then gives up")


class TrackingParams(StrictModel):
    enabled: bool = Field(description="false: train and evaluate without recording anything in MLflow")
    system_metrics_interval_s: float = Field(gt=0, description="MLflow system metrics sampling")
    flush_interval_s: float = Field(gt=0, description="buffered metrics reach MLflow this often")
    model_format: Literal["pickle", "pt2"] = Field(
        description="each run's network as an MLflow model: pickle (fast) or pt2 (loads without unpickling)"
    )


FAMILY_NAME = r"^[a-z][a-z0-9_]*$"  # a user's family names stages (train@<name>) and folders (data/models/<name>)


class _UserFamilies(StrictModel):
    """Base of `models` and `sweep`: a key of depthlab's own families (its fields), or a user's family's name."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _user_families_named_well(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for name in raw:
                if name not in cls.model_fields and not re.match(FAMILY_NAME, str(name)):
                    raise ValueError(
                        f"'{name}' is no family of depthlab's ({', '.join(FAMILIES)}), nor a name for one of yours "
                        "(lower case letters, digits and _, starting with a letter)"
                    )
        return raw


class _ModelsBase(_UserFamilies):
    # A user's family: its module named by import path (depthlab.families.imported).
    __pydantic_extra__: dict[str, ImportedConfig] = Field(init=False)

    @model_validator(mode="before")
    @classmethod
    def _user_families_name_a_class(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for name, section in raw.items():
                if name not in cls.model_fields and not (isinstance(section, dict) and "class_path" in section):
                    close = difflib.get_close_matches(str(name), list(cls.model_fields), n=1)
                    guess = f"did you mean '{close[0]}'? " if close else ""
                    raise ValueError(
                        f"'{name}' is no family of depthlab's ({', '.join(FAMILIES)}): {guess}A family of your own "
                        "names its module with class_path (docs/own-model.md)"
                    )
        return raw


# One field per registered family, so a new family needs no change here; a user's family is an extra key.
ModelsParams = create_model(
    "ModelsParams",
    __base__=_ModelsBase,
    **{name: (family.config, ...) for name, family in FAMILIES.items()},
)


class FamilySweep(StrictModel):
    datasets: Distinct[list[str]]
    depths: Distinct[list[Depth]]


class _SweepBase(_UserFamilies):
    __pydantic_extra__: dict[str, FamilySweep] = Field(init=False)


SweepParams = create_model(
    "SweepParams",
    __base__=_SweepBase,
    **{name: (FamilySweep, ...) for name in FAMILIES},
)


class Params(StrictModel):
    data: DataParams  # type: ignore[valid-type]
    validation: ValidationParams
    train: TrainParams
    runtime: RuntimeParams
    models: ModelsParams  # type: ignore[valid-type]
    sweep: SweepParams  # type: ignore[valid-type]
    evaluate: EvaluateParams
    report: ReportParams
    schedule: ScheduleParams
    tracking: TrackingParams

    @model_validator(mode="before")
    @classmethod
    def _swept_families_are_declared(cls, raw: Any) -> Any:
        """A sweep of a family neither depthlab's nor declared in `models` is one message, before its entry is
        read as a sweep (whose missing keys would say less)."""
        if isinstance(raw, dict) and isinstance(raw.get("sweep"), dict):
            models = raw.get("models") if isinstance(raw.get("models"), dict) else {}
            for name in raw["sweep"]:
                if name not in FAMILIES and name not in models:
                    raise ValueError(
                        f"sweep.{name}: no family '{name}' in models (depthlab's: {', '.join(FAMILIES)}; "
                        f"a family of your own needs models.{name} with its class_path)"
                    )
        return raw

    @model_validator(mode="after")
    def _sweep_fits_data(self) -> Params:
        """A family is only trained on datasets the study prepares and whose samples it can model; a user's
        family declared in `models` is swept in `sweep` too."""
        for name in sorted(set(self.models.model_extra or {}) - set(self.sweep.model_extra or {})):
            raise ValueError(f"models.{name}: no sweep.{name} (its datasets and depths; depths: [] trains none)")
        for family, sweep in self.sweep:
            for dataset in sweep.datasets:
                if dataset not in self.data.datasets:
                    raise ValueError(
                        f"sweep.{family}.datasets: '{dataset}' is not in data.datasets {self.data.datasets}"
                    )
                kind = self.data.kind(dataset)
                kinds = family_of(self.models, family).sample_kinds
                if kind not in kinds:
                    raise ValueError(
                        f"sweep.{family}.datasets: family '{family}' cannot model {kind} data ('{dataset}'); "
                        f"it accepts {', '.join(kinds)} data"
                    )
        if not self.study():
            raise ValueError("sweep trains no depth of any family on any dataset: nothing to train")
        if len(self.train.lr) > 1 and self.data.val_fraction == 0:
            raise ValueError(
                f"train.lr: a grid of {len(self.train.lr)} learning rates is chosen on validation "
                "data, but data.val_fraction is 0 (no validation split); give one lr or a val_fraction"
            )
        return self

    def study(self) -> list[tuple[str, str, list[int]]]:
        """(dataset, family, depths) for every trained combination, in params order."""
        return [
            (dataset, family, sweep.depths)
            for family, sweep in self.sweep
            for dataset in sweep.datasets
            if sweep.depths
        ]

    @property
    def families(self) -> list[str]:
        """Every family of the study, depthlab's own then the user's, in params order."""
        return [name for name, _ in self.sweep]

    def depths(self, dataset: str, family: str) -> list[int]:
        sweep = getattr(self.sweep, family)
        return sweep.depths if dataset in sweep.datasets else []


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
        if field is None and model in _USER_SECTIONS:  # a user's family in models or sweep
            model = _USER_SECTIONS[model]
            continue
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(model.model_fields)


# What a user's family's key holds in the sections that accept one.
_USER_SECTIONS: dict[Any, type[BaseModel]] = {ModelsParams: ImportedConfig, SweepParams: FamilySweep}
