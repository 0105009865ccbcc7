import pandas as pd

from depthlab.claims.machines import claim_hardware
from depthlab.report.evidence import as_markdown
from tests.helpers.studies import SETTINGS


def test_runs_from_two_machines_are_compared_side_by_side():
    machines = pd.DataFrame(
        [
            {
                "dataset": "d",
                "family": "mlp",
                "depth": 2,
                "seed": s,
                "hardware": hw,
                "test_accuracy": 0.6,
                "train_time_s": t,
            }
            for s in range(3)
            for hw, t in (("laptop", 10.0), ("server", 2.5))
        ]
    )
    claim = claim_hardware(machines, SETTINGS)
    assert claim.verdict == "refuted" and "4.00x" in claim.finding and "laptop" in as_markdown(claim.evidence)


def test_a_machine_that_changes_what_is_learned_makes_the_hardware_claim_depend():
    machines = pd.DataFrame(
        [
            {
                "dataset": "d",
                "family": family,
                "depth": 2,
                "seed": s,
                "hardware": hw,
                "test_accuracy": accuracy + 0.01 * s,
                "train_time_s": 1.0,
            }
            for s in range(10)
            for family, gpu_accuracy in (("mlp", 0.8), ("cnn", 0.6))
            for hw, accuracy in (("cpu box", 0.6), ("gpu box", gpu_accuracy))
        ]
    )
    claim = claim_hardware(machines, SETTINGS)
    assert claim.verdict == "depends" and "1 of 2 configurations" in claim.finding and "d/mlp-d2" in claim.finding
