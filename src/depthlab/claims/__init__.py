"""The article's seven claims about depth, each turned into a measured verdict with its effect and interval.

Input: one row per trained (dataset, family, depth, seed) from the evaluate stage. One module an idea:
`statistics` (the tests and intervals, each returning an `Effect`), `comparisons` (a claim's family of tests,
adjusted together into typed rows), `study` (the table of configurations), `claim` (what a claim is judged
with and returns), one module per claim (`trends`: 1 and 3, `accuracy`: 2, `stability`: 4,
`network_types`: 5, `uses`: 6, `machines`: 7), `verdicts` (all seven, checked on halves of the seeds and at
fixed learning rates) and `text` (how their numbers read). A difference counts when its adjusted
p < 1 - confidence. Nothing here writes Markdown: `depthlab.report` renders the claims.
"""

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.study import configurations, matched_configurations
from depthlab.claims.verdicts import UNSTABLE, halves_text, judge, judge_with_halves, lr_sensitivity

__all__ = [
    "UNSTABLE",
    "Claim",
    "Settings",
    "configurations",
    "halves_text",
    "judge",
    "judge_with_halves",
    "lr_sensitivity",
    "matched_configurations",
]
