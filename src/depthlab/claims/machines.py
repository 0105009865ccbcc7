"""Claim 7: the "architecture" of deep learning is hardware. Every pair of machines in MLflow compared on the
configurations both trained under one protocol: time as a ratio, accuracy as a difference per configuration,
since the claim stands or falls on whether hardware changes what the same layers learn.

Like is compared with like only: runs pair when their protocol (commit, steps, batch, lr grid, the params
that shape training, the data's digest) and their seeds are the same; what could not be paired is said.
A machine is the hardware a run trained on, not a host name (`tracking.queries.machine_of`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison, Pairs, compare_all
from depthlab.claims.replicates import View
from depthlab.claims.statistics import Effect, ratio
from depthlab.claims.text import points

STATEMENT = '"Architecture" of deep learning is hardware.'
MACHINE_KEYS = ["machine", "protocol", "dataset", "family", "depth"]  # the keys of machines' replicates


@dataclass(frozen=True)
class OnBoth:
    """One configuration trained on both machines of a pair: time B / A, and accuracy B - A."""

    configuration: str
    time: Effect
    accuracy: Comparison[tuple[str, str, str, str]]


@dataclass(frozen=True)
class MachinePair:
    """Two machines (A and B, by name) that trained configurations under one protocol."""

    protocol: str
    first: str
    second: str
    compared: tuple[OnBoth, ...]


@dataclass(frozen=True)
class Machines:
    """Claim 7's evidence: the runs per machine in MLflow, every pair compared, and what was left out."""

    runs: dict[str, int]
    pairs: tuple[MachinePair, ...] = ()
    left_out: tuple[str, ...] = ()


def claim_hardware(view: View, settings: Settings) -> Claim:
    """`view`: replicates of the training runs in MLflow (one row per run, keyed by MACHINE_KEYS)."""
    machines = view.runs
    names = sorted(machines.machine.unique()) if not machines.empty else []
    runs = {n: int((machines.machine == n).sum()) for n in names}
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
    plan, left_out = _pairs(machines)
    if not plan:
        return Claim(
            7,
            STATEMENT,
            "untested",
            "no two machines in MLflow trained a configuration under the same protocol and seeds.",
            "n/a",
            Machines(runs, (), tuple(left_out)),
        )
    times, keys = {}, {}
    for (protocol, first, second), configurations in plan.items():
        for dataset, family, depth in configurations:
            label = (protocol, first, second, f"{dataset}/{family}-d{int(depth)}")
            a, b = ((m, protocol, dataset, family, depth) for m in (first, second))
            keys[label] = (b, a)
            times[label] = ratio(*(_times(machines, key) for key in (b, a)), settings.confidence)
    (accuracy,) = compare_all(Pairs(view.difference, keys))
    pairs = tuple(
        MachinePair(
            protocol,
            first,
            second,
            tuple(
                OnBoth(label[3], times[label], accuracy[label])
                for label in times
                if label[:3] == (protocol, first, second)
            ),
        )
        for protocol, first, second in plan
    )
    found = [c for p in pairs for c in p.compared]
    differs = [
        f"{c.configuration} ({p.first} / {p.second})"
        for p in pairs
        for c in p.compared
        if c.accuracy.significant(settings.alpha)
    ]
    time_ratio = float(np.median([c.time.estimate for c in found]))
    largest = max(
        found, key=lambda c: abs(c.accuracy.effect.estimate) if not math.isnan(c.accuracy.effect.estimate) else -1
    )
    effect = (
        f"time B / A: {time_ratio:.2f}x (median over {len(found)} configurations of {len(pairs)} pair(s) of machines); "
        f"largest accuracy difference: {largest.configuration} {points(largest.accuracy.effect)}"
    )
    evidence = Machines(runs, pairs, tuple(left_out))
    slower, faster, factor = ("B", "A", time_ratio) if time_ratio >= 1 else ("A", "B", 1 / time_ratio)
    timing = (
        f"the same architectures on {len(names)} machines: {slower} takes {factor:.2f}x as long as {faster} (median)"
    )
    tests = tuple(accuracy.values())
    if differs:
        finding = (
            f"{timing}, and the machine changes the accuracy of {len(differs)} of {len(found)} configurations "
            f"significantly: {', '.join(differs)}."
        )
        return Claim(7, STATEMENT, "depends", finding, effect, evidence, tests)
    finding = (
        f"{timing}, and no configuration's accuracy differs significantly between them; hardware sets the time, "
        "the layers set what is learned."
    )
    return Claim(7, STATEMENT, "refuted", finding, effect, evidence, tests)


def _times(machines: pd.DataFrame, key: tuple) -> pd.Series:
    chosen = machines
    for column, value in zip(MACHINE_KEYS, key, strict=True):
        chosen = chosen[chosen[column] == value]
    return chosen.train_time_s.astype(float)


def _pairs(machines: pd.DataFrame) -> tuple[dict[tuple[str, str, str], list[tuple]], list[str]]:
    """Per (protocol, machine A, machine B): the configurations both trained with the same seeds; and a
    sentence for each machine's runs that pair with nothing."""
    seeds = machines.groupby(MACHINE_KEYS).seed.apply(frozenset)
    plan: dict[tuple[str, str, str], list[tuple]] = {}
    paired: set[tuple[str, str]] = set()
    for protocol, at_protocol in seeds.groupby(level="protocol"):
        by_machine = {m: group.droplevel(["machine", "protocol"]) for m, group in at_protocol.groupby(level="machine")}
        for first, second in itertools.combinations(sorted(by_machine), 2):
            a, b = by_machine[first], by_machine[second]
            common = [c for c in a.index.intersection(b.index) if a[c] == b[c]]
            if common:
                plan[protocol, first, second] = sorted(common)
                paired |= {(first, protocol), (second, protocol)}
    left_out = [
        f"{machine}: {int(count)} run(s) of protocol {protocol} with no other machine under the same protocol and seeds"
        for (machine, protocol), count in machines.groupby(["machine", "protocol"]).size().items()
        if (machine, protocol) not in paired
    ]
    return plan, left_out
