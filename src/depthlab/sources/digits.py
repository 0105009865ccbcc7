"""scikit-learn's 8x8 digit images, built in: bundled with scikit-learn, no download, no settings."""

from __future__ import annotations

from pathlib import Path

from depthlab.sources.base import Samples


def load(params: None, key: str) -> Samples:
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
