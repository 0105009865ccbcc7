"""The article's seven claims about depth, each turned into a measured verdict with its effect and interval.

Input: one row per trained (dataset, family, depth, seed) from the evaluate stage, with each run's right or
wrong answer on every test example. One module an idea: `resampling` (replicates of a study: seeds and test
examples drawn again), `replicates` (the study one replicate at a time, and the tests of two configurations
on it), `statistics` (what is not resampled: time, trends, the rule of a failed seed), `comparisons` (a
claim's family of tests, adjusted together into typed rows), `study` (configurations matched in size),
`claim` (what a claim is judged with and returns), one module per claim (`trends`: 1 and 3, `accuracy`: 2,
`stability`: 4, `network_types`: 5, `uses`: 6, `machines`: 7), `verdicts` (all seven, each with the share of
replicates that reach it, and at fixed learning rates) and `text` (how their numbers read). A difference
counts when its adjusted p < 1 - confidence. Nothing here writes Markdown: `depthlab.report` renders them.
"""

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.replicates import Replicates
from depthlab.claims.study import matched_configurations
from depthlab.claims.verdicts import INCONCLUSIVE, judge, lr_sensitivity, stated_share

__all__ = [
    "INCONCLUSIVE",
    "Claim",
    "Replicates",
    "Settings",
    "judge",
    "lr_sensitivity",
    "matched_configurations",
    "stated_share",
]
