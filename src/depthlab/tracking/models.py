"""A trained network logged as an MLflow PyTorch model with its signature."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlflow
import numpy as np

from depthlab.tracking.store import without_advice

if TYPE_CHECKING:
    from torch import nn


def log_model(run_id: str, net: nn.Module, example: np.ndarray, serialization_format: str) -> None:
    """Log `net` to the run in `tracking.model_format`.

    pickle: the module, its depthlab classes pickled by value, so it loads wherever torch is installed;
    loading it runs code from the artifact. pt2: torch.export's graph, which loads without unpickling, at a
    higher cost per run (`make bench`, tracking overhead).
    """
    import cloudpickle
    import torch
    from mlflow.models import infer_signature

    import depthlab.families

    with torch.inference_mode():
        output = net(torch.from_numpy(example.copy())).numpy()  # an array handed over by Ray is read-only
    # pt2: torch.export needs the example; MLflow's check of it (a reload) is left to tests/test_tracking.py.
    # pickle: no example, or MLflow would reload the model to check it (its flag for not doing so would
    # reach torch.save).
    pt2 = serialization_format == "pt2"
    example_args = {"input_example": example, "validate_serving_input": False} if pt2 else {}
    cloudpickle.register_pickle_by_value(depthlab.families)
    try:
        with without_advice():
            mlflow.pytorch.log_model(
                net,
                name="model",
                run_id=run_id,
                signature=infer_signature(example, output),
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
                serialization_format=serialization_format,
                **example_args,
            )
    finally:
        cloudpickle.unregister_pickle_by_value(depthlab.families)
