"""Write a small image folder for the worked example, made here (nothing is downloaded): three classes of
16x16 grayscale images (a horizontal bar, a vertical bar, a square's outline) drawn at random places on noise,
in torchvision's ImageFolder layout, as params.yaml's `data.image_folder` reads it.

    python examples/shapes.py            (writes data/raw/shapes/<class>/<i>.png)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("horizontal", "vertical", "square")
SIZE = 16


def draw(shape: str, rng: np.random.Generator) -> np.ndarray:
    """One image of `shape`, a side of 5 to 7 pixels, somewhere on faint noise."""
    image = rng.integers(0, 60, (SIZE, SIZE))
    top, left = rng.integers(1, SIZE - 8, 2)
    side = int(rng.integers(5, 8))
    rows, columns = slice(top, top + side), slice(left, left + side)
    if shape == "horizontal":
        image[top + side // 2, columns] = 255
    elif shape == "vertical":
        image[rows, left + side // 2] = 255
    else:
        image[top, columns] = image[top + side - 1, columns] = image[rows, left] = image[rows, left + side - 1] = 255
    return image.astype(np.uint8)


def write_shapes(root: Path, per_class: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for shape in CLASSES:
        folder = root / shape
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(draw(shape, rng)).save(folder / f"{i}.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("data/raw/shapes"))
    parser.add_argument("--per-class", type=int, default=200)
    arguments = parser.parse_args()
    write_shapes(arguments.root, arguments.per_class)
    print(f"wrote {arguments.per_class} images of each of {', '.join(CLASSES)} to {arguments.root}")
