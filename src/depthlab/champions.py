"""The study's champion per dataset, and when it replaces the one in the Model Registry.

The champion is the configuration of highest mean test accuracy; a configuration inside that one's interval
with fewer parameters is as good by the evidence, and the smaller model wins. The registered model
`depthlab-<dataset>` holds its representative (median) seed, and its alias `champion` moves only when a new
champion's mean lies above the old champion's interval: a result the seeds cannot tell apart from the old one
never moves it, and neither does a scheduled run that regressed. `promote` applies the rule to the registry
after each report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import pandas as pd

from depthlab import environment, tracking
from depthlab.params import Params
from depthlab.regressions import best_accuracies, dataset_of, regressions

DIGITS = 6  # accuracies in registry tags read 0.9245, not 0.9245000000000001


@dataclass(frozen=True)
class Champion:
    """A configuration that stands for its dataset; as registry tags, every field is a string."""

    dataset: str
    family: str
    depth: int
    lr: float
    param_count: int
    seeds: int
    accuracy: float  # mean test accuracy over the seeds
    accuracy_low: float  # its bootstrap interval
    accuracy_high: float
    seed: int  # the representative seed, whose model is registered
    seed_accuracy: float  # that model's own test accuracy
    run_id: str  # that seed's training run

    @property
    def configuration(self) -> str:
        return f"{self.family}-d{self.depth}"

    def describe(self) -> str:
        return (
            f"{self.configuration} (lr {self.lr:g}, {self.param_count:,} parameters): mean test accuracy "
            f"{100 * self.accuracy:.1f}% [{100 * self.accuracy_low:.1f}, {100 * self.accuracy_high:.1f}] over "
            f"{self.seeds} seeds; registered seed {self.seed} scores {100 * self.seed_accuracy:.1f}%"
        )

    def tags(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Champion:
        types = {"depth": int, "param_count": int, "seeds": int, "seed": int}
        floats = {"lr", "accuracy", "accuracy_low", "accuracy_high", "seed_accuracy"}
        return cls(
            **{name: types.get(name, float if name in floats else str)(tags[name]) for name in cls.__dataclass_fields__}
        )


@dataclass(frozen=True)
class Decision:
    dataset: str
    candidate: Champion | None  # this run's champion; None when no configuration has an accuracy
    registered: Champion | None  # the registry's champion before this run
    moves: bool
    reason: str


def candidate(table: pd.DataFrame, runs: pd.DataFrame, dataset: str) -> Champion | None:
    """This run's champion of `dataset` from the report's table (one row per configuration) and its runs (one
    row per seed, with `run_id` and `representative`)."""
    rows = table[(table.dataset == dataset) & table.accuracy.notna()]
    if rows.empty:
        return None
    top = rows.loc[rows.accuracy.idxmax()]
    ties = rows[rows.accuracy >= top.accuracy_low]
    chosen = ties.sort_values(["param_count", "accuracy"], ascending=[True, False]).iloc[0]
    seeds = runs[(runs.dataset == dataset) & (runs.family == chosen.family) & (runs.depth == chosen.depth)]
    representative = seeds[seeds.representative].iloc[0]
    return Champion(
        dataset=dataset,
        family=str(chosen.family),
        depth=int(chosen.depth),
        lr=float(chosen.lr),
        param_count=int(chosen.param_count),
        seeds=int(chosen.seeds),
        accuracy=round(float(chosen.accuracy), DIGITS),
        accuracy_low=round(float(chosen.accuracy_low), DIGITS),
        accuracy_high=round(float(chosen.accuracy_high), DIGITS),
        seed=int(representative.seed),
        seed_accuracy=round(float(representative.test_accuracy), DIGITS),
        run_id=str(representative.run_id),
    )


def decide(new: Champion | None, registered: Champion | None, regression: str | None) -> Decision:
    """Whether `new` replaces the registered champion, and why; `regression` says how this scheduled run
    regressed on the dataset, if it did."""
    dataset = (new or registered).dataset if (new or registered) else ""

    def decision(moves: bool, reason: str) -> Decision:
        return Decision(dataset, new, registered, moves, reason)

    if new is None:
        return decision(False, "no configuration has a test accuracy")
    if regression:
        return decision(False, f"this scheduled run regressed ({regression}): the champion never moves on one")
    if registered is None:
        return decision(True, "the first champion")
    if (new.configuration, new.lr, new.run_id) == (registered.configuration, registered.lr, registered.run_id):
        return decision(False, "the registered champion again")
    if not math.isfinite(registered.accuracy_high) or new.accuracy > registered.accuracy_high:
        return decision(
            True,
            f"{100 * new.accuracy:.1f}% is above the registered {registered.configuration}'s interval "
            f"(up to {100 * registered.accuracy_high:.1f}%)",
        )
    return decision(
        False,
        f"{new.configuration}'s {100 * new.accuracy:.1f}% does not beat the registered "
        f"{registered.configuration} ({100 * registered.accuracy:.1f}%) by more than its interval "
        f"(up to {100 * registered.accuracy_high:.1f}%)",
    )


def promote(params: Params, table: pd.DataFrame, runs: pd.DataFrame, report_run_id: str) -> list[Decision]:
    """Each dataset's decision against the registered champion, applied: a champion that moves is registered as
    a new version of its dataset's model (tagged with the report run that chose it) and the alias follows."""
    regressed = _scheduled_regressions(table, params.schedule.max_accuracy_drop)
    decisions = []
    for dataset in params.data.datasets:
        current = tracking.registered_champion(dataset)
        registered = Champion.from_tags(current[1]) if current else None
        decision = decide(candidate(table, runs, dataset), registered, regressed.get(dataset))
        if decision.moves:
            new = decision.candidate
            version = tracking.register_champion(
                dataset,
                new.run_id,
                {**new.tags(), "report_run_id": report_run_id, "why": decision.reason},
                description=(
                    f"depthlab's champion on {dataset}: the configuration of highest mean test accuracy (the one "
                    "with fewer parameters where another lies inside its interval), as its median seed's model. "
                    f'Load it with mlflow.pyfunc.load_model("models:/{tracking.registered_model_name(dataset)}'
                    f"@{tracking.CHAMPION}\"); each version's tags hold its configuration, accuracy and report run."
                ),
            )
            if version is None:
                decision = replace(decision, moves=False, reason="its run is in another tracking store")
        decisions.append(decision)
        print(f"champion of {dataset}: {'moved' if decision.moves else 'kept'} ({decision.reason})")
    return decisions


def _scheduled_regressions(table: pd.DataFrame, max_drop: float) -> dict[str, str]:
    """{dataset: how it regressed} for a scheduled run whose best accuracy dropped as the scheduler counts it."""
    if environment.trigger() != "schedule":
        return {}
    before = tracking.previous_pipeline_metrics("schedule")
    found = regressions(best_accuracies(table), before, max_drop)
    return {dataset_of(key): text for key, text in found.items()}
