import pandas as pd

from depthlab.report import optimisation


def _runs(plain_losses: dict[int, float], residual_loss: float = 0.1) -> pd.DataFrame:
    rows = []
    for family, per_depth in (("mlp", plain_losses), ("resmlp", dict.fromkeys(plain_losses, residual_loss))):
        for depth, loss in per_depth.items():
            for seed in range(3):
                rows.append(
                    {
                        "dataset": "d",
                        "family": family,
                        "depth": depth,
                        "seed": seed,
                        "train_loss": loss * (1 + 0.01 * seed),
                        "test_loss": 0.3,
                        "prior_loss": 2.3,
                    }
                )
    return pd.DataFrame(rows)


def test_a_deep_plain_net_whose_training_loss_rises_reads_as_fitting_worse():
    runs = _runs({0: 0.5, 2: 0.1, 16: 0.4})
    table = optimisation.losses(runs)
    assert table.train_loss[(table.family == "mlp") & (table.depth == 16)].item() == 0.404  # median of 3 seeds
    text = optimisation.finding(runs, "d", 0.95)
    assert "4.00x [3.92, 4.08] its lowest (0.101, depth 2)" in text and "fits its training data worse" in text


def test_a_rise_within_the_seeds_spread_or_a_falling_loss_does_not():
    noisy = _runs({0: 0.5, 2: 0.1, 16: 0.1})
    noisy.loc[(noisy.family == "mlp") & (noisy.depth == 16), "train_loss"] = [0.05, 0.102, 0.3]  # median above
    assert "no optimisation failure shown" in optimisation.finding(noisy, "d", 0.95)
    assert "its lowest: no optimisation failure" in optimisation.finding(_runs({0: 0.5, 2: 0.1, 16: 0.09}), "d", 0.95)


def test_the_section_needs_a_dataset_with_both_families():
    runs = _runs({0: 0.5, 2: 0.1})
    assert optimisation.section(runs[runs.family == "mlp"], 0.95) == []
    section = "\n".join(optimisation.section(runs, 0.95))
    header = next(line for line in section.splitlines() if line.startswith("| dataset"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "dataset",
        "depth",
        "mlp train loss",
        "resmlp train loss",
        "mlp test loss",
        "resmlp test loss",
    ]
    assert f"plots/{optimisation.PLOT}" in section


def test_a_ratio_of_two_losses_near_zero_is_no_failure_to_fit():
    text = optimisation.finding(_runs({0: 0.5, 2: 1e-6, 16: 1e-3}), "d", 0.95)
    assert "1000.00x" in text and "both fit their training data (below 0.01 x the class-share loss, 0.023)" in text
