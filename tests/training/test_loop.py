import torch

from depthlab.data import load_arrays, load_meta


def test_fit_takes_exactly_max_steps_and_reports_every_epoch(tiny_params, prepared):
    import lightning_fabric as L

    from depthlab.ensemble import stack
    from depthlab.training import Classifier, fit, seed_networks

    meta = load_meta(prepared)
    cfg = tiny_params.train.model_copy(update={"max_steps": 20})  # 720 rows, batch 100: 8 steps an epoch
    seen = []
    nets = seed_networks(tiny_params, "mlp", 1, meta, (0, 1))
    state = fit(
        L.Fabric(accelerator="cpu", devices=1),
        Classifier(stack(nets), 2, cfg.grid[0], 0.0),
        [0, 1],
        load_arrays(prepared, "train", meta),
        load_arrays(prepared, "val", meta),
        cfg,
        lambda step, metrics: seen.append((step, {seed: sorted(m) for seed, m in metrics.items()})),
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
            L.Fabric(accelerator="cpu", devices=1), module, list(seeds), *data, cfg, lambda step, m: epochs.append(m)
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
