"""A user's network, its seeds stacked with torch.func: PyTorch's model-ensembling recipe
(`torch.func.stack_module_state`, then `vmap` over `functional_call`), for any module, where depthlab's own stacked
layers (`depthlab.ensemble`) know only the layer types written for them.

The module is the seeds' networks as one: a copy of the first network whose every parameter and buffer is the
seeds' stacked on a leading axis, so its state dict is theirs stacked, under the plain network's names, and
`Classifier`, `MemberwiseAdam` and the resume file handle it as they do a stacked built-in. Its forward maps
(seeds, batch, *sample) to (seeds, batch, classes), each seed computed by the plain network's own forward on its
own slice of the tensors.

Where the time goes: vmap batches `F.linear` by its own rule, about ten operations a layer (a product against the
weight's transpose, the bias scaled and added apart, views), each dispatched through vmap's layer and each a node
of the backward, and it leaves a classifier's narrow head to the product shape MKL is slow at. So every layer that
is exactly `nn.Linear` computes its seeds by `ensemble.stacked_product`, as `ensemble.StackedLinear` does
(`_fused_linear`): one batched product with the bias fused in, a narrow output computed transposed. Every other
operation of the user's network, and a linear layer vmap does not batch as this expects, runs under vmap's own
rules (docs/performance.md, target 10).
"""

from __future__ import annotations

import copy
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch._C import _functorch  # vmap's own wrapping of batched tensors, as torch/_functorch/vmap.py calls it
from torch.func import functional_call, stack_module_state, vmap

from depthlab.ensemble import stacked_product

MEMBERS = "members."  # the prefix of the stacked copy's names, removed from the state dict


class FunctionalEnsemble(nn.Module):
    """`nets` (one architecture, each its own weights) as one module on inputs (seeds, batch, *sample).

    Random operations (dropout) draw a different mask for each seed (vmap's randomness "different"): from one
    stream for the ensemble, so a seed's masks depend on its ensemble, as its rounding does."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        params, buffers = stack_module_state(nets)
        self.members = copy.deepcopy(nets[0])
        stacked = {**{name: nn.Parameter(tensor.detach()) for name, tensor in params.items()}, **buffers}
        first = {id(tensor): name for name, tensor in _named_tensors(nets[0]) if name in stacked}
        self._slots: list[tuple[str, nn.Module, str]] = []  # (name, owner, attribute) of every tensor vmap maps
        for name, tensor in _named_tensors(nets[0]):  # a tied weight's every name gets the one stacked tensor
            owner_name, _, leaf = name.rpartition(".")
            owner = self.members.get_submodule(owner_name)
            setattr(owner, leaf, stacked[first[id(tensor)]])
            self._slots.append((name, owner, leaf))
        for layer in self.members.modules():
            if type(layer) is nn.Linear:  # a subclass may compute more than F.linear: vmap's rule keeps it exact
                layer.forward = types.MethodType(_fused_linear, layer)
        self.register_state_dict_post_hook(self._plain_names)
        self.register_load_state_dict_pre_hook(self._stacked_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The seeds' forwards, by vmap over `functional_call`. The stacked tensors are read from their owners and
        passed flat: walking the module for its named tensors and flattening dicts on every step cost more than
        the step's ReLUs."""
        tensors = [owner._parameters.get(leaf, owner._buffers.get(leaf)) for _, owner, leaf in self._slots]
        return vmap(self._one, randomness="different")(x, *tensors)

    def _one(self, x: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        named = dict(zip((name for name, _, _ in self._slots), tensors, strict=True))
        return functional_call(self.members, named, (x,), tie_weights=False)  # tied names are in `named` already

    @staticmethod
    def _plain_names(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
        for key in [key for key in state if key.startswith(prefix + MEMBERS)]:
            state[prefix + key.removeprefix(prefix + MEMBERS)] = state.pop(key)

    @staticmethod
    def _stacked_names(module: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
        for key in [key for key in state if key.startswith(prefix) and not key.startswith(prefix + MEMBERS)]:
            state[prefix + MEMBERS + key.removeprefix(prefix)] = state.pop(key)


def _named_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every name of every parameter and buffer, a tied tensor under each of its names."""
    return [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]


def _fused_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)` for every seed at once, under vmap: the batched input, weight and bias are unwrapped at vmap's
    level (seeds first), multiplied by one `baddbmm` and wrapped back, so autograd records that one product as it
    does for depthlab's stacked layer. Where vmap does not batch all three at one level (a constant input, nested
    transforms), `F.linear` under vmap's own rule."""
    level = _functorch.maybe_get_level(layer.weight)
    rows, weight, bias = (_seeds_first(tensor, level) for tensor in (x, layer.weight, layer.bias))
    if rows is None or weight is None or (layer.bias is not None and bias is None):
        return F.linear(x, layer.weight, layer.bias)
    flat = rows.reshape(len(weight), -1, rows.shape[-1])  # (seeds, rows, inputs), whatever the leading dims
    out = stacked_product(flat, weight.mT, None if bias is None else bias.unsqueeze(1), _gradient_contiguous)
    return _functorch._add_batch_dim(out.reshape(*rows.shape[:-1], weight.shape[1]), 0, level)


def _gradient_contiguous(rows: torch.Tensor) -> torch.Tensor:
    """`rows`, their gradient made contiguous (their own layout) as it comes back from a narrow head's transposed
    product, where an elementwise backward before it runs many times faster: `ensemble._GradientInLayout` as a
    tensor hook, since vmap would run that autograd.Function in Python."""
    if rows.requires_grad:
        rows.register_hook(torch.Tensor.contiguous)
    return rows


def _seeds_first(tensor: torch.Tensor | None, level: int) -> torch.Tensor | None:
    """The tensor vmap batches at `level`, unwrapped with its seed axis first; None where it batches none there."""
    if tensor is None or not _functorch.is_batchedtensor(tensor) or _functorch.maybe_get_level(tensor) != level:
        return None
    physical, seed_dim = _functorch._unwrap_batched(tensor, level)
    return physical if seed_dim == 0 else physical.movedim(seed_dim, 0)
