"""A folder of images, one sub-folder per class (`root/<class>/<image>.png|.jpg|.jpeg`, the layout of
torchvision's `ImageFolder`), as image samples of shape (height, width), or (3, height, width) in colour.

Every image becomes one size and one channel count, declared or inferred from the images: the most common
size, and grayscale unless some image has colour. An image of another size is refused, resampled or left
out, as params say (`resize`); an unreadable file is refused or left out (`unreadable`). Pixels are scaled
to [0, 1]. Files of other types are not images of the dataset and are passed over, as ImageFolder does.

The folder is read twice more after a first pass that opens every image (drop repeats, then write the
splits), a chunk of images at a time, so a folder larger than memory is prepared in pieces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from depthlab.errors import DataError
from depthlab.sources.base import ImageFilesParams, Samples

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg")
Pixels = Annotated[int, Field(gt=0)]
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")


class ImageFolderParams(ImageFilesParams):
    root: Path = Field(description="root/<class>/<image>.png|.jpg|.jpeg")
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
    files, labels, classes = _listing(params, key)
    opened = [_open(path, params.unreadable, key) for path in files]
    dropped = {"unreadable": sum(found is None for found in opened)} if params.unreadable == "skip" else {}
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
        out /= 255
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


def _listing(params: ImageFolderParams, key: str) -> tuple[list[Path], list[int], list[str]]:
    """Every image file, its class code, and the classes: refuses a missing or empty root, a missing or empty
    class folder, an undeclared one, and images outside any class folder."""
    root = params.root
    if not root.is_dir():
        raise DataError(f"{root}: image folder is missing ({key}.root)")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if loose:
        raise DataError(
            f"{root}: images must be in one folder per class (root/<class>/<image>), found {loose[:3]} in root itself"
        )
    if not folders:
        raise DataError(f"{root}: no class folders; images go in root/<class>/<image>.png|.jpg|.jpeg")
    classes = folders if params.classes is None else list(params.classes)
    missing = [name for name in classes if name not in folders]
    if missing:
        raise DataError(f"{root}: class folder{'s' if len(missing) > 1 else ''} {missing} missing (found {folders})")
    undeclared = [name for name in folders if name not in classes]
    if undeclared:
        raise DataError(f"{root}: folders {undeclared} are not among the declared classes {classes}")
    if len(classes) < 2:
        raise DataError(f"{root}: a single class folder {classes}; need at least two")
    files: list[Path] = []
    labels: list[int] = []
    for code, name in enumerate(classes):
        images = sorted(p for p in (root / name).iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
        if not images:
            raise DataError(f"{root / name}: class folder holds no images ({', '.join(EXTENSIONS)})")
        files += images
        labels += [code] * len(images)
    return files, labels, classes


def _open(path: Path, unreadable: str, key: str) -> tuple[tuple[int, int], str] | None:
    """((height, width), mode) of a readable image, decoded in full once so that a truncated file shows
    here; None for an unreadable one left out, a DataError for one refused."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return (image.height, image.width), image.mode
    except Exception as err:  # Pillow's decoders raise many types on damaged bytes (struct.error, IndexError, ...)
        if unreadable == "skip":
            return None
        raise DataError(
            f"{path}: not a readable image ({type(err).__name__}: {err}); set unreadable: skip under {key} to "
            "leave such files out"
        ) from None


def _pixels(path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """The image as uint8 (height, width) or (3, height, width), converted and resampled to the declared form."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            converted: Image.Image = image.convert("L" if channels == 1 else "RGB")
    except Exception as err:  # changed since it was first read; any type, as in _open
        raise DataError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    if (converted.height, converted.width) != size:
        converted = converted.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted)
    return pixels if channels == 1 else pixels.transpose(2, 0, 1)


def pixel_names(shape: tuple[int, ...]) -> list[str]:
    """pixel_<row>_<column> (scikit-learn's digits say the same), or pixel_<channel>_<row>_<column>."""
    import numpy as np

    return ["pixel_" + "_".join(str(i) for i in index) for index in np.ndindex(*shape)]
