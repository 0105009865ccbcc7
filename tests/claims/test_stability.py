from depthlab import claims
from depthlab.claims.stability import claim_stability
from tests.helpers.studies import SETTINGS, bimodal_plain, study


def test_deep_plain_seeds_that_fail_refute_stability_with_their_count():
    runs = study(bimodal_plain, families=("mlp", "resmlp"))
    stability = claim_stability(claims.Replicates(runs, SETTINGS).at(0), SETTINGS)
    assert stability.verdict == "refuted" and "7 of 10 seeds failed" in stability.effect
