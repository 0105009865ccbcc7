"""A user's module: its contract checked, and how its seeds train chosen, on copies of its networks and a few rows
of real prepared data (choose_stacking is what the train stage calls before any run opens)."""

import copy
import sys

import lightning_fabric as L
import pytest
import torch

from depthlab.data import load_arrays, load_meta
from depthlab.errors import ModelContractError, ParamsError
from depthlab.training.user_module import PER_SEED, TORCH_FUNC, RunLogger, Stacking, UserSteps, choose_stacking


def _seeded(cls, seeds=(0, 1)):
    nets = []
    for seed in seeds:
        L.seed_everything(seed, verbose=False)
        nets.append(cls())
    return nets


def _choose(cls, prepared, seeds=(0, 1)):
    meta = load_meta(prepared)
    nets = _seeded(cls, seeds)
    before = [copy.deepcopy(net.state_dict()) for net in nets]
    stacking = choose_stacking(nets, load_arrays(prepared, "train", meta), meta.shape.num_classes)
    for net, state in zip(nets, before, strict=True):  # every trial ran on copies
        assert all(torch.equal(value, net.state_dict()[key]) for key, value in state.items())
    return stacking


def test_a_plain_module_without_buffer_updates_stacks_with_torch_func(prepared):
    from tests.helpers.user_modules import MLP

    assert _choose(MLP, prepared).path == TORCH_FUNC
    assert _choose(MLP, prepared, seeds=(0,)) == Stacking(PER_SEED, "one member")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("BatchNormMLP", "its forward updates buffers in training (norm.running_mean, norm.running_var"),
        ("Branching", "torch.func cannot run it: RuntimeError: vmap: It looks like you're attempting to use a Tensor"),
        ("LightningMLP", "its own training_step and configure_optimizers (Lightning's contract)"),
    ],
)
def test_a_module_torch_func_cannot_stack_soundly_trains_seed_by_seed_and_says_why(prepared, name, reason):
    from tests.helpers import user_modules

    stacking = _choose(getattr(user_modules, name), prepared)
    assert stacking.path == PER_SEED and stacking.reason.startswith(reason)
    assert stacking.tags == {"seed_stacking": PER_SEED, "seed_stacking_reason": stacking.reason}


def test_a_lightning_module_with_neither_hook_is_a_plain_module_to_depthlab(prepared):
    from tests.helpers.user_modules import LightningForwardOnly

    assert _choose(LightningForwardOnly, prepared).path == TORCH_FUNC


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "ThreeClasses",
            "ThreeClasses.forward returned (4, 3) for a batch of 4: expected logits of shape (batch, num_classes) "
            "= (4, 10)",
        ),
        ("ReturnsNothing", "ReturnsNothing.training_step returned nothing: it must return the batch's loss"),
        (
            "ReturnsPerSampleLoss",
            "ReturnsPerSampleLoss.training_step returned a loss of shape (4,): it must be a scalar tensor",
        ),
        ("WithScheduler", "WithScheduler.configure_optimizers returned dict: depthlab takes one optimizer"),
    ],
)
def test_a_module_that_breaks_its_contract_is_refused_with_one_message_exit_2(prepared, name, message):
    from tests.helpers import user_modules

    with pytest.raises(ModelContractError) as refused:
        _choose(getattr(user_modules, name), prepared)
    assert str(refused.value).startswith(message)
    assert isinstance(refused.value, ParamsError), "params.yaml names the model: a params-level error"


def test_a_forward_that_fails_on_the_data_is_refused_naming_the_batch_shape(prepared):
    from torch import nn

    with pytest.raises(ModelContractError, match=r"Linear.forward failed on a batch of shape \(4, 40\)"):
        choose_stacking([nn.Linear(12, 10)] * 2, load_arrays(prepared, "train", load_meta(prepared)), 10)


def test_lightning_is_recognised_only_where_the_users_module_imported_it():
    """A built-in study's stage never imports lightning (4 s): nothing in training does."""
    import subprocess

    code = "import depthlab.training.ensemble_run, sys; print('lightning.pytorch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_the_lr_grid_sets_every_param_group_of_the_modules_own_optimizer():
    from tests.helpers.user_modules import LightningMLP

    net = LightningMLP()
    steps = UserSteps(net, 0.003, 0.0, L.Fabric(accelerator="cpu", devices=1), RunLogger())
    optimizer = steps.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD)
    assert [group["lr"] for group in optimizer.param_groups] == [0.003]
    assert optimizer.param_groups[0]["momentum"] == 0.9, "its other settings are the user's"
    steps.release()
    assert net.fabric is None
