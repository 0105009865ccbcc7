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
