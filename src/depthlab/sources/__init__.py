"""Where a study's samples come from: the built-in datasets, and the sources a user points params.yaml at,
each a section of `data` holding named datasets (`data.image_folder.flowers: {root: ...}`).

Every source hands prepare the same thing (`base.Samples`): labels, classes, a sample shape, and features
read in chunks; prepare then drops repeats (`repeats`, every user source), draws the splits and writes them.
Adding a source: its module here (its params model, `kind`, and `load(params, key) -> Samples`), a line in
USER_SOURCES, its section in `params.DataParams`, and a commented entry in params.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from depthlab.sources import csv, image_folder, npz, parquet, vision
from depthlab.sources.base import Kind, Samples, SourceParams
from depthlab.sources.builtin import KINDS as BUILT_IN_KINDS


@dataclass(frozen=True)
class Source:
    params: type[SourceParams]
    load: Callable[[Any, str], Samples]


USER_SOURCES: dict[str, Source] = {
    "csv": Source(csv.CsvParams, csv.load),
    "image_folder": Source(image_folder.ImageFolderParams, image_folder.load),
    "npz": Source(npz.NpzParams, npz.load),
    "parquet": Source(parquet.ParquetParams, parquet.load),
    "vision": Source(vision.VisionParams, vision.load),
}

__all__ = ["BUILT_IN_KINDS", "USER_SOURCES", "Kind", "Samples", "Source", "SourceParams"]
