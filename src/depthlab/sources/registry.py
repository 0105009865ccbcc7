"""The two shapes a source takes in the registry (`depthlab.sources.SOURCES`), and the dataset a study's name
resolves to.

A user source (csv, npz, ...) is a section of `data` naming any number of datasets, each with its settings;
a built-in dataset (mnist1d, digits, mnist) is its own source, of one fixed kind, with a section of its own
only where it has settings (`data.mnist1d`). Both hand `Dataset.samples` the same thing, so prepare treats
them alike but for repeats: a user's repeated samples are dropped, a built-in dataset is taken whole (dropping
would change reference data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from depthlab.schema import StrictModel
from depthlab.sources.base import Kind, Samples, SourceParams

Load = Callable[[Any, str], Samples]  # (a dataset's settings, its key in params.yaml) -> its samples


@dataclass(frozen=True)
class Dataset:
    """One dataset of the study, resolved from its name once: where it comes from and what it is."""

    name: str
    source: str  # the registry's name: a user source's section (csv, npz, ...) or the built-in's own name
    kind: Kind
    settings: StrictModel | None  # its params (`data.<source>.<name>`, or `data.<name>`); None if it has none
    built_in: bool
    load: Load = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """Where its settings live in params.yaml, as messages name them."""
        return f"data.{self.name}" if self.built_in else f"data.{self.source}.{self.name}"

    @property
    def inputs(self) -> list[Path]:
        """The files or folders of the project it is read from (none for a built-in dataset)."""
        return self.settings.inputs if isinstance(self.settings, SourceParams) else []

    def samples(self) -> Samples:
        return self.load(self.settings, self.key)


@dataclass(frozen=True)
class UserSource:
    """Files a user points params.yaml at: `data.<source>` maps dataset names to settings (`params`, whose
    `kind`, a field or a property, says what one sample is)."""

    params: type[SourceParams]
    load: Load

    @property
    def section(self) -> Any:
        """The type of its section of `data`."""
        return dict[str, self.params]

    def datasets(self, source: str, section: dict[str, SourceParams]) -> list[Dataset]:
        return [Dataset(name, source, entry.kind, entry, False, self.load) for name, entry in section.items()]


@dataclass(frozen=True)
class BuiltIn:
    """A dataset the study makes or reads from an installed package, never downloaded: its name is the
    source's; `params`, where it has settings, is its section `data.<name>`."""

    kind: Kind
    load: Load
    params: type[StrictModel] | None = None

    @property
    def section(self) -> Any:
        return self.params

    def datasets(self, source: str, section: StrictModel | None) -> list[Dataset]:
        return [Dataset(source, source, self.kind, section, True, self.load)]
