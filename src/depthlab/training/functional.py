"""A user's network, its seeds stacked with torch.func: PyTorch's model-ensembling recipe
(`torch.func.stack_module_state`, then `vmap` over `functional_call`), for any module, where depthlab's own stacked
layers (`depthlab.ensemble`) know only the layer types written for them.

The module is the seeds' networks as one: a copy of the first network whose every parameter and buffer is the
seeds' stacked on a leading axis, so its state dict is theirs stacked, under the plain network's names, and
`Classifier`, `MemberwiseAdam` and the resume file handle it as they do a stacked built-in. Its forward maps
(seeds, batch, *sample) to (seeds, batch, classes), each seed computed by the plain network's own forward on its
own slice of the tensors.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

MEMBERS = "members."  # the prefix of the stacked copy's names, removed from the state dict


class FunctionalEnsemble(nn.Module):
    """`nets` (one architecture, each its own weights) as one module on inputs (seeds, batch, *sample).

    Random operations (dropout) draw a different mask for each seed (vmap's randomness "different"): from one
    stream for the ensemble, so a seed's masks depend on its ensemble, as its rounding does."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        params, buffers = stack_module_state(nets)
        self.members = copy.deepcopy(nets[0])
        for name, tensor in params.items():
            owner, _, leaf = name.rpartition(".")
            setattr(self.members.get_submodule(owner), leaf, nn.Parameter(tensor.detach()))
        for name, tensor in buffers.items():
            owner, _, leaf = name.rpartition(".")
            setattr(self.members.get_submodule(owner), leaf, tensor)
        self.register_state_dict_post_hook(self._plain_names)
        self.register_load_state_dict_pre_hook(self._stacked_names)

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.members, (params, buffers), (x,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        each = vmap(self._one, randomness="different")
        return each(dict(self.members.named_parameters()), dict(self.members.named_buffers()), x)

    @staticmethod
    def _plain_names(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
        for key in [key for key in state if key.startswith(prefix + MEMBERS)]:
            state[prefix + key.removeprefix(prefix + MEMBERS)] = state.pop(key)

    @staticmethod
    def _stacked_names(module: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
        for key in [key for key in state if key.startswith(prefix) and not key.startswith(prefix + MEMBERS)]:
            state[prefix + MEMBERS + key.removeprefix(prefix)] = state.pop(key)
