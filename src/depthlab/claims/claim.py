"""What every claim is judged with, and what it returns: a verdict with its reason, its effect and the typed
evidence behind it (the report renders that evidence; nothing here is Markdown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from depthlab.claims.comparisons import Comparison
from depthlab.claims.resampling import VerdictShares


@dataclass(frozen=True)
class Settings:
    confidence: float
    collapse_margin: float  # a seed failed below chance + this x (1 - chance) (statistics.failed)
    deep_from: int
    kinds: dict[str, str]
    hardware_summary: str
    types: dict[str, str] = field(default_factory=dict)  # family -> the article's type of network
    resamples: int = 300  # replicates of the study a verdict is re-judged on
    agreement: float = 0.9  # the share of replicates a verdict needs to be stated

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


@dataclass(frozen=True)
class Claim:
    number: int
    statement: str
    verdict: str  # supported | refuted | depends | not supported | untested | INCONCLUSIVE
    finding: str  # one sentence: why this verdict
    effect: str  # the effect behind the verdict, with its interval
    evidence: Any  # the claim's own evidence type (its comparisons, row by row)
    comparisons: tuple[Comparison[Any], ...] = ()  # the tests the verdict rests on
    shares: VerdictShares | None = None  # how often replicates of the study reach each verdict; None: not resampled
    settle: str = ""  # for an inconclusive verdict: the test it turns on, and what would settle it
    lr_sensitivity: str = ""  # whether the verdict would change at a fixed learning rate
