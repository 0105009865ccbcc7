"""The seven verdicts on synthetic studies whose answer is known by construction, and how far they hold."""

import pandas as pd

from depthlab import claims
from tests.helpers.studies import SETTINGS, deep_helps_signals_only, study


def verdicts(runs: pd.DataFrame) -> dict[int, str]:
    return {claim.number: claim.verdict for claim in claims.judge(runs, pd.DataFrame(), SETTINGS)}


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
