"""Claim 6 rests on one test, the interaction: depth's gain on perception data minus its gain on tables."""

import pytest

from depthlab import claims
from depthlab.claims.uses import claim_uses
from tests.helpers.studies import SETTINGS, deep_helps_signals_only, study


def test_the_verdict_is_the_interaction_with_its_interval_and_says_what_data_it_rests_on():
    claim = claim_uses(claims.Replicates(study(deep_helps_signals_only), SETTINGS).at(0), SETTINGS)
    [signal] = [d for d in claim.evidence.datasets if d.dataset == "signal"]
    [table] = [d for d in claim.evidence.datasets if d.dataset == "table"]
    interaction = claim.evidence.interaction
    assert interaction.effect.estimate == pytest.approx(
        signal.difference.effect.estimate - table.difference.effect.estimate
    )
    assert interaction.effect.low < interaction.effect.estimate < interaction.effect.high
    assert interaction.above(SETTINGS.alpha) and claim.verdict == "supported"
    assert claim.comparisons[0] is interaction
    assert "the interaction over 1 perception dataset (signal: sequence) and 1 tabular (table)" in claim.finding
    assert claim.effect.startswith("interaction (perception - tabular): +")


def test_equal_gains_on_both_kinds_refute_it_and_one_kind_alone_leaves_it_untested():
    equal = study(lambda dataset, family, depth: 0.3 + 0.1 * depth)
    claim = claim_uses(claims.Replicates(equal, SETTINGS).at(0), SETTINGS)
    assert claim.verdict == "refuted" and "does not differ significantly" in claim.finding
    assert claim.evidence.interaction.effect.low < 0 < claim.evidence.interaction.effect.high
    signals = study(deep_helps_signals_only).query("dataset == 'signal'")
    alone = claim_uses(claims.Replicates(signals, SETTINGS).at(0), SETTINGS)
    assert alone.verdict == "untested" and alone.evidence.interaction is None
    assert alone.finding.endswith("this study has 1 perception dataset (signal: sequence) and 0 tabular.")
