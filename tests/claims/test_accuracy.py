import re

from depthlab import claims
from depthlab.claims.accuracy import claim_accuracy
from depthlab.report.evidence import as_markdown
from tests.helpers.studies import SETTINGS, bimodal_plain, study


def measured(runs):
    return claim_accuracy(claims.Replicates(runs, SETTINGS).at(0), SETTINGS)


def test_a_bimodal_collapse_is_a_large_effect_with_its_failed_seeds_not_a_p_value():
    claim = measured(study(bimodal_plain, families=("mlp", "resmlp")))
    assert "depth 4 plain vs residual on signal" in claim.effect and "7 of 10 plain seeds failed" in claim.effect
    row = as_markdown(claim.evidence).split("He et al.")[1].splitlines()[-1]  # the signal's row
    difference, adjusted_p = re.search(r"\| (-[\d.]+) pts \[.*\|\s+([\d.<]+) \|", row).groups()
    assert -58 < float(difference) < -54 and "7 of 10 seeds failed" in row
    assert adjusted_p == "<0.001" or float(adjusted_p) < 0.05


def test_a_peak_then_a_significant_drop_is_reported_as_such():
    claim = measured(study(lambda dataset, family, depth: {0: 0.5, 1: 0.8, 4: 0.6}[depth]))
    assert claim.verdict == "depends" and "rises to depth 1, then significantly worse" in as_markdown(claim.evidence)
