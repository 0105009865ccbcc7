"""Seeds as one batched ensemble: each seed computes, learns and starts exactly as its own network would."""

import copy

import lightning_fabric as L
import pytest
import torch
from torch import nn

from depthlab.data import load_arrays, load_meta, seed_rows
from depthlab.ensemble import stack
from depthlab.families import FAMILIES, DataShape
from depthlab.training import Classifier, fit, seed_networks
from depthlab.training.loop import Schedule, TrainingData
from tests.helpers.params import family_config

SHAPES = [DataShape("sequence", (40,), 10), DataShape("image", (8, 8), 10), DataShape("tabular", (13,), 3)]


def family_nets(family: str, depth: int, shape: DataShape, seeds: int) -> list[nn.Module]:
    nets = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        nets.append(FAMILIES[family].build(family_config(family), depth, shape))
    return nets


def gradients_as_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's gradients, laid out as its state dict (a stacked layer may store a weight transposed)."""
    holder = copy.deepcopy(module)
    for held, original in zip(holder.parameters(), module.parameters(), strict=True):
        held.data = original.grad.clone()
    return holder.state_dict()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.kind)
def test_a_stacked_network_computes_and_learns_as_each_seed_alone(family, shape):
    if shape.kind not in FAMILIES[family].sample_kinds:
        pytest.skip(f"{family} does not model {shape.kind} data")
    for depth in (0, 1, 3):
        nets = family_nets(family, depth, shape, seeds=3)
        stacked = stack(nets)
        state = stacked.state_dict()
        assert {k: v.shape for k, v in state.items()} == {k: (3, *v.shape) for k, v in nets[0].state_dict().items()}
        x = torch.randn(3, 5, *shape.sample_shape)
        out = stacked(x)
        expected = torch.stack([net(x[seed]) for seed, net in enumerate(nets)])
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        out.square().sum().backward()
        expected.square().sum().backward()
        grads = gradients_as_state(stacked)
        for seed, net in enumerate(nets):
            assert all(torch.equal(state[key][seed], value) for key, value in net.state_dict().items())
            for key, parameter in net.named_parameters():
                torch.testing.assert_close(grads[key][seed], parameter.grad, rtol=1e-4, atol=1e-5)


def test_the_gru_recurrence_backward_is_its_forward_s_gradient():
    """The recurrence's backward is written out (`_GRURecurrence`): checked against finite differences in
    double precision, over two groups, three steps and every input, weight and bias."""
    from depthlab.ensemble import _GRURecurrence

    torch.manual_seed(0)
    steps, groups, hidden, batch = 3, 2, 4, 5
    projected = torch.randn(steps, groups, 3 * hidden, batch, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(groups, 3 * hidden, hidden, dtype=torch.float64, requires_grad=True)
    b_hh = torch.randn(groups, 3 * hidden, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_GRURecurrence.apply, (projected, w_hh, b_hh))
    # With no backward to come (validation: no input requires grad), it keeps one step's gates at a time and
    # computes the same states.
    kept_for_backward = _GRURecurrence.apply(projected, w_hh, b_hh).detach()
    assert torch.equal(_GRURecurrence.apply(projected.detach(), w_hh.detach(), b_hh.detach()), kept_for_backward)


def test_a_layer_without_a_stacked_form_is_refused_by_name():
    nets = [nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)) for _ in range(2)]
    with pytest.raises(TypeError, match="BatchNorm1d at '1' has parameters or buffers but no stacked form"):
        stack(nets)


def test_one_seed_is_its_own_network_with_no_seed_axis():
    [net] = family_nets("mlp", 2, SHAPES[0], seeds=1)
    alone = stack([net])
    assert type(alone) is type(net) and alone is not net
    assert all(torch.equal(alone.state_dict()[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("split_seeds", [False, True], ids=["one split", "split per seed"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_seed_in_an_ensemble_of_four_trains_as_it_does_alone(family, split_seeds, tiny_params, prepared):
    """Same initial weights bit for bit; the first epoch's training loss within 1e-4 (relative), whatever
    the lrs of the other members (an ensemble can hold an lr grid: MemberwiseAdam), and whether the seeds share
    the prepared split or each draws its own (data.split_seeds: the seed's split is the same alone).

    Step by step the losses agree to rounding (batched kernels sum in another order than torch's own
    layers: about 1e-7) until a ReLU unit that is exactly zero for every sample in one run gets a tiny
    gradient in the other; Adam divides by the root of its tiny second moment and makes that a full step.
    On this data that happens to the residual MLP at step 5 (1.1e-4 at step 6), hence 1e-3 per step.
    """
    meta = load_meta(prepared)
    cfg = tiny_params.train.model_copy(update={"max_steps": 8})  # one epoch of the tiny data
    data = load_arrays(prepared, "train", meta), load_arrays(prepared, "val", meta)
    depth = 2 if family != "gru" else 1

    def first_epoch(seeds: tuple[int, ...], lrs: list[float]) -> tuple[list[nn.Module], list[list[float]]]:
        nets = seed_networks(tiny_params, family, depth, meta, seeds)
        initial = [copy.deepcopy(net) for net in nets]
        module = LossRecorder(stack(nets), len(seeds), lrs, 0.0)
        rows = seed_rows(data[0][1], data[1][1], seeds, meta.digest) if split_seeds else None
        fit(
            fabric=L.Fabric(accelerator="cpu", devices=1),
            module=module,
            data=TrainingData(*data, seeds, rows),
            schedule=Schedule.of(cfg, cfg.max_steps),
        )
        return initial, module.step_losses

    # Seed 3 at lr 0.003, alone and beside members at other lrs (one of them seed 3 itself at 0.01).
    alone_init, alone_losses = first_epoch((3,), [0.003])
    together_init, together_losses = first_epoch((0, 3, 5, 3), [0.01, 0.003, 0.001, 0.01])
    assert all(torch.equal(alone_init[0].state_dict()[k], v) for k, v in together_init[1].state_dict().items())
    alone = torch.tensor([step[0] for step in alone_losses])
    together = torch.tensor([step[1] for step in together_losses])
    assert len(alone) == len(together) == 8
    assert together.mean().item() == pytest.approx(alone.mean().item(), rel=1e-4)
    torch.testing.assert_close(together, alone, rtol=1e-3, atol=0)
    others = torch.tensor([step[0] for step in together_losses])
    assert not torch.allclose(others, together, rtol=1e-3), "another seed trains otherwise"
    faster = torch.tensor([step[3] for step in together_losses])
    assert faster[0] == together[0] and not torch.allclose(faster, together, rtol=1e-3), "the same seed, another lr"


class LossRecorder(Classifier):
    """Records each seed's mean training loss at every step."""

    def __init__(self, *args: object):
        super().__init__(*args)
        self.step_losses: list[list[float]] = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        before = self.train_loss_sum.clone()
        loss = super().training_step(batch, batch_idx)
        self.step_losses.append(((self.train_loss_sum - before) / batch[1].shape[-1]).tolist())
        return loss


@pytest.mark.parametrize("family", ["mlp", "resmlp", "cnn"])
def test_each_relu_of_a_stacked_network_gets_its_gradient_laid_out_as_its_output(family):
    """An elementwise backward op on a gradient laid out otherwise than the tensor it saved runs tens of
    times slower: the transposed head and the flatten after a convolution hand theirs back in layout."""
    stacked = stack(family_nets(family, 2, SHAPES[0], seeds=4))
    matched = []

    def check(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        output.register_hook(lambda gradient: matched.append(gradient.stride() == output.stride()))

    for module in stacked.modules():
        if isinstance(module, nn.ReLU):
            module.register_forward_hook(check)
    stacked(torch.randn(4, 5, 40)).transpose(1, 2).square().sum().backward()
    assert matched == [True] * len(matched) and matched
