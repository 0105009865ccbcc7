"""Claim 7: the "architecture" of deep learning is hardware. The first two machines in MLflow compared on
the configurations both trained: time as a ratio, accuracy as a difference per configuration, since the
claim stands or falls on whether hardware changes what the same layers learn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.statistics import Effect, difference, ratio
from depthlab.claims.study import KEYS, seeds_of
from depthlab.claims.text import points

STATEMENT = '"Architecture" of deep learning is hardware.'


@dataclass(frozen=True)
class OnBoth:
    """One configuration trained on both machines: time B / A, and accuracy B - A."""

    configuration: str
    time: Effect
    accuracy: Comparison[str]


@dataclass(frozen=True)
class Machines:
    """Claim 7's evidence: the runs per machine in MLflow, and the first two machines' common configurations
    (A and B, by name)."""

    runs: dict[str, int]
    first: str = ""
    second: str = ""
    compared: tuple[OnBoth, ...] = ()


def claim_hardware(machines: pd.DataFrame, settings: Settings) -> Claim:
    """`machines`: one row per training run in MLflow with its hardware key, configuration and results."""
    names = sorted(machines.hardware.unique()) if not machines.empty else []
    runs = {n: int((machines.hardware == n).sum()) for n in names}
    if len(names) < 2:
        return Claim(
            7,
            STATEMENT,
            "untested",
            f"every figure here comes from one machine ({settings.hardware_summary}); run the pipeline on a "
            "second machine against the same MLflow server and the report compares them side by side.",
            "n/a",
            Machines(runs),
        )
    first, second = names[0], names[1]
    on_first, on_second = machines[machines.hardware == first], machines[machines.hardware == second]
    common = sorted(set(map(tuple, on_first[KEYS].to_numpy())) & set(map(tuple, on_second[KEYS].to_numpy())))
    if not common:
        return Claim(
            7,
            STATEMENT,
            "untested",
            "the machines in MLflow trained no configuration in common.",
            "n/a",
            Machines(runs, first, second),
        )
    times, pairs = {}, {}
    for d, f, depth in common:
        configuration = f"{d}/{f}-d{int(depth)}"
        times[configuration] = ratio(
            seeds_of(on_second, d, f, depth, "train_time_s"),
            seeds_of(on_first, d, f, depth, "train_time_s"),
            settings.confidence,
        )
        pairs[configuration] = (seeds_of(on_second, d, f, depth), seeds_of(on_first, d, f, depth))
    (accuracy,) = compare_all(Pairs(partial(difference, confidence=settings.confidence), pairs))
    found = tuple(OnBoth(c, times[c], accuracy[c]) for c in times)
    differs = [f.configuration for f in found if f.accuracy.significant(settings.alpha)]
    time_ratio = float(np.median([f.time.estimate for f in found]))
    slower, faster, factor = ("B", "A", time_ratio) if time_ratio >= 1 else ("A", "B", 1 / time_ratio)
    largest = max(
        found, key=lambda f: abs(f.accuracy.effect.estimate) if not math.isnan(f.accuracy.effect.estimate) else -1
    )
    effect = (
        f"time B / A: {time_ratio:.2f}x (median over {len(found)} configurations); largest accuracy difference: "
        f"{largest.configuration} {points(largest.accuracy.effect)}"
    )
    evidence = Machines(runs, first, second, found)
    timing = f"the same architectures on two machines: {slower} takes {factor:.2f}x as long as {faster} (median)"
    if differs:
        return Claim(
            7,
            STATEMENT,
            "depends",
            f"{timing}, and the machine changes the accuracy of {len(differs)} of "
            f"{len(found)} configurations significantly: {', '.join(differs)}.",
            effect,
            evidence,
        )
    return Claim(
        7,
        STATEMENT,
        "refuted",
        f"{timing}, and no configuration's accuracy differs significantly between "
        "them; hardware sets the time, the layers set what is learned.",
        effect,
        evidence,
    )
