import math

import pytest

from depthlab.claims.comparisons import Pairs, compare_all
from depthlab.claims.statistics import Effect


def given_p(p: float, estimate: float) -> Effect:
    return Effect(estimate, math.nan, math.nan, p)


def test_every_test_of_a_family_is_adjusted_together_and_each_row_keeps_its_own_q():
    """The four p-values of the Benjamini-Hochberg test above, split over two tests of one claim."""
    first, second = compare_all(
        Pairs(given_p, {"a": (0.01, +1.0), "b": (0.04, -1.0)}),
        Pairs(given_p, {"c": (math.nan, 0.0), "d": (0.03, +1.0)}),
    )
    assert list(first) == ["a", "b"] and list(second) == ["c", "d"]
    assert [first["a"].q, first["b"].q, second["d"].q] == pytest.approx([0.03, 0.04, 0.04])
    assert math.isnan(second["c"].q) and not second["c"].significant(0.05)
    assert first["a"].above(0.05) and not first["a"].below(0.05) and first["b"].below(0.05)
    assert first["b"].key == "b" and first["b"].effect.estimate == -1.0
