"""The seeds of one configuration as one network: every parameter gets a leading seed axis.

Why: on these small networks a training step is mostly per-operation overhead, not arithmetic. Computing ten
seeds in each operation divides that overhead by ten (`make bench`, "ensemble per seed-step").
`torch.func.vmap` does this generically but adds its own cost to every operation and has no rule for
`nn.GRU`, so each layer type with parameters has a stacked form written for it.

How: `stack(nets)` takes the seeds' own plain networks, each initialised exactly as when trained alone, and
returns one module computing all of them on inputs shaped (seeds, batch, *sample). Layers with parameters
are replaced by their stacked form, with the same parameter names and a leading seed axis, so the stacked
state dict is the seeds' state dicts stacked. Layers without parameters are kept (but `nn.Flatten`, whose
stacked form only hands its gradient back in the layout it got): a family's own code must address sample
dimensions from the end (`flatten(-2)`, not `flatten(1)`). Index the stacked state dict
on its first axis to get one seed's weights back, as its plain network's state dict.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Outputs narrower than this many features (a classifier's head) are computed transposed: faster there, slower
# for wide layers (measured per shape in docs/performance.md).
NARROW_OUTPUT = 16


def _stacked(layers: list[nn.Module], name: str) -> torch.Tensor | None:
    """The layers' tensor `name`, stacked on a new leading seed axis (None where the layers have none)."""
    if getattr(layers[0], name) is None:
        return None
    return torch.stack([getattr(layer, name).detach() for layer in layers])


def _parameter(tensor: torch.Tensor | None) -> nn.Parameter | None:
    return None if tensor is None else nn.Parameter(tensor)


class _GradientInLayout(torch.autograd.Function):
    """The identity, whose backward hands on the gradient in its input's memory layout. An elementwise backward
    op (a ReLU's) runs tens of times slower when its gradient and the tensor it saved lie in different layouts,
    as the transposed product's gradient does against its contiguous input, or a flatten's against a stacked
    convolution's strided output: one copy costs less."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)  # no copy, and kept by the op before anyway
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return gradient if gradient.stride() == x.stride() else torch.empty_like(x).copy_(gradient)


def stacked_product(
    rows: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    gradient_in_layout: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Each seed's rows times its weight plus its bias, one batched product with the bias fused in: rows (seeds,
    rows, inputs), weight (seeds, inputs, outputs), bias (seeds, 1, outputs). A narrow output comes back as a
    transposed view; `gradient_in_layout(rows)` hands the rows' gradient back in their own layout there."""
    if weight.shape[-1] < NARROW_OUTPUT:
        # MKL's batched product is slow when each output row is narrower than a vector register block (a
        # classifier's head: 10 or 2 classes); the transposed product, (seeds, outputs, rows), is not.
        weight, rows = weight.transpose(1, 2), gradient_in_layout(rows).transpose(1, 2)
        bias = None if bias is None else bias.transpose(1, 2)
        out = torch.bmm(weight, rows) if bias is None else torch.baddbmm(bias, weight, rows)
        return out.transpose(1, 2)
    return torch.bmm(rows, weight) if bias is None else torch.baddbmm(bias, rows, weight)


class _ProductLayout(nn.Module):
    """A stacked layer whose weight is kept as (seeds, inputs, outputs) and bias as (seeds, 1, outputs): the
    layout the batched product takes. Kept in torch's layout instead, each step would copy the weight's
    gradient back from the transposed product, a cost every step. State dicts still show
    torch's own layout, the plain layer's with a seed axis in front."""

    def __init__(self, weights: torch.Tensor, biases: torch.Tensor | None, plain_weight_shape: tuple[int, ...]):
        super().__init__()
        self.plain_weight_shape = plain_weight_shape  # one seed's, e.g. (out, in) or (out, in, kernel)
        self.weight = nn.Parameter(weights.flatten(2).transpose(1, 2).contiguous())
        self.bias = None if biases is None else nn.Parameter(biases.unsqueeze(1).contiguous())
        self.register_state_dict_post_hook(self._to_plain_layout)
        self.register_load_state_dict_pre_hook(self._from_plain_layout)

    def product(self, rows: torch.Tensor) -> torch.Tensor:
        """(seeds, rows, inputs) -> (seeds, rows, outputs); a narrow output comes back as a transposed view."""
        return stacked_product(rows, self.weight, self.bias, _GradientInLayout.apply)

    @staticmethod
    def _to_plain_layout(module: _ProductLayout, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
        weight = state[prefix + "weight"]
        state[prefix + "weight"] = weight.transpose(1, 2).reshape(len(weight), *module.plain_weight_shape)
        if module.bias is not None:
            state[prefix + "bias"] = state[prefix + "bias"].squeeze(1)

    @staticmethod
    def _from_plain_layout(module: _ProductLayout, state: dict[str, Any], prefix: str, *args: Any) -> None:
        if prefix + "weight" in state:
            state[prefix + "weight"] = state[prefix + "weight"].flatten(2).transpose(1, 2)
        if module.bias is not None and prefix + "bias" in state:
            state[prefix + "bias"] = state[prefix + "bias"].unsqueeze(1)


class StackedLinear(_ProductLayout):
    """`nn.Linear` per seed: one batched matrix product for all seeds."""

    def __init__(self, layers: list[nn.Linear]):
        super().__init__(_stacked(layers, "weight"), _stacked(layers, "bias"), tuple(layers[0].weight.shape))
        self.out_features = layers[0].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (seeds, batch, features): no reshape, each op counts at this size
            return self.product(x)
        return self.product(x.reshape(len(self.weight), -1, x.shape[-1])).reshape(*x.shape[:-1], self.out_features)


class StackedLayerNorm(nn.Module):
    """`nn.LayerNorm` per seed: the normalization is the same for every seed, the affine part is the seed's."""

    def __init__(self, layers: list[nn.LayerNorm]):
        super().__init__()
        self.normalized_shape = layers[0].normalized_shape
        self.eps = layers[0].eps
        self.weight = _parameter(_stacked(layers, "weight"))
        self.bias = _parameter(_stacked(layers, "bias"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.layer_norm(x, self.normalized_shape, eps=self.eps)
        if self.weight is None:
            return out
        per_seed = (len(self.weight), *[1] * (x.dim() - 1 - len(self.normalized_shape)), *self.normalized_shape)
        return torch.addcmul(self.bias.view(per_seed), out, self.weight.view(per_seed))


class StackedConv(nn.Module):
    """`nn.Conv1d` / `nn.Conv2d` per seed as one grouped convolution, a group per seed, in channels-last memory.

    In torch's default layout the grouped convolution is slower than the seeds one at a time; channels-last
    is the fastest of the forms tried (im2col, windows times weights as batched products, is between). See
    `docs/performance.md`. A 1-D convolution runs as a 2-D one of height 1
    (channels-last exists for 4-D tensors). Consecutive convolutions hand their output on in that memory
    layout, behind a (seeds, batch, channels, *space) view: no copies between them.
    """

    def __init__(self, layers: list[nn.Conv1d | nn.Conv2d]):
        super().__init__()
        first = layers[0]
        if first.groups != 1 or first.padding_mode != "zeros" or isinstance(first.padding, str):
            raise ValueError(f"{first}: only ungrouped convolutions with numeric zero padding have a stacked form")
        self.height_one = len(first.kernel_size) == 1
        lift = (lambda v: (1, *v)) if self.height_one else tuple
        self.options = {
            "stride": lift(first.stride),
            "padding": (0, *first.padding) if self.height_one else first.padding,
            "dilation": lift(first.dilation),
            "groups": len(layers),
        }
        self.weight = _parameter(_stacked(layers, "weight"))
        self.bias = _parameter(_stacked(layers, "bias"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seeds, batch, channels = x.shape[:3]
        height = [1] if self.height_one else []
        grouped = x.transpose(0, 1).reshape(batch, seeds * channels, *height, *x.shape[3:])
        weight = self.weight.flatten(0, 1)
        out = F.conv2d(
            grouped.contiguous(memory_format=torch.channels_last),
            weight.unsqueeze(2) if self.height_one else weight,
            None if self.bias is None else self.bias.flatten(),
            **self.options,
        )
        return out.view(batch, seeds, -1, *out.shape[2 + self.height_one :]).transpose(0, 1)


class StackedFlatten(nn.Flatten):
    """`nn.Flatten` of stacked inputs, the gradient handed back in the input's memory layout (_GradientInLayout):
    a stacked convolution's output is a strided view."""

    def __init__(self, layers: list[nn.Flatten]):
        super().__init__(layers[0].start_dim, layers[0].end_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_contiguous():
            x = _GradientInLayout.apply(x)
        return x.flatten(self.start_dim, self.end_dim)


class StackedGRU(nn.Module):
    """`nn.GRU` (batch first, with biases) per seed, from its gate equations: vmap has no rule for the fused
    kernel ("Batching rule not implemented for aten::gru.input"). Both directions of a layer run as one batch.
    Parameters keep nn.GRU's names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...)."""

    GATES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def __init__(self, layers: list[nn.GRU]):
        super().__init__()
        first = layers[0]
        if not first.batch_first or not first.bias:
            raise ValueError(f"{first}: only batch-first GRUs with biases have a stacked form")
        self.hidden_size, self.num_layers = first.hidden_size, first.num_layers
        self.suffixes = ("", "_reverse") if first.bidirectional else ("",)
        for name in self._names():
            self.register_parameter(name, _parameter(_stacked(layers, name)))

    def _names(self) -> list[str]:
        return [
            f"{gate}_l{layer}{suffix}"
            for layer in range(self.num_layers)
            for suffix in self.suffixes
            for gate in self.GATES
        ]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (seeds, batch, time, inputs) -> (outputs (seeds, batch, time, directions * hidden), final states).
        Computed in the layout of `_GRURecurrence` from the first layer to the last, (time, seeds, features,
        batch): turning each layer's tensors around between layouts cost a quarter of its time."""
        seeds = x.shape[0]
        x = x.permute(2, 0, 3, 1)
        finals = []
        for layer in range(self.num_layers):
            # Directions stacked on the seed axis, the reverse one reading time backwards.
            inputs = torch.cat([x if suffix == "" else x.flip(0) for suffix in self.suffixes], dim=1)
            w_ih, w_hh, b_ih, b_hh = (
                torch.cat([getattr(self, f"{gate}_l{layer}{suffix}") for suffix in self.suffixes])
                for gate in self.GATES
            )
            projected = torch.matmul(w_ih, inputs).add_(b_ih[:, :, None])  # every step's at once
            parts = _GRURecurrence.apply(projected, w_hh, b_hh).split(seeds, dim=1)
            x = torch.cat(
                [part if suffix == "" else part.flip(0) for part, suffix in zip(parts, self.suffixes, strict=True)],
                dim=2,
            )
            finals += [part[-1].transpose(1, 2) for part in parts]
        return x.permute(1, 3, 0, 2), torch.stack(finals, 1)  # final states (seeds, layers * directions, batch, hidden)


class _GRURecurrence(torch.autograd.Function):
    """A GRU layer's loop over time, input projections (steps, groups, 3 hidden, batch) -> states (steps, groups,
    hidden, batch), with its backward written out. The same loop recorded by autograd spent two fifths of its
    time concatenating the gradients of split gates and copying, and took a product per step for the recurrent
    weights' gradient that here is one product over all steps, which takes less time
    (docs/performance.md, "Seeds as one ensemble").

    Hidden-major, so that each gate of a step is a contiguous run of the batch (elementwise ops on the interleaved
    gates of a batch-major layout ran four times slower), and every step writes into tensors made once. The gates
    keep torch's order and equations: r, z = sigmoid(in_rz + rec_rz), n = tanh(in_n + r * rec_n),
    h = (1 - z) * n + z * h_prev, where rec = w_hh @ h_prev + b_hh."""

    @staticmethod
    def forward(ctx: Any, projected: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        steps, groups, gates, batch = projected.shape
        hidden = gates // 3
        states = projected.new_empty(steps + 1, groups, hidden, batch)  # h_0 = 0, then every step's
        states[0].zero_()
        # r, z, n and rec of every step, kept for the backward; without one (validation), one step's at a time.
        kept = steps if any(ctx.needs_input_grad) else 1
        activations = projected.new_empty(kept, groups, gates, batch)
        recurrent = projected.new_empty(kept, groups, gates, batch)
        bias_rz, bias_n = b_hh[:, : 2 * hidden, None], b_hh[:, 2 * hidden :, None]
        for t in range(steps):
            rec, gate = recurrent[t % kept], activations[t % kept]
            torch.bmm(w_hh, states[t], out=rec)  # its bias added below: baddbmm copies it in first
            rz, n = gate[:, : 2 * hidden], gate[:, 2 * hidden :]
            torch.add(projected[t, :, : 2 * hidden], rec[:, : 2 * hidden], out=rz).add_(bias_rz).sigmoid_()
            rec_n = rec[:, 2 * hidden :].add_(bias_n)
            torch.addcmul(projected[t, :, 2 * hidden :], rz[:, :hidden], rec_n, out=n).tanh_()
            torch.lerp(n, states[t], rz[:, hidden:], out=states[t + 1])
        if kept == steps:
            ctx.save_for_backward(w_hh, activations, recurrent, states)
        return states[1:]

    @staticmethod
    def backward(ctx: Any, grad_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w_hh, activations, recurrent, states = ctx.saved_tensors
        steps, groups, gates, batch = activations.shape
        hidden = gates // 3
        grad_recurrent = torch.empty_like(activations)  # of rec; that of the pre-activations differs in n's part
        grad_n_input = activations.new_empty(steps, groups, hidden, batch)  # that part: of in_n (rec_n's times r)
        w_hh_t = w_hh.transpose(1, 2)
        grad_h = torch.zeros_like(states[0])
        for t in reversed(range(steps)):
            grad_h = grad_h + grad_states[t]
            r, z, n = activations[t].split(hidden, dim=1)
            grad_r, grad_z, grad_rec_n = grad_recurrent[t].split(hidden, dim=1)
            through_z = grad_h * z
            torch.ops.aten.tanh_backward.grad_input(grad_h - through_z, n, grad_input=grad_n_input[t])
            torch.ops.aten.sigmoid_backward.grad_input(grad_h * (states[t] - n), z, grad_input=grad_z)
            rec_n = recurrent[t, :, 2 * hidden :]
            torch.ops.aten.sigmoid_backward.grad_input(grad_n_input[t] * rec_n, r, grad_input=grad_r)
            torch.mul(grad_n_input[t], r, out=grad_rec_n)
            grad_h = torch.baddbmm(through_z, w_hh_t, grad_recurrent[t])
        grad_projected = torch.cat([grad_recurrent[:, :, : 2 * hidden], grad_n_input], dim=2)
        # Each step's product for the recurrent weights at once, then their sum.
        previous = states[:-1].view(steps * groups, hidden, batch).transpose(1, 2)
        grad_w_hh = torch.bmm(grad_recurrent.view(steps * groups, gates, batch), previous)
        return grad_projected, grad_w_hh.view(steps, groups, gates, hidden).sum(0), grad_recurrent.sum(dim=(0, 3))


STACKED_FORMS: dict[type[nn.Module], Callable[[list[Any]], nn.Module]] = {
    nn.Linear: StackedLinear,
    nn.LayerNorm: StackedLayerNorm,
    nn.Conv1d: StackedConv,
    nn.Conv2d: StackedConv,
    nn.GRU: StackedGRU,
    nn.Flatten: StackedFlatten,
}


def stack(nets: list[nn.Module]) -> nn.Module:
    """One module computing every net of `nets` (same architecture, own weights) on (seeds, batch, *sample).

    A single seed needs no seed axis: its network comes back as itself (a copy), for (batch, *sample):
    stacked layers cost more than torch's own for one seed (batched kernels' set-up and the views around them).
    """
    if len(nets) == 1:
        return copy.deepcopy(nets[0])
    if type(nets[0]) in STACKED_FORMS:  # the network is a single layer
        return STACKED_FORMS[type(nets[0])](nets)
    stacked = copy.deepcopy(nets[0])
    for path, module in list(stacked.named_modules()):
        form = STACKED_FORMS.get(type(module))
        if form is not None:
            stacked.set_submodule(path, form([net.get_submodule(path) for net in nets]))
        elif (
            next(module.parameters(recurse=False), None) is not None
            or next(module.buffers(recurse=False), None) is not None
        ):
            raise TypeError(
                f"{type(module).__name__} at '{path}' has parameters or buffers but no stacked form "
                f"(known: {', '.join(t.__name__ for t in STACKED_FORMS)})"
            )
    return stacked
