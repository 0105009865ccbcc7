import re

import pandas as pd

from depthlab import claims
from depthlab.report.evidence import as_markdown
from tests.helpers.studies import SETTINGS, study


def test_the_types_claim_names_the_articles_types_and_groups():
    settings = claims.Settings(**{**SETTINGS.__dict__, "types": {"mlp": "feed-forward", "cnn": "convolutional"}})
    runs = study(lambda d, f, depth: 0.9 if f == "cnn" else 0.6)
    [claim] = [c for c in claims.judge(claims.Replicates(runs, settings), pd.DataFrame()) if c.number == 5]
    assert claim.verdict == "supported" and "convolutional (cnn) on signal" in claim.finding
    assert re.search(r"\| feed-forward +\| plain +\| mlp", as_markdown(claim.evidence))
    assert re.search(r"\| convolutional +\| deep +\| cnn", as_markdown(claim.evidence))
