"""The study's built-in datasets, made on this machine without a download: MNIST-1D and scikit-learn's digits.

Their samples are taken as they are: no repeats are dropped (that would change the reference data).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from depthlab.sources.base import Samples

if TYPE_CHECKING:
    from depthlab.params import Mnist1dParams

KINDS = {"mnist1d": "sequence", "digits": "image"}


def mnist1d(params: Mnist1dParams) -> Samples:
    """Generated offline; never `mnist1d.get_dataset`, which downloads. Its own test split is kept."""
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


def digits() -> Samples:
    """scikit-learn's bundled 8x8 digit images (no download)."""
    import numpy as np
    from sklearn.datasets import load_digits

    loaded = load_digits()
    return Samples.of_array(
        loaded.images.astype(np.float32),
        Path("digits"),
        loaded.target.astype(np.int64),
        [str(c) for c in loaded.target_names],
        features=list(loaded.feature_names),
    )
