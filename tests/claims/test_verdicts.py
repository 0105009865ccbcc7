"""The seven verdicts on synthetic studies whose answer is known by construction, with their probability over
replicates of the study, and how far they hold at a fixed learning rate."""

import numpy as np
import pandas as pd

from depthlab import claims
from tests.helpers.studies import SETTINGS, deep_helps_signals_only, study


def judged(runs: pd.DataFrame) -> dict[int, claims.Claim]:
    return {claim.number: claim for claim in claims.judge(claims.Replicates(runs, SETTINGS), pd.DataFrame())}


def verdicts(runs: pd.DataFrame) -> dict[int, str]:
    return {number: claim.verdict for number, claim in judged(runs).items()}


def borderline(dataset, family, depth, seed):
    """On the signal, deep mlps beat shallow ones by a little more than the best of four noisy shallow
    configurations does by luck: a replicate of the study (which picks its best again) finds the gain in about
    two of three."""
    if dataset == "table":
        return 0.9
    spread = 0.08 * np.random.default_rng(seed + 100 * depth + (family == "cnn")).standard_normal()
    return (0.64 if family == "mlp" and depth == 4 else 0.5) + spread


def test_a_verdict_replicates_disagree_on_is_inconclusive_with_its_candidates_and_what_would_settle_it():
    claim = judged(study(borderline, time=lambda depth: 1.0))[6]
    assert claim.verdict == claims.INCONCLUSIVE
    assert set(claim.shares.shares) == {"supported", "refuted"} and 0.1 < claim.shares.probability < 0.9
    assert claims.stated_share(claim) == claim.shares.text() and "%" in claims.stated_share(claim)
    assert claim.settle.startswith("it turns on mlp-d4 vs ") and "on signal (accuracy)" in claim.settle
    assert "seeds per configuration would find it with 80% power" in claim.settle


def test_a_clear_verdict_is_stated_with_its_probability():
    found = judged(study(deep_helps_signals_only))
    assert found[6].verdict == "supported" and found[6].shares.probability >= SETTINGS.agreement
    assert claims.stated_share(found[6]) == f"{100 * found[6].shares.probability:.0f}%"
    assert found[1].shares is None and claims.stated_share(found[1]).startswith("not resampled")


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
    few = claims.lr_sensitivity(grid[grid.seed < 2], SETTINGS)
    assert few[2].startswith("cannot be judged on the lr grid's 2 seeds per configuration")
