import pandas as pd

from depthlab import claims
from depthlab.claims.machines import MACHINE_KEYS, claim_hardware
from depthlab.report.evidence import as_markdown
from tests.helpers.studies import SETTINGS


def runs_on(machines: dict[str, tuple[float, float]], families=("mlp",), seeds=range(3), protocol="p1") -> list[dict]:
    """Runs of each machine: {machine: (accuracy, seconds)}."""
    return [
        {
            "machine": machine,
            "protocol": protocol,
            "dataset": "d",
            "family": family,
            "depth": 2,
            "seed": s,
            "test_accuracy": accuracy + 0.01 * s,
            "train_time_s": seconds,
        }
        for family in families
        for s in seeds
        for machine, (accuracy, seconds) in machines.items()
    ]


def judged(rows: list[dict]) -> claims.Claim:
    return claim_hardware(claims.Replicates(pd.DataFrame(rows), SETTINGS, MACHINE_KEYS).at(0), SETTINGS)


def test_runs_from_two_machines_are_compared_side_by_side():
    claim = judged(runs_on({"laptop": (0.6, 10.0), "server": (0.6, 2.5)}))
    assert claim.verdict == "refuted" and "4.00x" in claim.finding and "laptop" in as_markdown(claim.evidence)


def test_a_machine_that_changes_what_is_learned_makes_the_hardware_claim_depend():
    rows = runs_on({"cpu box": (0.6, 1.0), "gpu box": (0.8, 1.0)}, seeds=range(10))
    rows += runs_on({"cpu box": (0.6, 1.0), "gpu box": (0.6, 1.0)}, families=("cnn",), seeds=range(10))
    claim = judged(rows)
    assert claim.verdict == "depends" and "1 of 2 configurations" in claim.finding and "d/mlp-d2" in claim.finding


def test_every_pair_of_machines_is_compared_and_only_like_with_like():
    rows = runs_on({"a": (0.6, 1.0), "b": (0.6, 2.0), "c": (0.6, 4.0)})
    rows += runs_on({"d": (0.6, 1.0)}, protocol="p2")  # another protocol: paired with nothing
    rows += runs_on({"e": (0.6, 1.0)}, seeds=range(5, 8))  # other seeds: paired with nothing
    claim = judged(rows)
    pairs = {(p.first, p.second) for p in claim.evidence.pairs}
    assert pairs == {("a", "b"), ("a", "c"), ("b", "c")}
    left_out = " ".join(claim.evidence.left_out)
    assert "d: 3 run(s) of protocol p2" in left_out and "e: 3 run(s) of protocol p1" in left_out
    assert "left out" in as_markdown(claim.evidence) and "on 5 machines" in claim.finding
