import torch

from depthlab.data import load_arrays, load_meta


def test_fit_takes_exactly_max_steps_and_reports_every_epoch(tiny_params, prepared):
    import lightning_fabric as L

    from depthlab.ensemble import stack
    from depthlab.training import Classifier, fit, seed_networks
    from depthlab.training.loop import Hooks, Schedule, TrainingData

    meta = load_meta(prepared)
    cfg = tiny_params.train.model_copy(update={"max_steps": 20})  # 720 rows, batch 100: 8 steps an epoch
    seen = []
    nets = seed_networks(tiny_params, "mlp", 1, meta, (0, 1))
    state = fit(
        fabric=L.Fabric(accelerator="cpu", devices=1),
        module=Classifier(stack(nets), 2, cfg.grid[0], 0.0),
        data=TrainingData(load_arrays(prepared, "train", meta), load_arrays(prepared, "val", meta), (0, 1)),
        schedule=Schedule.of(cfg, cfg.max_steps),
        hooks=Hooks(lambda step, metrics: seen.append((step, {seed: sorted(m) for seed, m in metrics.items()}))),
    )
    assert state.step == 20 and not state.stopped
    assert [step for step, _ in seen] == [8, 16, 20]
    assert all(keys == {0: ["train_acc", "train_loss", "val_acc", "val_loss"]} | {1: keys[0]} for _, keys in seen)


def test_a_seed_that_diverges_is_frozen_and_the_others_go_on(tiny_params, prepared):
    """One seed of three starts from infinite weights: it stops at the end of the first epoch, its weights
    as they were then; the other two train to the end, exactly as they would without it."""
    import lightning_fabric as L

    from depthlab.ensemble import stack
    from depthlab.training import Classifier, fit, seed_networks
    from depthlab.training.loop import Hooks, Schedule, TrainingData

    meta = load_meta(prepared)
    cfg = tiny_params.train.model_copy(update={"max_steps": 24})  # three epochs of 8 steps
    data = load_arrays(prepared, "train", meta), load_arrays(prepared, "val", meta)

    def train(seeds, poisoned=None):
        nets = seed_networks(tiny_params, "mlp", 1, meta, seeds)
        if poisoned is not None:
            torch.nn.init.constant_(nets[poisoned][1].weight, float("inf"))
        module = Classifier(stack(nets), len(seeds), cfg.grid[0], 0.0)
        epochs = []
        state = fit(
            fabric=L.Fabric(accelerator="cpu", devices=1),
            module=module,
            data=TrainingData(*data, seeds),
            schedule=Schedule.of(cfg, cfg.max_steps),
            hooks=Hooks(lambda step, m: epochs.append(m)),
        )
        return state, module, epochs

    state, module, epochs = train((0, 1, 2), poisoned=1)
    assert state.step == 24 and list(state.stopped) == [1] and state.stopped[1].step == 8
    assert [sorted(m) for m in epochs] == [[0, 1, 2], [0, 2], [0, 2]], "a stopped seed reports no more epochs"
    assert not torch.isfinite(state.stopped[1].state["1.weight"]).any()
    _, healthy_module, _ = train((0, 2))
    for index, alone in ((0, 0), (2, 1)):
        for key, value in module.seed_state(index).items():
            torch.testing.assert_close(value, healthy_module.seed_state(alone)[key], rtol=1e-5, atol=1e-6)


def test_with_a_split_per_seed_each_seed_trains_and_validates_on_its_own_rows_as_it_would_alone(tiny_params, prepared):
    """data.split_seeds: every training batch of a seed comes from its own training rows and an epoch goes through
    all of them; it is validated on its own validation rows; its weights after three epochs are those it gets
    trained alone (to rounding: batched kernels), and not those of the shared split."""
    import lightning_fabric as L
    import numpy as np

    from depthlab.data import seed_rows
    from depthlab.ensemble import stack
    from depthlab.training import Classifier, fit, seed_networks
    from depthlab.training.loop import Schedule, TrainingData

    meta = load_meta(prepared)
    cfg = tiny_params.train.model_copy(update={"max_steps": 24})  # three epochs of 8 steps
    data = load_arrays(prepared, "train", meta), load_arrays(prepared, "val", meta)
    pool = {row.tobytes(): index for index, row in enumerate(np.concatenate([data[0][0], data[1][0]]))}
    assert len(pool) == 800, "every row tells which it is"

    class Recorder(Classifier):
        def __init__(self, *args: object):
            super().__init__(*args)
            self.trained_on: list[torch.Tensor] = []
            self.validated_on: list[torch.Tensor] = []

        def training_step(self, batch, batch_idx):
            self.trained_on.append(batch[0].detach().clone())
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch, batch_idx):
            self.validated_on.append(batch[0].detach().clone())
            return super().validation_step(batch, batch_idx)

    def train(seeds, split=True):
        rows = seed_rows(data[0][1], data[1][1], seeds, meta.digest) if split else None
        module = Recorder(stack(seed_networks(tiny_params, "mlp", 1, meta, seeds)), len(seeds), cfg.grid[0], 0.0)
        fit(
            fabric=L.Fabric(accelerator="cpu", devices=1),
            module=module,
            data=TrainingData(*data, seeds, rows),
            schedule=Schedule.of(cfg, cfg.max_steps),
        )
        return module, rows

    def rows_of(batches, seed):
        return sorted(pool[row.numpy().tobytes()] for batch in batches for row in batch[seed])

    module, rows = train((0, 1, 2))
    for index in range(3):
        assert rows_of(module.trained_on[:8], index) == rows.train[index].tolist()  # the first epoch: each row once
        assert rows_of(module.validated_on[:1], index) == rows.val[index].tolist()
    alone, _ = train((2,))
    shared, _ = train((2,), split=False)
    for key, value in module.seed_state(2).items():
        torch.testing.assert_close(value, alone.seed_state(0)[key], rtol=1e-5, atol=1e-6)
    assert not all(torch.allclose(v, shared.seed_state(0)[k], rtol=1e-3) for k, v in module.seed_state(2).items())
