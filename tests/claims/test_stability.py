from depthlab import claims
from depthlab.claims.stability import claim_stability
from tests.helpers.studies import SETTINGS, bimodal_plain, study


def test_deep_plain_seeds_that_collapse_refute_stability_with_their_collapse_count():
    runs = study(bimodal_plain, families=("mlp", "resmlp"))
    stability = claim_stability(runs, claims.configurations(runs, SETTINGS), SETTINGS)
    assert stability.verdict == "refuted" and "7 of 10 seeds collapsed" in stability.effect
