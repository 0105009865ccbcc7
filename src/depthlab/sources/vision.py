"""The standard vision sets from a local root, in their published formats (`data.vision.<name>`): MNIST and
Fashion-MNIST (IDX files, gzipped or not) and CIFAR-10 (python batches), each with its own test split.

The files are read directly, not through torchvision: no torchvision build imports beside the pinned CPU
torch (the one made for torch 2.13.0 on PyPI needs CUDA's libraries). The folders torchvision downloads to are
found, so a root that torchvision filled works as it is: `<root>/MNIST/raw/`, `<root>/FashionMNIST/raw/`,
`<root>/cifar-10-batches-py/`; so does a folder holding the files themselves. Nothing is downloaded:
`download: true` is refused when params.yaml is read, with where to get the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from depthlab.errors import DataError
from depthlab.sources.base import ImageFilesParams, Samples
from depthlab.sources.image_folder import pixel_names

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SETS = {  # torchvision's folder under root, the classes, where the files are published
    "mnist": ("MNIST/raw", [str(d) for d in range(10)], "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion_mnist": (
        "FashionMNIST/raw",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    "cifar10": (
        "cifar-10-batches-py",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpacked)",
    ),
}


class VisionParams(ImageFilesParams):
    dataset: Literal["mnist", "fashion_mnist", "cifar10"] = Field(description="which set; decides the file format")
    root: Path = Field(description="the folder holding the files, or torchvision's root above them")
    download: bool = Field(False, description="refused: depthlab reads the files, it does not download them")

    @model_validator(mode="after")
    def _no_download(self) -> VisionParams:
        if self.download:
            folder, _, url = SETS[self.dataset]
            files = "data_batch_1..5, test_batch" if self.dataset == "cifar10" else _idx_names()
            raise ValueError(
                "download: true is not supported: depthlab reads the files and downloads nothing (no torchvision "
                f"build imports beside the pinned CPU torch). Get {files} from {url} into {self.root}/{folder} "
                f"(or run torchvision.datasets elsewhere with root={self.root}, download=True, and copy the "
                "folder), then set download: false"
            )
        return self


def _idx_names() -> str:
    return ", ".join(f"{name}.gz" for pair in IDX_FILES.values() for name in pair)


def load(params: VisionParams, key: str) -> Samples:
    import numpy as np

    folder_name, classes, url = SETS[params.dataset]
    marker = "test_batch" if params.dataset == "cifar10" else "t10k-images-idx3-ubyte"
    folder = _folder(params.root, folder_name, marker)
    if folder is None:
        wanted = "data_batch_1..5 and test_batch" if params.dataset == "cifar10" else _idx_names()
        raise DataError(
            f"{params.root}: no {params.dataset} files here or in {params.root / folder_name} ({key}.root): "
            f"expected {wanted}, from {url}"
        )
    splits = _cifar(folder) if params.dataset == "cifar10" else _idx(folder)
    if params.dataset == "cifar10":
        from depthlab.sources import cifar

        classes = cifar.label_names(folder, classes)
    from depthlab.sources import labels

    x = np.concatenate([images for images, _ in splits.values()])
    codes, classes = labels.encode(np.concatenate([y for _, y in splits.values()]), classes, folder, "the labels")
    given = np.repeat(list(splits), [len(y) for _, y in splits.values()])
    first_test = len(splits["train"][1])

    def where(rows: Sequence[int]) -> str:
        return str([f"train image {r}" if r < first_test else f"test image {r - first_test}" for r in rows])

    return Samples.of_array(
        x, folder, codes, classes, divisor=255.0, given=given, where=where, unit="image",
        features=pixel_names(x.shape[1:]),
    )  # fmt: skip


def _folder(root: Path, torchvision_folder: str, marker: str) -> Path | None:
    """The folder with the set's files: root itself or torchvision's folder under it."""
    for folder in (root, root / torchvision_folder):
        if (folder / marker).exists() or (folder / f"{marker}.gz").exists():
            return folder
    return None


def _idx(folder: Path) -> dict[str, tuple]:
    import numpy as np

    from depthlab.sources import idx

    splits = {}
    for split, names in IDX_FILES.items():
        images, labels = (idx.read(_plain_or_gz(folder / name)) for name in names)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{folder}: {names[0]} holds shape {images.shape}, {names[1]} {labels.shape}; expected "
                "(n, height, width) images and n labels"
            )
        if images.dtype != np.uint8:
            raise DataError(
                f"{folder}: {names[0]} holds {images.dtype} values; MNIST's images are unsigned bytes (IDX type "
                "0x08), scaled by 255 (other arrays: the npz source)"
            )
        if splits and images.shape[1:] != splits["train"][0].shape[1:]:
            height, width = images.shape[1:]
            raise DataError(
                f"{folder}: {names[0]} holds {height}x{width} images (height x width), the training images are "
                f"{'x'.join(map(str, splits['train'][0].shape[1:]))}: one set's files with another's"
            )
        splits[split] = (images, labels)
    return splits


def _plain_or_gz(path: Path) -> Path:
    if path.exists():
        return path
    gz = path.with_name(path.name + ".gz")
    if not gz.exists():
        raise DataError(f"{path}: file is missing (nor {gz.name} beside it)")
    return gz


def _cifar(folder: Path) -> dict[str, tuple]:
    import numpy as np

    from depthlab.sources import cifar

    missing = [name for name in (*cifar.TRAIN_BATCHES, "test_batch") if not (folder / name).exists()]
    if missing:
        raise DataError(f"{folder}: CIFAR-10 batches {missing} are missing")
    train = [cifar.read_batch(folder / name) for name in cifar.TRAIN_BATCHES]
    return {
        "train": (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])),
        "test": cifar.read_batch(folder / "test_batch"),
    }
