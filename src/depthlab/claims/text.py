"""How the claims' numbers read, in a finding's sentence and in a table of evidence alike: one wording, so
that a figure quoted in a verdict's reason is the figure in its table."""

from __future__ import annotations

import math

from depthlab.claims.statistics import Collapse, Effect


def percent(value: float | None) -> str:
    """An accuracy (a fraction) in percent."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def p_value(p: float) -> str:
    return "n/a" if math.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def points(effect: Effect) -> str:
    """A difference of accuracies (fractions) in percentage points, with its interval."""
    return f"{100 * effect.estimate:+.1f} pts [{100 * effect.low:+.1f}, {100 * effect.high:+.1f}]"


def times(effect: Effect) -> str:
    """A ratio with its interval."""
    if effect.low == effect.high:  # no spread: e.g. the seeds of an ensemble share its time
        return f"{effect.estimate:.2f}x"
    return f"{effect.estimate:.2f}x [{effect.low:.2f}, {effect.high:.2f}]"


def collapsed(collapse: Collapse) -> str:
    """Failed seeds, with the interval of their share over the study's replicates."""
    return (
        f"{collapse.collapsed} of {collapse.seeds} seeds failed [{100 * collapse.low:.0f}%, {100 * collapse.high:.0f}%]"
    )


def pair(dataset: str, family: str) -> str:
    return f"{family} on {dataset}"
