"""Where a study's samples come from: one registry of sources, the built-in datasets and the sources a user
points params.yaml at (each a section of `data` holding named datasets: `data.image_folder.flowers: {root: ...}`).

Every source hands prepare the same thing (`base.Samples`): labels, classes, a sample shape, and features
read in chunks; prepare then drops repeats (`repeats`, every user source), draws the splits and writes them.
`params.DataParams` has a section per source with settings, built from this registry as `ModelsParams` is
from the families', and resolves a study's dataset name to a `Dataset` (`DataParams.resolve`).

Adding a source: its module here (a params model with `kind`, and `load(params, key) -> Samples`; a built-in
dataset: `load` and its kind) and its line below; a user source also gets a commented section in params.yaml,
where users look for it (docs/data.md).
"""

from __future__ import annotations

from typing import Any

from depthlab.sources import csv, digits, image_folder, mnist, mnist1d, npz, parquet, vision
from depthlab.sources.base import Kind, Samples, SourceParams
from depthlab.sources.registry import BuiltIn, Dataset, UserSource

SOURCES: dict[str, BuiltIn | UserSource] = {
    "mnist1d": BuiltIn("sequence", mnist1d.load, mnist1d.Mnist1dParams),
    "digits": BuiltIn("image", digits.load),
    "mnist": BuiltIn("image", mnist.load),
    "csv": UserSource(csv.CsvParams, csv.load),
    "image_folder": UserSource(image_folder.ImageFolderParams, image_folder.load),
    "npz": UserSource(npz.NpzParams, npz.load),
    "parquet": UserSource(parquet.ParquetParams, parquet.load),
    "vision": UserSource(vision.VisionParams, vision.load),
}
USER_SOURCES = {name: source for name, source in SOURCES.items() if isinstance(source, UserSource)}
BUILT_IN = [name for name, source in SOURCES.items() if isinstance(source, BuiltIn)]


def declared(sections: dict[str, Any]) -> list[Dataset]:
    """Every dataset params.yaml declares, given each source's section of `data` (None where it has none): each
    built-in one, then each a user source names, in the registry's order."""
    return [dataset for name, source in SOURCES.items() for dataset in source.datasets(name, sections.get(name))]


__all__ = ["BUILT_IN", "SOURCES", "USER_SOURCES", "Dataset", "Kind", "Samples", "SourceParams", "declared"]
