"""What every claim is judged with, and what it returns: a verdict with its reason, its effect and the typed
evidence behind it (the report renders that evidence; nothing here is Markdown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    confidence: float
    collapse_margin: float
    deep_from: int
    kinds: dict[str, str]
    hardware_summary: str
    types: dict[str, str] = field(default_factory=dict)  # family -> the article's type of network

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


@dataclass(frozen=True)
class Claim:
    number: int
    statement: str
    verdict: str  # supported | refuted | depends | not supported | untested | UNSTABLE
    finding: str  # one sentence: why this verdict
    effect: str  # the effect behind the verdict, with its interval
    evidence: Any  # the claim's own evidence type (its comparisons, row by row)
    halves: tuple[str, str] | None = None  # the verdicts on the two halves of the seeds
    measured_verdict: str = ""  # the verdict over all seeds, before the split-half check
    lr_sensitivity: str = ""  # whether the verdict would change at a fixed learning rate
