import pytest
import torch


def test_epoch_metrics_are_exact_means_per_seed_over_uneven_batches():
    from depthlab.ensemble import stack
    from depthlab.training.classifier import Classifier

    torch.manual_seed(0)
    nets = [torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)]
    module = Classifier(stack(nets), seeds=2, lr=0.1, weight_decay=0.0)
    batches = [(torch.randn(2, n, 4), torch.randint(0, 3, (2, n))) for n in (5, 5, 2)]
    for batch in batches:
        module.training_step(batch, 0)
    metrics = module.epoch_metrics()
    for seed, net in enumerate(nets):
        x = torch.cat([b[0][seed] for b in batches])
        y = torch.cat([b[1][seed] for b in batches])
        with torch.no_grad():
            logits = net(x)
        assert metrics[seed]["train_loss"] == pytest.approx(
            torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-6
        )
        assert metrics[seed]["train_acc"] == pytest.approx((logits.argmax(-1) == y).float().mean().item())
        assert "val_loss" not in metrics[seed]
    assert module.epoch_metrics() == [{}, {}]  # reset after reading
