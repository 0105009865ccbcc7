"""The seven verdicts, and how far each holds: on two disjoint halves of the seeds (a verdict the halves do not
agree on reads UNSTABLE), and at each fixed learning rate of the grid."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from depthlab.claims.accuracy import claim_accuracy
from depthlab.claims.claim import Claim, Settings
from depthlab.claims.machines import claim_hardware
from depthlab.claims.network_types import claim_types
from depthlab.claims.stability import claim_stability
from depthlab.claims.study import configurations
from depthlab.claims.trends import claim_rate, claim_time
from depthlab.claims.uses import claim_uses

UNSTABLE = "unstable at this seed count"
MIN_SEEDS_FOR_HALVES = 4


def judge(runs: pd.DataFrame, machines: pd.DataFrame, settings: Settings) -> list[Claim]:
    """The seven verdicts over these runs."""
    table = configurations(runs, settings)
    return [
        claim_time(runs, settings),
        claim_accuracy(runs, table, settings),
        claim_rate(runs, settings),
        claim_stability(runs, table, settings),
        claim_types(runs, table, settings),
        claim_uses(runs, table, settings),
        claim_hardware(machines, settings),
    ]


LR_SENSITIVE = {2: claim_accuracy, 4: claim_stability, 5: claim_types, 6: claim_uses}  # claims about accuracy


def lr_sensitivity(grid: pd.DataFrame, settings: Settings) -> dict[int, str]:
    """Per claim about accuracy: would its verdict change if every configuration trained at one fixed lr?
    Judged on the lr grid's runs (the same seeds and steps at every lr), so that only the lr differs: the
    verdict with every configuration at its chosen lr against the verdict at each lr of the grid."""
    if grid.empty or grid.lr.nunique() < 2:
        return {}
    seeds = int(grid.groupby(["dataset", "family", "depth", "lr"]).seed.nunique().min())
    smallest_p = 2 / math.comb(2 * seeds, seeds)  # two-sided, seeds against seeds, every relabelling
    if smallest_p >= settings.alpha:
        return dict.fromkeys(
            LR_SENSITIVE,
            (
                f"cannot be judged on the lr grid's {seeds} seeds per configuration: a permutation test of {seeds} "
                f"against {seeds} seeds has p >= {smallest_p:.2f}, so no verdict could rest on a significant"
                " difference; "
                'each configuration\'s accuracy at every lr is in the table "Learning rates"'
            ),
        )

    def verdicts(runs: pd.DataFrame) -> dict[int, str]:
        table = configurations(runs, settings)
        return {n: judge_claim(runs, table, settings).verdict for n, judge_claim in LR_SENSITIVE.items()}

    chosen = verdicts(grid[grid.selected])
    fixed = {lr: verdicts(grid[grid.lr == lr]) for lr in sorted(grid.lr.unique())}
    where = f"on the lr grid's {grid.seed.nunique()} seeds and {int(grid.steps.max())} steps"
    out = {}
    for number in LR_SENSITIVE:
        detail = "; ".join(f"lr {lr:g}: {v[number]}" for lr, v in fixed.items())
        changed = any(v[number] != chosen[number] for v in fixed.values())
        out[number] = (
            f"{'would change' if changed else 'would not change'} at a fixed lr ({detail}; "
            f"each configuration at its chosen lr: {chosen[number]}), {where}"
        )
    return out


def seed_halves(runs: pd.DataFrame) -> tuple[list[int], list[int]] | None:
    """The seeds split into two disjoint halves in order (0-4 and 5-9 for ten); None below 4 seeds."""
    seeds = sorted(int(s) for s in runs.seed.unique())
    if len(seeds) < MIN_SEEDS_FOR_HALVES:
        return None
    return seeds[: len(seeds) // 2], seeds[len(seeds) // 2 :]


def judge_with_halves(runs: pd.DataFrame, machines: pd.DataFrame, settings: Settings) -> list[Claim]:
    """The verdicts over every seed, each checked on the two halves of the seeds: a verdict the halves do not
    agree on is replaced by UNSTABLE (the measured one stays in `measured_verdict`)."""
    verdicts = judge(runs, machines, settings)
    halves = seed_halves(runs)
    if halves is None:
        return [replace(c, measured_verdict=c.verdict) for c in verdicts]
    per_half = [
        judge(runs[runs.seed.isin(h)], machines[machines.seed.isin(h)] if not machines.empty else machines, settings)
        for h in halves
    ]
    checked = []
    for claim, first, second in zip(verdicts, *per_half, strict=True):
        agree = first.verdict == second.verdict
        checked.append(
            replace(
                claim,
                halves=(first.verdict, second.verdict),
                measured_verdict=claim.verdict,
                verdict=claim.verdict if agree else UNSTABLE,
            )
        )
    return checked


def halves_text(runs: pd.DataFrame) -> str:
    halves = seed_halves(runs)
    if halves is None:
        return f"split-half check needs at least {MIN_SEEDS_FOR_HALVES} seeds"
    return " and ".join(
        f"seeds {h[0]}-{h[-1]}" if h == list(range(h[0], h[-1] + 1)) else "seeds " + ", ".join(map(str, h))
        for h in halves
    )
