"""What every source hands to prepare: labelled samples whose features are read on demand, in chunks.

Why on demand: prepare drops repeats, draws the splits and writes them from the labels alone, and reads the
features of a few thousand samples at a time, so an image folder larger than memory is prepared in pieces.
Sources whose files are read whole anyway (a CSV, an .npz) hand over an array (`Samples.of_array`).

Nothing here imports numpy at module level: params.yaml is read (this module's params models included)
by every stage, and stages that only read params should start fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from depthlab.schema import StrictModel

if TYPE_CHECKING:
    import numpy as np

Kind = Literal["tabular", "sequence", "image"]


class SourceParams(StrictModel):
    """One dataset of a user source, `data.<section>.<name>` in params.yaml. Keys have defaults here (params.yaml
    declares no template entry): its comments show every one."""

    conflicting_labels: Literal["refuse", "drop"] = Field(
        "refuse",
        description="samples whose features repeat with another label: refuse the data, or drop every such sample",
    )
    # Every source also has `kind` (a field or a property): what one sample is, which decides the families that
    # can model it, checked when params.yaml is read.

    @property
    def inputs(self) -> list[Path]:
        """The files or folders the dataset is read from: what a worktree without them must be given (git holds
        data files only where a user commits them; `python -m depthlab.reproduce` copies them in)."""
        raise NotImplementedError


class ImageFilesParams(SourceParams):
    """A dataset of image files under one folder, `root` (each source describes its layout there): the folder
    is its input and a sample is an image."""

    root: Path

    @property
    def inputs(self) -> list[Path]:
        return [self.root]

    @property
    def kind(self) -> Kind:
        return "image"


@dataclass(frozen=True)
class Samples:
    """A source's labelled samples before repeats are dropped and splits drawn.

    `read(indices)` returns those samples' features as float32 rows (k, number of features), in the order
    asked; `where(indices)` names them for a message ("lines [5, 152]", "files ['cat/1.png']"). `given` is the
    split the source itself assigns each sample ("train", "val" or "test", as MNIST's and CIFAR-10's files
    do), None where params draw them all."""

    origin: Path  # what messages name: the file or folder
    labels: np.ndarray  # (n,) int64 codes into `classes`
    classes: list[str]
    sample_shape: tuple[int, ...]
    features: list[str]
    read: Callable[[np.ndarray], np.ndarray]
    where: Callable[[Sequence[int]], str]
    given: np.ndarray | None = None
    dropped: dict[str, int] = field(default_factory=dict)  # left out by the source itself, by reason
    unit: str = "row"  # what one sample is called in messages

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def of_array(
        cls, x: np.ndarray, origin: Path, labels: np.ndarray, classes: list[str], divisor: float = 1.0, **more: object
    ) -> Samples:
        """Samples held in memory, x (n, *sample_shape) of any numeric dtype, read by indexing and converted to
        float32 and divided by `divisor` a chunk at a time (MNIST's bytes stay bytes until written). Feature
        names default to `x0`, `x1`, ... and places to "rows [...]" (0-based) unless `features` / `where` are
        given."""
        import numpy as np

        flat = np.ascontiguousarray(x.reshape(len(x), -1))

        def read(rows: np.ndarray) -> np.ndarray:
            chunk = flat[rows].astype(np.float32)
            return chunk if divisor == 1.0 else chunk / np.float32(divisor)

        width = len(str(max(flat.shape[1] - 1, 0)))
        defaults = {
            "features": [f"x{i:0{width}d}" for i in range(flat.shape[1])],
            "where": lambda rows: f"rows {list(rows)}",
        }
        return cls(
            origin=origin,
            labels=labels,
            classes=classes,
            sample_shape=tuple(int(d) for d in x.shape[1:]),
            read=read,
            **{**defaults, **more},  # type: ignore[arg-type]
        )
