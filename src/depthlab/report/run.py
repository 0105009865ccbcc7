"""The report's MLflow run, `report`: headline metrics, the verdicts as tags and in its description, the
report's files as artifacts, and the champions it moved or kept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from depthlab import champions, claims, tracking
from depthlab.params import Params
from depthlab.report import markdown


def log(
    params: Params,
    table: pd.DataFrame,
    runs: pd.DataFrame,
    verdicts: list[claims.Claim],
    out_dir: Path,
    files: tuple[str, ...],
) -> None:
    """The `report` run: headline metrics, the verdicts as tags and in its description, the report's `files`
    and plots in `out_dir` as artifacts; then each dataset's champion in the Model Registry (see
    `depthlab.champions`)."""
    best = table.loc[table["accuracy"].idxmax()]
    with tracking.tracked_run(
        dataset="study",
        name="report",
        params={
            "sweep": params.sweep.model_dump(),
            "train": params.train.model_dump(mode="json"),
            "report": params.report.model_dump(),
        },
        tags={
            "kind": "report",
            **{f"claim_{c.number}": c.verdict for c in verdicts},
            **{f"claim_{c.number}.probability": claims.stated_share(c) for c in verdicts},
        },
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
    ) as run:
        run.log_metrics(
            {
                "best_test_accuracy": float(best["accuracy"]),
                "configurations": len(table),
                "claims_stated": sum(c.verdict not in (claims.INCONCLUSIVE, "untested") for c in verdicts),
            }
        )
        for name in files:
            run.log_artifacts(out_dir / name, "report")
        run.log_artifacts(out_dir / "plots", "report/plots")
        run.set_tags({"best_model": f"{best['dataset']}/{best['family']}-d{best['depth']}"})
        if params.tracking.enabled:
            decisions = champions.promote(params, table, runs, run.run_id)
            run.set_tags(
                {
                    **{f"champion.{d.dataset}": "moved" if d.moves else "kept" for d in decisions},
                    "mlflow.note.content": _description(verdicts, decisions, len(table), run),
                }
            )


def _description(
    verdicts: list[claims.Claim], decisions: list[champions.Decision], configurations: int, run: tracking.TrackedRun
) -> str:
    """The report run's description in the MLflow UI: the verdicts, links to the full report, the champions."""
    folder = tracking.ui_link(run.experiment_id, run.run_id, "report")
    report, summary = f"{folder}/claims.html", f"{folder}/summary.csv"
    lines = [
        f"The claims report over {configurations} configurations. The full report, with the evidence for each "
        f"verdict: [claims.html]({report}); every configuration: [summary.csv]({summary}); plots in "
        "`report/plots/`.",
        "",
        "| # | claim | verdict | probability |",
        "|---|---|---|---|",
        *(f"| {c.number} | {c.statement} | {markdown.shown_verdict(c)} | {claims.stated_share(c)} |" for c in verdicts),
    ]
    lines += ["", "Champions in the Model Registry:"]
    for decision in decisions:
        model = tracking.registered_model_name(decision.dataset)
        shown = decision.candidate.describe() if decision.candidate else "none"
        lines.append(
            f"- [{model}](#/models/{model})@{tracking.CHAMPION} {'moved' if decision.moves else 'kept'}: "
            f"{decision.reason}. This run: {shown}."
        )
    return "\n".join(lines)
