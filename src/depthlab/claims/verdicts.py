"""The seven verdicts, each with its probability: the share of replicates of the study (seeds and test
examples resampled together, `claims.replicates`) whose own verdict it is. A verdict is stated where it holds
in at least `settings.agreement` of the replicates; otherwise it reads INCONCLUSIVE, with the candidates'
shares and the test it turns on. This replaces the split-half check, a cruder view of the same question
(two replicates of half the seeds each, which could only agree or not). Also: would a verdict change at a
fixed learning rate of the grid?"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import replace

import pandas as pd

from depthlab.claims.accuracy import claim_accuracy
from depthlab.claims.claim import Claim, Settings
from depthlab.claims.comparisons import Comparison
from depthlab.claims.machines import MACHINE_KEYS, claim_hardware
from depthlab.claims.network_types import claim_types
from depthlab.claims.replicates import Key, Replicates, View
from depthlab.claims.resampling import verdict_shares
from depthlab.claims.stability import claim_stability
from depthlab.claims.text import points
from depthlab.claims.trends import claim_rate, claim_time
from depthlab.claims.uses import claim_uses

INCONCLUSIVE = "inconclusive"
MIN_SEEDS = 4  # fewer seeds per configuration than this cannot tell seed noise from an effect
# The claims whose evidence is accuracy, judged on every replicate; 1 and 3 are about time, measured once per
# configuration (its seeds share their ensemble's time), and are not resampled.
RESAMPLED: dict[int, Callable[[View, Settings], Claim]] = {
    2: claim_accuracy,
    4: claim_stability,
    5: claim_types,
    6: claim_uses,
}


def judge(study: Replicates, machines: pd.DataFrame, numbers: Collection[int] = range(1, 8)) -> list[Claim]:
    """The seven verdicts over the study's runs (and the runs of every machine in MLflow, for claim 7), each
    with its probability over the replicates of the study; only those of `numbers` where given (the report's
    cells of budget and size judge claims 2, 4 and 6 alone, each on its own study)."""
    runs, settings = study.runs, study.settings
    on_machines = Replicates(machines, settings, MACHINE_KEYS)
    measured = {n: judge_claim(study.at(0), settings) for n, judge_claim in RESAMPLED.items() if n in numbers}
    if 7 in numbers:
        measured[7] = claim_hardware(on_machines.at(0), settings)
    judged = {}
    for number, claim in measured.items():
        replicates, judge_claim = (on_machines, claim_hardware) if number == 7 else (study, RESAMPLED[number])
        if claim.verdict == "untested":  # nothing measured to resample
            judged[number] = claim
            continue
        per_replicate = [judge_claim(replicates.at(i), settings) for i in range(1, replicates.count + 1)]
        judged[number] = _with_probability(claim, per_replicate, replicates, settings)
    timed = [
        judge_claim(runs, settings) for number, judge_claim in ((1, claim_time), (3, claim_rate)) if number in numbers
    ]
    return sorted([*timed, *judged.values()], key=lambda claim: claim.number)


def _with_probability(measured: Claim, replicated: list[Claim], replicates: Replicates, settings: Settings) -> Claim:
    shares = verdict_shares([measured.verdict] + [claim.verdict for claim in replicated], settings.agreement)
    if shares.stated != INCONCLUSIVE:
        return replace(measured, shares=shares, verdict=shares.stated)
    return replace(measured, shares=shares, verdict=INCONCLUSIVE, settle=_settle(measured, replicated, replicates))


def _settle(measured: Claim, replicated: list[Claim], replicates: Replicates) -> str:
    """The test whose outcome varies most over the replicates (significant closest to half the time), and
    how many seeds would find its effect with 80% power, or why seeds cannot."""
    significant: dict[tuple, list[bool]] = {}
    for claim in replicated:
        for test in claim.comparisons:
            if test.effect.basis is not None:
                significant.setdefault(test.effect.basis, []).append(test.significant(replicates.settings.alpha))
    measured_tests = {t.effect.basis: t for t in measured.comparisons if t.effect.basis is not None}
    candidates = {
        basis: sum(flags) / len(replicated) for basis, flags in significant.items() if basis in measured_tests
    }
    if not candidates:
        return "no single test decides it: the candidates differ in which configurations they compare"
    basis = min(candidates, key=lambda b: abs(candidates[b] - 0.5))
    test = measured_tests[basis]
    seeds = replicates.seeds_to_settle(basis)
    need = (
        f"about {seeds} seeds per configuration would find it with 80% power"
        if seeds is not None
        else "more seeds cannot settle it: the test split's examples alone leave its interval too wide"
        if replicates.examples_kept
        else "no number of seeds is estimated"
    )
    share = f"{100 * candidates[basis]:.0f}%"
    return f"it turns on {describe(basis)}, {_measured(test)}, significant in {share} of replicates; {need}"


def describe(basis: tuple[str, Key, Key]) -> str:
    """ "rbm on breast_cancer, depth 4 vs 2 (accuracy)": the two configurations a test compared."""
    kind, a, b = basis
    what = {"difference": "accuracy", "spread": "spread of seeds", "collapses": "failed seeds"}[kind]
    (dataset_a, family_a, depth_a), (_, family_b, depth_b) = a[-3:], b[-3:]
    if a[:-3] != b[:-3]:  # machines: the rest of the key names them
        return f"{family_a}-d{depth_a} on {dataset_a}, {a[0]} vs {b[0]} ({what})"
    if family_a == family_b:
        return f"{family_a} on {dataset_a}, depth {depth_a} vs {depth_b} ({what})"
    return f"{family_a}-d{depth_a} vs {family_b}-d{depth_b} on {dataset_a} ({what})"


def _measured(test: Comparison[object]) -> str:
    kind = test.effect.basis[0] if test.effect.basis else "difference"
    if kind == "collapses":
        return f"{test.effect.estimate:+.0f} seeds [{test.effect.low:+.0f}, {test.effect.high:+.0f}]"
    return points(test.effect)


def lr_sensitivity(grid: pd.DataFrame, settings: Settings) -> dict[int, str]:
    """Per claim about accuracy: would its verdict change if every configuration trained at one fixed lr?
    Judged on the lr grid's runs (the same seeds and steps at every lr), so that only the lr differs: the
    verdict with every configuration at its chosen lr against the verdict at each lr of the grid."""
    if grid.empty or grid.lr.nunique() < 2:
        return {}
    seeds = int(grid.groupby(["dataset", "family", "depth", "lr"]).seed.nunique().min())
    if seeds < MIN_SEEDS:
        return dict.fromkeys(
            RESAMPLED,
            (
                f"cannot be judged on the lr grid's {seeds} seeds per configuration: resampling fewer than "
                f"{MIN_SEEDS} seeds cannot tell seed noise from an effect; "
                'each configuration\'s accuracy at every lr is in the table "Learning rates"'
            ),
        )
    quick = replace(settings, resamples=min(settings.resamples, 200))

    def verdicts(runs: pd.DataFrame) -> dict[int, str]:
        view = Replicates(runs, quick).at(0)
        return {n: judge_claim(view, quick).verdict for n, judge_claim in RESAMPLED.items()}

    chosen = verdicts(grid[grid.selected])
    fixed = {lr: verdicts(grid[grid.lr == lr]) for lr in sorted(grid.lr.unique())}
    where = f"on the lr grid's {grid.seed.nunique()} seeds and {int(grid.steps.max())} steps"
    out = {}
    for number in RESAMPLED:
        detail = "; ".join(f"lr {lr:g}: {v[number]}" for lr, v in fixed.items())
        changed = any(v[number] != chosen[number] for v in fixed.values())
        out[number] = (
            f"{'would change' if changed else 'would not change'} at a fixed lr ({detail}; "
            f"each configuration at its chosen lr: {chosen[number]}), {where}"
        )
    return out


def stated_share(claim: Claim) -> str:
    """A verdict's probability at a glance: "96%", or every candidate's share for an inconclusive one, or why
    there is none."""
    if claim.shares is None:
        return "n/a" if claim.verdict == "untested" else "not resampled: one time per configuration"
    if claim.verdict == INCONCLUSIVE:
        return claim.shares.text()
    return f"{100 * claim.shares.shares.get(claim.verdict, math.nan):.0f}%"
