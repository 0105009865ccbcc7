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
                        "test_accuracy": 0.9,
                    }
                )
    return pd.DataFrame(rows)


def test_a_deep_plain_net_whose_training_loss_rises_reads_as_failing_to_fit():
    table = optimisation.losses(_runs({0: 0.5, 2: 0.1, 16: 0.4}))
    assert table.train_loss[(table.family == "mlp") & (table.depth == 16)].item() == 0.404  # median of 3 seeds
    text = optimisation.finding(table, "d")
    assert "4.0x its lowest (0.101, depth 2)" in text and "fails to fit its training data" in text


def test_a_plain_net_whose_training_loss_keeps_falling_does_not():
    text = optimisation.finding(optimisation.losses(_runs({0: 0.5, 2: 0.1, 16: 0.09})), "d")
    assert "no optimisation failure" in text


def test_the_section_needs_a_dataset_with_both_families():
    runs = _runs({0: 0.5, 2: 0.1})
    assert optimisation.section(runs[runs.family == "mlp"]) == []
    section = "\n".join(optimisation.section(runs))
    header = next(line for line in section.splitlines() if line.startswith("| dataset"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "dataset",
        "depth",
        "mlp train loss",
        "resmlp train loss",
        "mlp test error",
        "resmlp test error",
    ]
    assert f"plots/{optimisation.PLOT}" in section
