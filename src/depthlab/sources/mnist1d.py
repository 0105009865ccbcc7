"""MNIST-1D (Greydanus & Kobak), built in: generated on this machine by the `mnist1d` package, with the
generator's own train/test split. Never `mnist1d.get_dataset`, which downloads."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from depthlab.schema import StrictModel
from depthlab.sources.base import Samples


class Mnist1dParams(StrictModel):
    num_samples: int = Field(ge=100, description="generated samples, train + test")
    generator_seed: int = Field(description="42 reproduces the official frozen MNIST-1D data")
    train_split: float = Field(gt=0, lt=1, description="the generator's own train/test split")


def load(params: Mnist1dParams, key: str) -> Samples:
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = params.num_samples
    args.seed = params.generator_seed
    args.train_split = params.train_split
    raw = make_dataset(args)
    x = np.concatenate([raw["x"], raw["x_test"]]).astype(np.float32)
    y = np.concatenate([raw["y"], raw["y_test"]]).astype(np.int64)
    given = np.repeat(["train", "test"], [len(raw["x"]), len(raw["x_test"])])
    return Samples.of_array(x, Path("mnist1d"), y, [str(c) for c in range(10)], given=given)
