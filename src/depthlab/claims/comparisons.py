"""One claim's family of tests, run and adjusted together: the typed rows every verdict rule reads.

A test takes two samples and returns an `Effect` (its estimate, interval and p); `compare_all` runs each
of a claim's tests on its pairs of samples and adjusts every p of the claim together (Benjamini-Hochberg),
so each row carries its own adjusted p. A rule then reads rows, never positions in a list of p-values: a claim can take
another test or interval for its samples, or be re-run on resampled evidence, without touching its rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from depthlab.claims.statistics import Effect, adjusted

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Comparison(Generic[K]):
    """What was compared (`key`), the effect with its interval and p, and `q`: that p adjusted over every
    test of the claim (NaN where the test gives no p)."""

    key: K
    effect: Effect
    q: float = math.nan

    def significant(self, alpha: float) -> bool:
        return not math.isnan(self.q) and self.q < alpha

    def above(self, alpha: float) -> bool:
        """A significant effect with a positive estimate."""
        return self.effect.estimate > 0 and self.significant(alpha)

    def below(self, alpha: float) -> bool:
        """A significant effect with a negative estimate."""
        return self.effect.estimate < 0 and self.significant(alpha)


class Pairs(NamedTuple):
    """Pairs of samples by key, {key: (a, b)}, and the test that compares a with b."""

    test: Callable[[Any, Any], Effect]
    samples: Mapping[Any, tuple[Any, Any]]


def compare_all(*families: Pairs) -> tuple[dict[Any, Comparison[Any]], ...]:
    """Every test run on its pairs and every p adjusted together, as one family of tests; per `Pairs`, its
    rows by key, in its order."""
    effects = [{key: test(a, b) for key, (a, b) in samples.items()} for test, samples in families]
    qs = iter(adjusted([effect.p for found in effects for effect in found.values()]))
    return tuple({key: Comparison(key, effect, next(qs)) for key, effect in found.items()} for found in effects)
