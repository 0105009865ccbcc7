"""Verdicts on synthetic studies whose answer is known by construction."""
import numpy as np
import pandas as pd
import pytest

from depthlab import claims


def study(accuracy, time=lambda depth: 1.0 + depth) -> pd.DataFrame:
    """Runs of mlp and cnn at depths 0, 1, 4 on a signal and a tabular dataset, five seeds each."""
    noise = np.random.default_rng(0)
    rows = []
    for dataset in ("signal", "table"):
        for family in ("mlp", "cnn"):
            for depth in (0, 1, 4):
                for seed in range(5):
                    seconds = time(depth) * (1 + 0.01 * noise.standard_normal())
                    rows.append({
                        "dataset": dataset, "family": family, "depth": depth, "seed": seed,
                        "param_count": 100 * (depth + 1) + (7 if family == "cnn" else 0),
                        "test_accuracy": accuracy(dataset, family, depth) + 0.005 * noise.standard_normal(),
                        "train_time_s": seconds, "train_samples_per_s": 1000 / seconds,
                        "throughput_samples_per_s": 5000 / seconds, "latency_ms_per_sample": 0.1, "diverged": 0,
                    })
    return pd.DataFrame(rows)


def deep_helps_signals_only(dataset, family, depth):
    return 0.3 + 0.15 * depth if dataset == "signal" else 0.9


def verdicts(runs: pd.DataFrame) -> dict[int, str]:
    table = claims.configurations(runs, 0.95)
    results = [
        claims.claim_time(runs, 0.05),
        claims.claim_accuracy(runs, table, 0.05),
        claims.claim_rate(runs, 0.05),
        claims.claim_stability(runs, table, 0.05),
        claims.claim_types(runs, table, 0.05),
        claims.claim_uses(runs, table, {"signal": "sequence", "table": "tabular"}, 3, 0.05),
        claims.claim_hardware(pd.DataFrame(), "this machine", 0.05),
    ]
    return {claim.number: claim.verdict for claim in results}


def test_confidence_interval_is_the_t_interval():
    values = pd.Series([0.5, 0.6, 0.7])
    # t(0.975, 2) = 4.303; std 0.1; sqrt(3)
    assert claims.ci_half_width(values, 0.95) == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-3)
    assert np.isnan(claims.ci_half_width(pd.Series([0.5]), 0.95))


def test_depth_that_pays_on_signals_but_not_tables():
    found = verdicts(study(deep_helps_signals_only))
    assert found[1] == "supported"  # time grows with depth by construction
    assert found[2] == "depends"  # rises on signal, flat on table
    assert found[3] == "refuted"  # throughput falls with depth
    assert found[6] == "supported"
    assert found[7] == "untested"


def test_depth_that_never_pays():
    found = verdicts(study(lambda dataset, family, depth: 0.8, time=lambda depth: 1.0))
    assert found[1] == "refuted" and found[2] == "refuted" and found[6] == "refuted"
    assert found[5] == "not supported"


def test_a_peak_then_a_significant_drop_is_reported_as_such():
    runs = study(lambda dataset, family, depth: {0: 0.5, 1: 0.8, 4: 0.6}[depth])
    claim = claims.claim_accuracy(runs, claims.configurations(runs, 0.95), 0.05)
    assert claim.verdict == "depends" and "rises to depth 1, then significantly worse" in claim.evidence


def test_runs_from_two_machines_are_compared_side_by_side():
    machines = pd.DataFrame([
        {"dataset": "d", "family": "mlp", "depth": 2, "seed": s, "hardware": hw, "test_accuracy": 0.6, "train_time_s": t}
        for s in range(3) for hw, t in (("laptop", 10.0), ("server", 2.5))
    ])
    claim = claims.claim_hardware(machines, "server", 0.05)
    assert claim.verdict == "refuted" and "4.00x" in claim.finding and "laptop" in claim.evidence


def test_a_machine_that_changes_what_is_learned_makes_the_hardware_claim_depend():
    machines = pd.DataFrame([
        {"dataset": "d", "family": family, "depth": 2, "seed": s, "hardware": hw,
         "test_accuracy": accuracy + 0.01 * s, "train_time_s": 1.0}
        for s in range(3)
        for family, gpu_accuracy in (("mlp", 0.8), ("cnn", 0.6))
        for hw, accuracy in (("cpu box", 0.6), ("gpu box", gpu_accuracy))
    ])
    claim = claims.claim_hardware(machines, "gpu box", 0.05)
    assert claim.verdict == "depends" and "1 of 2 configurations" in claim.finding and "d/mlp-d2" in claim.finding


def test_pareto_front():
    from depthlab.report import pareto_front

    rows = pd.DataFrame({"train_time_s": [1, 2, 3, 4], "accuracy": [0.5, 0.4, 0.7, 0.6]})
    assert list(pareto_front(rows).index) == [0, 2]
