"""A trained network logged as an MLflow PyTorch model with its signature."""

from __future__ import annotations

import sys
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
    higher cost per run (`make bench`, tracking overhead). A user's module (a family named by import path) is
    pickled by reference, its folder of user code logged with it (`code_paths`: MLflow puts it on the loading
    process's path), and lightning required where it is a LightningModule.
    """
    import cloudpickle
    import torch
    from mlflow.models import infer_signature

    import depthlab.families
    from depthlab.families.imported import code_folder

    user_code = code_folder(net)
    requirements = [f"torch=={torch.__version__.split('+')[0]}"]
    if "lightning" in sys.modules and isinstance(net, sys.modules["lightning"].LightningModule):
        requirements.append(f"lightning=={sys.modules['lightning'].__version__}")
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
                pip_requirements=requirements,
                serialization_format=serialization_format,
                code_paths=None if user_code is None else [str(user_code)],
                **example_args,
            )
    finally:
        cloudpickle.unregister_pickle_by_value(depthlab.families)
