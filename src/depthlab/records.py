"""What one stage writes for another, as typed records (`Record`): the prepare stage's meta.json (`data.Meta`),
the train stage's runs.json (`TrainedRuns`, one `TrainedSeed` per run, here; also what the cache keeps of a
finished member) and the evaluate stage's summary.json (`summary.Summary`: apart, so that a change to it is no
change to the training code, whose digest is in every cache key). Each file carries its record's format; a file
of another format is converted by the record's own converter where it has one, and refused otherwise with a
message naming the stage to run again.

A record is a frozen dataclass checked by pydantic when read (unknown or missing keys are errors): seeds and
depths are integers in every record, written as JSON's string keys only where they key a mapping.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import ConfigDict, TypeAdapter, ValidationError

from depthlab.cell import Cell
from depthlab.errors import DataError
from depthlab.outputs import read_json, write_json

FORMAT_KEY = "format"
GRID, FINAL = "grid", "final"  # the runs that choose a configuration's lr, and the others
Phase = Literal["grid", "final"]


@functools.cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


@dataclass(frozen=True)
class Record:
    """A file one stage writes for another, declared as `class Name(Record, format=1, writer="train")`. `FORMAT`:
    the format this code writes and reads; `WRITER`: the stage that writes it; `CONVERTERS`: for an older
    format, the function that turns it into this one."""

    FORMAT: ClassVar[int]
    WRITER: ClassVar[str]
    CONVERTERS: ClassVar[Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}
    __pydantic_config__ = ConfigDict(extra="forbid")

    def __init_subclass__(cls, format: int, writer: str, **options: Any) -> None:
        super().__init_subclass__(**options)
        cls.FORMAT, cls.WRITER = format, writer

    def write(self, path: Path) -> None:
        write_json(path, {FORMAT_KEY: self.FORMAT, **self.to_json()})

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values, without its format."""
        return _adapter(type(self)).dump_python(self, mode="json")

    @classmethod
    def read(cls, path: Path) -> Self:
        """The record in `path`, converted from an older format where `CONVERTERS` can; a DataError otherwise."""
        return cls.from_json(read_json(path), path)

    @classmethod
    def from_json(cls, raw: Any, path: Path) -> Self:
        """The record of `raw`, the JSON read from `path` (named in errors)."""
        found = raw.pop(FORMAT_KEY, 0) if isinstance(raw, dict) else None  # 0: written before records had formats
        if found != cls.FORMAT and found not in cls.CONVERTERS:
            raise DataError(
                f"{path}: a {cls.__name__} record of format {found}, and this depthlab reads format {cls.FORMAT}: "
                f"run the {cls.WRITER} stage again (dvc repro)"
            )
        try:
            return _adapter(cls).validate_python(raw if found == cls.FORMAT else cls.CONVERTERS[found](raw))
        except KeyError as err:  # a converter's: an old file without a key every old file had
            raise DataError(
                f"{path}: not a {cls.__name__} record of format {found} (no {err}): run the {cls.WRITER} stage again"
            ) from None
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:3])
            raise DataError(
                f"{path}: not a {cls.__name__} record ({problems}): run the {cls.WRITER} stage again"
            ) from None


@dataclass(frozen=True)
class TrainedSeed(Record, format=1, writer="train"):
    """One seed's outcome, as runs.json lists it and the cache keeps it. `train_time_s` is its share of its
    ensemble's training time (the ensemble's time over its members): what training one model cost.
    `ensemble_seeds` and `ensemble_lrs`: the members it trained with, in order; its weights are reproduced bit for
    bit only in that same ensemble. `phase`: grid (choosing the lr) or final; `selected`: trained at the lr chosen
    for its configuration; `reported`: one of the runs the report's verdicts rest on; `train_loss`: the mean
    training loss of its last epochs (None where it diverged, or for a member finished before it was recorded);
    `cell`: its configuration's (`EnsembleJob.cell`; a grid run may train fewer steps than its cell's budget)."""

    depth: int
    seed: int
    lr: float
    phase: Phase
    run_id: str
    checkpoint: str
    param_count: int
    train_time_s: float
    steps: int
    val_accuracy: float | None
    diverged: bool
    accelerator: str
    ensemble_seeds: list[int]
    ensemble_lrs: list[float]
    train_loss: float | None
    cell: Cell
    selected: bool = False
    reported: bool = False

    @staticmethod
    def from_format_0(run: dict[str, Any]) -> dict[str, Any]:
        """A run recorded before records had formats: its cell from `budget` and `train_rows` where it has them;
        before cells it had neither, and trained its cell's steps on the whole split; before `train_loss`, none."""
        run = dict(run)
        budget, rows = run.pop("budget", None), run.pop("train_rows", None)
        return {**run, "cell": {"steps": budget or run["steps"], "rows": rows}, "train_loss": run.get("train_loss")}


TrainedSeed.CONVERTERS = {0: TrainedSeed.from_format_0}


@dataclass(frozen=True)
class TrainedRuns(Record, format=1, writer="train"):
    """runs.json: every run a family's train stage made on one dataset. `split_seeds`: whether each seed
    trained on its own train/validation split (`data.split_seeds`)."""

    dataset: str
    family: str
    split_seeds: bool
    runs: list[TrainedSeed]

    @staticmethod
    def from_format_0(raw: dict[str, Any]) -> dict[str, Any]:
        """runs.json from before records had formats: its runs converted, what nothing read (the lr grid, the
        chosen lr keyed by a display label) left out; `split_seeds` absent before seeds drew their own splits."""
        return {
            "dataset": raw["dataset"],
            "family": raw["family"],
            "split_seeds": raw.get("split_seeds", False),
            "runs": [TrainedSeed.from_format_0(run) for run in raw["runs"]],
        }


TrainedRuns.CONVERTERS = {0: TrainedRuns.from_format_0}


def finite_or_none(value: float | None) -> float | None:
    """A diverged network's loss is NaN: records (and `dvc metrics show`) get null instead."""
    return value if value is not None and math.isfinite(value) else None
