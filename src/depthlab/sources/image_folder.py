"""A folder of images, one sub-folder per class (`root/<class>/.../<image>.png`, the layout of torchvision's
`ImageFolder`), as image samples of shape (height, width), or (3, height, width) in colour.

What is read: every file under a class folder, at any depth (as ImageFolder reads them: sub-folders often
group a class's images by source or date), whose name has one of ImageFolder's extensions and does not start
with a dot (macOS's `._name.png` files are metadata, not images). Every other file under root is passed over
and counted (`dropped.other_files`). A folder holding no file at any depth is no class: git and DVC record no
empty folder, so prepare reads what DVC hashes and a clone holds.

Every image becomes one size and one channel count, declared or inferred from the images: the most common
size, and grayscale unless some image has colour. An image of another size is refused, resampled or left
out, as params say (`resize`); an unreadable file is refused or left out (`unreadable`).

Pixels are scaled by the range they are stored in, never cut to 8 bits: 8-bit images (and 1-bit, palette,
alpha, CMYK ones, through Pillow's conversion to grayscale or RGB) by 255, 16-bit grayscale by 65535, 32-bit
integer grayscale by 65535 (refused beyond 0..65535), 32-bit float grayscale kept as stored (refused where
not finite). A 16-bit image with colour or alpha is refused: Pillow decodes it at 8 bits per channel.
docs/data.md has the table.

The folder is read twice more after a first pass that opens every image (drop repeats, then write the
splits), a chunk of images at a time, so a folder larger than memory is prepared in pieces.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from depthlab.errors import DataError
from depthlab.sources.base import ImageFilesParams, Samples

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # ImageFolder's
Pixels = Annotated[int, Field(gt=0)]
# Modes read as numbers, not through an 8-bit conversion: the value that is full brightness (float: as stored).
FULL_RANGE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1}
GRAYSCALE_MODES = ("1", "L", "LA", "La", *FULL_RANGE)


class ImageFolderParams(ImageFilesParams):
    root: Path = Field(description="root/<class>/<image>.png|.jpg|.tif|..., at any depth under the class folder")
    size: tuple[Pixels, Pixels] | None = Field(
        None, description="[height, width] of every sample; null: the images' own (the most common size)"
    )
    channels: Literal[1, 3] | None = Field(None, description="1 or 3; null: 1 unless some image has colour")
    resize: Literal["refuse", "stretch", "skip"] = Field(
        "refuse", description="an image of another size: refuse the folder, resample it to `size`, or leave it out"
    )
    unreadable: Literal["refuse", "skip"] = Field(
        "refuse", description="a file that is not a readable image: refuse the folder, or leave it out"
    )
    classes: list[str] | None = Field(
        None, min_length=2, description="the class folders, in label order; null: every folder under root, sorted"
    )


def load(params: ImageFolderParams, key: str) -> Samples:
    """`key` is the dataset's place in params.yaml (`data.image_folder.<name>`), for messages."""
    import numpy as np

    root = params.root
    files, labels, classes, others = _listing(params, key)
    opened = [_open(path, params.unreadable, key) for path in files]
    dropped = {"other_files": others} if others else {}
    if params.unreadable == "skip":
        dropped["unreadable"] = sum(found is None for found in opened)
    found = [(path, label, info) for path, label, info in zip(files, labels, opened, strict=True) if info]
    if not found:
        raise DataError(f"{root}: none of the {len(files)} images is readable")
    size = params.size or Counter(info[0] for _, _, info in found).most_common(1)[0][0]
    channels = params.channels or (1 if all(info[1] in GRAYSCALE_MODES for _, _, info in found) else 3)
    other = [(path, info[0]) for path, _, info in found if info[0] != size]
    if other and params.resize == "refuse":
        (path, (height, width)), count = other[0], len(other)
        wanted = f"{key}.size is" if params.size else "the images are"
        raise DataError(
            f"{path}: {height}x{width} pixels (height x width), but {wanted} {size[0]}x{size[1]} "
            f"({count} image{'s' if count > 1 else ''} of another size): set resize: stretch (resample to "
            f"`size`) or skip (leave them out) under {key}, or make them one size"
        )
    if params.resize == "skip":
        dropped["other_size"] = len(other)
        found = [entry for entry in found if entry[2][0] == size]
    paths = [path for path, _, _ in found]
    shape = (size[0], size[1]) if channels == 1 else (3, size[0], size[1])

    def read(rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), int(np.prod(shape))), np.float32)
        for i, row in enumerate(rows):
            out[i] = _pixels(paths[row], size, channels).ravel()
        return out

    def where(rows: Sequence[int]) -> str:
        return f"files {[str(paths[row].relative_to(root)) for row in rows]}"

    return Samples(
        origin=root,
        labels=np.array([label for _, label, _ in found], dtype=np.int64),
        classes=classes,
        sample_shape=shape,
        features=pixel_names(shape),
        read=read,
        where=where,
        dropped=dropped,
        unit="image",
    )


def _listing(params: ImageFolderParams, key: str) -> tuple[list[Path], list[int], list[str], int]:
    """Every image file, its class code, the classes, and the number of other files under root (passed over).
    Refuses a missing root or one without class folders, a missing class folder, an undeclared one, one
    without images, and images outside any class folder."""
    root = params.root
    if not root.is_dir():
        raise DataError(f"{root}: image folder is missing ({key}.root)")
    every_file = _files(root)
    by_folder: dict[str, list[Path]] = {}  # the files under each folder of root; a folder without files has none
    for path in every_file:
        top, *below = path.relative_to(root).parts
        if below and not top.startswith("."):
            by_folder.setdefault(top, []).append(path)
    folders = sorted(by_folder)
    loose = [p.name for p in every_file if p.parent == root and p.suffix.lower() in EXTENSIONS]
    if loose:
        raise DataError(
            f"{root}: images must be in one folder per class (root/<class>/<image>), found {loose[:3]} in root itself"
        )
    if not folders:
        raise DataError(f"{root}: no class folders with files; images go in root/<class>/<image>.png|.jpg|...")
    classes = folders if params.classes is None else list(params.classes)
    missing = [name for name in classes if name not in folders]
    if missing:
        raise DataError(
            f"{root}: class folder{'s' if len(missing) > 1 else ''} {missing} missing or without files (found "
            f"{folders}; git and DVC record no empty folder)"
        )
    undeclared = [name for name in folders if name not in classes]
    if undeclared:
        raise DataError(f"{root}: folders {undeclared} are not among the declared classes {classes}")
    if len(classes) < 2:
        raise DataError(f"{root}: a single class folder {classes}; need at least two")
    files: list[Path] = []
    labels: list[int] = []
    for code, name in enumerate(classes):
        images = [path for path in by_folder[name] if _is_image(path.relative_to(root / name))]
        if not images:
            raise DataError(f"{root / name}: class folder holds no images ({', '.join(EXTENSIONS)})")
        files += images
        labels += [code] * len(images)
    return files, labels, classes, len(every_file) - len(files)


def _files(folder: Path) -> list[Path]:
    """Every file under `folder`, at any depth, following links to folders as ImageFolder does, sorted."""
    import os

    return sorted(Path(top, name) for top, _, names in os.walk(folder, followlinks=True) for name in names)


def _is_image(relative: Path) -> bool:
    """Whether a file under a class folder is one of its images: an image's extension, and no hidden name on
    the way (`._x.png`, `.ipynb_checkpoints/`)."""
    return relative.suffix.lower() in EXTENSIONS and not any(part.startswith(".") for part in relative.parts)


def _open(path: Path, unreadable: str, key: str) -> tuple[tuple[int, int], str] | None:
    """((height, width), mode) of a readable image, decoded in full once so that a truncated file shows
    here; None for an unreadable one left out, a DataError for one refused. An image whose values cannot be
    kept as stored is refused whatever `unreadable` says: it is readable, and leaving it out would hide that."""
    import numpy as np

    try:
        with _opened(path) as image:
            cut_to_8_bits = image.mode not in FULL_RANGE and any(";16" in str(tile.args) for tile in image.tile)
            image.load()
            values = np.asarray(image) if image.mode in ("I", "F") else np.zeros(1)  # ranges not fixed by the mode
            low, high = values.min().item(), values.max().item()
            found = (image.height, image.width), image.mode
    except Exception as err:  # Pillow's decoders raise many types on damaged bytes (struct.error, IndexError, ...)
        if unreadable == "skip":
            return None
        raise DataError(
            f"{path}: not a readable image ({type(err).__name__}: {err}); set unreadable: skip under {key} to "
            "leave such files out"
        ) from None
    if cut_to_8_bits:
        raise DataError(
            f"{path}: a 16-bit image with colour or alpha, which Pillow decodes at 8 bits per channel: save it "
            "with 8 bits per channel, or as 16-bit grayscale without alpha"
        )
    if found[1] == "I" and not 0 <= low <= high <= 65535:
        raise DataError(f"{path}: 32-bit integer pixels from {low} to {high}; read as 16-bit, they must be 0..65535")
    if found[1] == "F" and not (math.isfinite(low) and math.isfinite(high)):
        raise DataError(f"{path}: 32-bit float pixels from {low} to {high}; they must be finite numbers")
    return found


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The image, opened by Pillow with its warnings about damaged metadata (EXIF, TIFF tags) silenced: they
    would print lines beside prepare's one; damaged pixels raise, and are refused as unreadable."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with Image.open(path) as image:
            yield image


def _pixels(path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """The image as float32 (height, width) or (3, height, width), scaled by the range it is stored in (8-bit
    modes through Pillow's conversion to grayscale or RGB, by 255; FULL_RANGE's as numbers, a grayscale copied
    to three channels where the folder is in colour), resampled to `size`."""
    import numpy as np
    from PIL import Image

    try:
        with _opened(path) as image:
            full_range = FULL_RANGE.get(image.mode)
            if full_range:  # mode F holds the scaled values: resampled without rounding to 8 bits
                converted = Image.fromarray(np.asarray(image, dtype=np.float32) / np.float32(full_range))
            else:
                converted = image.convert("L" if channels == 1 else "RGB")
    except Exception as err:  # changed since it was first read; any type, as in _open
        raise DataError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    if (converted.height, converted.width) != size:
        converted = converted.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.float32)
    if not full_range:
        pixels = pixels / np.float32(255)
    if channels == 1:
        return pixels
    return pixels.transpose(2, 0, 1) if pixels.ndim == 3 else np.repeat(pixels[None], 3, axis=0)


def pixel_names(shape: tuple[int, ...]) -> list[str]:
    """pixel_<row>_<column> (scikit-learn's digits say the same), or pixel_<channel>_<row>_<column>."""
    import numpy as np

    return ["pixel_" + "_".join(str(i) for i in index) for index in np.ndindex(*shape)]
