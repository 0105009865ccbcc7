"""Verdicts on synthetic studies whose answer is known by construction."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from depthlab import claims

SETTINGS = claims.Settings(
    confidence=0.95,
    collapse_margin=0.05,
    deep_from=3,
    kinds={"signal": "sequence", "table": "tabular"},
    hardware_summary="this machine",
)


def study(accuracy, time=lambda depth: 1.0 + depth, seeds=10, families=("mlp", "cnn")) -> pd.DataFrame:
    """Runs of two families at depths 0, 1, 4 on a signal and a tabular dataset; `accuracy(dataset, family,
    depth[, seed])` gives each run's accuracy before a little noise."""
    noise = np.random.default_rng(0)
    rows = []
    for dataset in ("signal", "table"):
        for family in families:
            for depth in (0, 1, 4):
                for seed in range(seeds):
                    seconds = time(depth) * (1 + 0.01 * noise.standard_normal())
                    rows.append(
                        {
                            "dataset": dataset,
                            "family": family,
                            "depth": depth,
                            "seed": seed,
                            "param_count": 100 * (depth + 1) + (7 if family == "cnn" else 0),
                            "test_accuracy": float(
                                np.clip(
                                    _accuracy(accuracy, dataset, family, depth, seed) + 0.005 * noise.standard_normal(),
                                    0,
                                    1,
                                )
                            ),
                            "chance": 0.1,
                            "train_time_s": seconds,
                            "train_samples_per_s": 1000 / seconds,
                            "throughput_samples_per_s": 5000 / seconds,
                            "latency_ms_per_sample": 0.1,
                            "diverged": 0,
                        }
                    )
    return pd.DataFrame(rows)


def _accuracy(accuracy, dataset, family, depth, seed):
    try:
        return accuracy(dataset, family, depth, seed)
    except TypeError:
        return accuracy(dataset, family, depth)


def deep_helps_signals_only(dataset, family, depth):
    return 0.3 + 0.15 * depth if dataset == "signal" else 0.9


def verdicts(runs: pd.DataFrame) -> dict[int, str]:
    return {claim.number: claim.verdict for claim in claims.judge(runs, pd.DataFrame(), SETTINGS)}


def test_accuracy_intervals_stay_inside_0_and_1_even_for_bimodal_seeds():
    collapsed_and_trained = pd.Series([0.1] * 6 + [0.97] * 4)
    mean, low, high = claims.mean_interval(collapsed_and_trained, 0.95)
    assert mean == pytest.approx(0.448) and 0.1 <= low < mean < high <= 0.97
    assert claims.mean_interval(pd.Series([1.0, 1.0, 1.0]), 0.95) == (1.0, 1.0, 1.0)
    assert all(np.isnan(claims.mean_interval(pd.Series([], dtype=float), 0.95)))


def test_collapse_rate_has_the_exact_binomial_interval():
    found = claims.collapse(pd.Series([0.1, 0.12, 0.9, 0.95, 0.11]), chance=0.1, margin=0.05, confidence=0.95)
    assert (found.collapsed, found.seeds) == (3, 5)
    assert (found.low, found.high) == pytest.approx((0.1466, 0.9473), abs=1e-3)  # Clopper-Pearson for 3 of 5
    none = claims.collapse(pd.Series([0.9] * 10), chance=0.1, margin=0.05, confidence=0.95)
    assert none.low == 0 and none.high == pytest.approx(0.3085, abs=1e-3)


def test_a_difference_has_a_permutation_test_and_an_interval_of_the_right_sign():
    effect = claims.difference(pd.Series([0.9, 0.91, 0.92, 0.93, 0.94]), pd.Series([0.5, 0.52, 0.54, 0.56, 0.58]), 0.95)
    assert effect.estimate == pytest.approx(0.38) and 0.3 < effect.low < effect.estimate < effect.high < 0.45
    assert effect.p == pytest.approx(2 / 252) and effect.cliffs_delta == 1.0  # exact: 252 relabellings of 5 vs 5


def test_benjamini_hochberg_adjusts_a_claims_tests_together():
    assert claims.adjusted([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.04, math.nan, 0.04], nan_ok=True)


def bimodal_plain(dataset, family, depth, seed):
    """Deep plain networks collapse to chance on 7 of 10 seeds; residual ones train."""
    if family == "mlp" and depth == 4 and seed < 7:
        return 0.1
    return 0.9


def test_a_bimodal_collapse_is_a_large_effect_with_its_collapse_count_not_a_p_value():
    runs = study(bimodal_plain, families=("mlp", "resmlp"))
    claim = claims.claim_accuracy(runs, claims.configurations(runs, SETTINGS), SETTINGS)
    assert "depth 4 plain vs residual on signal" in claim.effect and "7 of 10 plain seeds collapsed" in claim.effect
    row = claim.evidence.split("He et al.")[1].splitlines()[-1]  # the signal's row
    difference, adjusted_p = re.search(r"\| (-[\d.]+) pts \[.*\|\s+([\d.]+) \|", row).groups()
    assert -58 < float(difference) < -54 and float(adjusted_p) < 0.05 and "7 of 10 seeds collapsed" in row
    stability = claims.claim_stability(runs, claims.configurations(runs, SETTINGS), SETTINGS)
    assert stability.verdict == "refuted" and "7 of 10 seeds collapsed" in stability.effect


def borderline(dataset, family, depth, seed):
    """Depth helps mlp on the signal in the first half of the seeds only: a verdict two samples disagree on."""
    if dataset == "signal" and family == "mlp" and depth == 4:
        return 0.95 if seed < 5 else 0.5
    return 0.5 if dataset == "signal" else 0.9


def test_a_verdict_the_two_halves_of_the_seeds_disagree_on_is_flagged_unstable():
    runs = study(borderline, time=lambda depth: 1.0)
    checked = {c.number: c for c in claims.judge_with_halves(runs, pd.DataFrame(), SETTINGS)}
    assert checked[6].halves == ("supported", "refuted") and checked[6].verdict == claims.UNSTABLE
    assert checked[6].measured_verdict in {"depends", "refuted"}
    assert checked[7].halves == ("untested", "untested") and checked[7].verdict == "untested"
    steady = {c.number: c for c in claims.judge_with_halves(study(deep_helps_signals_only), pd.DataFrame(), SETTINGS)}
    assert all(c.verdict != claims.UNSTABLE for c in steady.values())
    assert claims.halves_text(runs) == "seeds 0-4 and seeds 5-9"


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
    claim = claims.claim_accuracy(runs, claims.configurations(runs, SETTINGS), SETTINGS)
    assert claim.verdict == "depends" and "rises to depth 1, then significantly worse" in claim.evidence


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
    claim = claims.claim_hardware(machines, SETTINGS)
    assert claim.verdict == "refuted" and "4.00x" in claim.finding and "laptop" in claim.evidence


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
    claim = claims.claim_hardware(machines, SETTINGS)
    assert claim.verdict == "depends" and "1 of 2 configurations" in claim.finding and "d/mlp-d2" in claim.finding


def test_a_verdict_that_rests_on_the_lr_is_flagged_sensitive_and_one_that_does_not_is_not():
    """A grid of two lrs on 5 seeds: at lr 0.001 accuracy rises with depth everywhere, at lr 0.01 the deepest
    models collapse to chance; each configuration chose 0.001. Claim 2 ("deeper is more accurate") then
    changes at the fixed lr 0.01. Where the lr changes nothing, no verdict changes."""

    def at(lr, collapses):
        return study(lambda d, f, depth: 0.1 if collapses and depth == 4 else 0.3 + 0.15 * depth, seeds=5).assign(
            lr=lr, steps=30
        )

    grid = pd.concat([at(0.001, False).assign(selected=True), at(0.01, True).assign(selected=False)])
    sensitivity = claims.lr_sensitivity(grid, SETTINGS)
    assert set(sensitivity) == {2, 4, 5, 6}
    assert sensitivity[2] == (
        "would change at a fixed lr (lr 0.001: supported; lr 0.01: depends; each configuration at "
        "its chosen lr: supported), on the lr grid's 5 seeds and 30 steps"
    )
    same = pd.concat([at(0.001, False).assign(selected=True), at(0.01, False).assign(selected=False)])
    assert all(text.startswith("would not change") for text in claims.lr_sensitivity(same, SETTINGS).values())
    assert claims.lr_sensitivity(grid[grid.lr == 0.001], SETTINGS) == {}


def test_the_types_claim_names_the_articles_types_and_groups():
    settings = claims.Settings(**{**SETTINGS.__dict__, "types": {"mlp": "feed-forward", "cnn": "convolutional"}})
    runs = study(lambda d, f, depth: 0.9 if f == "cnn" else 0.6)
    [claim] = [c for c in claims.judge(runs, pd.DataFrame(), settings) if c.number == 5]
    assert claim.verdict == "supported" and "convolutional (cnn) on signal" in claim.finding
    assert re.search(r"\| feed-forward +\| plain +\| mlp", claim.evidence)
    assert re.search(r"\| convolutional +\| deep +\| cnn", claim.evidence)
