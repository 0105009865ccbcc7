import copy

import torch
from torch import nn

from depthlab.training.functional import FunctionalEnsemble


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(-1), nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10))


def test_each_member_computes_its_own_network_on_its_own_slice():
    torch.manual_seed(0)
    nets = [_mlp() for _ in range(3)]
    x = torch.randn(3, 5, 40)
    out = FunctionalEnsemble(nets)(x)
    assert out.shape == (3, 5, 10)
    for index, net in enumerate(nets):
        torch.testing.assert_close(out[index], net(x[index]))


def test_its_state_dict_is_the_members_stacked_under_the_plain_names_and_loads_back():
    torch.manual_seed(0)
    nets = [_mlp() for _ in range(2)]
    ensemble = FunctionalEnsemble(nets)
    state = ensemble.state_dict()
    assert list(state) == list(nets[0].state_dict())
    for key, value in state.items():
        assert torch.equal(value, torch.stack([net.state_dict()[key] for net in nets]))
    other = FunctionalEnsemble([_mlp() for _ in range(2)])
    other.load_state_dict(state)
    x = torch.randn(2, 3, 40)
    assert torch.equal(other(x), ensemble(x))


class _Shapes(nn.Module):
    """Linear layers in every case the fused product handles: wide, a narrow head, no bias, a sequence input
    (leading dims beyond the batch), a subclass of nn.Linear (vmap's own rule), and a layer fed a constant vmap
    does not batch (vmap's own rule)."""

    class _ScaledLinear(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * super().forward(x)

    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Linear(6, 20)
        self.unbiased = nn.Linear(20, 20, bias=False)
        self.subclass = self._ScaledLinear(20, 20)
        self.on_constant = nn.Linear(3, 20)
        self.head = nn.Linear(20, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, steps, 6)
        hidden = torch.relu(self.unbiased(torch.relu(self.wide(x))))
        hidden = torch.relu(self.subclass(hidden) + self.on_constant(torch.ones(3)))
        return self.head(hidden).mean(dim=-2)


def test_linear_layers_compute_each_seeds_output_and_gradients_as_the_plain_networks_do():
    torch.manual_seed(0)
    nets = [_Shapes() for _ in range(3)]
    x = torch.randn(3, 5, 7, 6)
    ensemble = FunctionalEnsemble(nets)
    out = ensemble(x)
    out.square().sum().backward()
    stacked_grads = dict(ensemble.members.named_parameters())
    for index, net in enumerate(nets):
        plain = net(x[index])
        torch.testing.assert_close(out[index], plain)
        plain.square().sum().backward()
        for name, parameter in net.named_parameters():
            torch.testing.assert_close(stacked_grads[name].grad[index], parameter.grad)


def test_an_nn_linear_is_one_batched_product_with_its_bias_fused_a_subclass_keeps_vmaps_rule():
    """vmap's own rule records a product and a separate bias add; depthlab's, one baddbmm per plain nn.Linear."""

    def nodes(net: nn.Module) -> list[str]:
        names, stack, seen = [], [FunctionalEnsemble([net, copy.deepcopy(net)])(torch.randn(2, 4, 20)).grad_fn], set()
        while stack:
            node = stack.pop()
            if node is not None and node not in seen:
                seen.add(node)
                names.append(type(node).__name__)
                stack.extend(next_node for next_node, _ in node.next_functions)
        return names

    plain = nodes(nn.Sequential(nn.Linear(20, 20), nn.ReLU(), nn.Linear(20, 4)))
    assert plain.count("BaddbmmBackward0") == 2 and "AddBackward0" not in plain
    subclass = nodes(nn.Sequential(_Shapes._ScaledLinear(20, 4)))
    assert "BaddbmmBackward0" not in subclass and "AddBackward0" in subclass


def test_a_tied_weight_is_one_stacked_parameter_under_both_its_names():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = nn.Linear(8, 8), nn.Linear(8, 8)
            self.second.weight = self.first.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.second(torch.relu(self.first(x)))

    torch.manual_seed(0)
    nets = [Tied() for _ in range(2)]
    ensemble = FunctionalEnsemble(nets)
    assert ensemble.members.first.weight is ensemble.members.second.weight
    x = torch.randn(2, 3, 8)
    out = ensemble(x)
    for index, net in enumerate(nets):
        torch.testing.assert_close(out[index], net(x[index]))
