"""The study's report: a table over every trained configuration, plots, and the article's seven claims with
verdicts (reports/claims.md and .html), logged to MLflow as a `report` run.

One module a job: `inputs` (the evaluate stage's summaries as runs), `markdown` (the document) with
`evidence` (each claim's evidence as tables), `plots`, `cells` (the verdicts per cell of budget and size, where
those are axes) and `run` (the MLflow run and its champions).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from depthlab import claims, hardware, reference, tracking
from depthlab.outputs import staged_dir, write_text
from depthlab.params import Params
from depthlab.report import cells, inputs, markdown, plots, run

ACCURACY_CURVES = "accuracy_by_depth.csv"  # the data of DVC's accuracy plot (dvc.yaml `plots:`)
REPORT_FILES = ("claims.html", "claims.md", "summary.csv", ACCURACY_CURVES)  # the report run's artifacts, with plots/


def _insensitive(number: int, grid: pd.DataFrame) -> str:
    """Why a claim has no learning-rate sensitivity line."""
    if grid.empty:
        return "not checked: train.lr has one value"
    if number in (1, 3):
        return "not checked: the lr does not change how long a step takes"
    return "not checked: compares machines"


def write_report(params: Params, evaluations: Path, out_dir: Path) -> pd.DataFrame:
    """Write summary.csv, the accuracy curves for DVC, claims.md, claims.html and plots/ to `out_dir`
    all-or-nothing; return the summary."""
    every_run, every_grid = inputs.load_runs(params, evaluations)
    main = params.train.main_cell
    runs, grid = cells.in_cell(every_run, every_grid, main)
    machine = hardware.summary()
    settings = inputs.settings(params, machine)
    per_cell = cells.judge_cells(every_run, settings) if len(cells.cells_of(every_run)) > 1 else []
    study = claims.Replicates(runs, settings)
    table = study.table
    machines = tracking.runs_by_machine(params.data.datasets) if params.tracking.enabled else pd.DataFrame()
    sensitivity = claims.lr_sensitivity(grid, settings)
    verdicts = [
        replace(c, lr_sensitivity=sensitivity.get(c.number, _insensitive(c.number, grid)))
        for c in claims.judge(study, machines)
    ]
    references = reference.reference_table(params, runs)
    section = cells.section(per_cell, main, settings.resamples, cells.split_rows(every_run)) if per_cell else None
    document = markdown.document(params, table, runs, grid, verdicts, references, settings, section)

    with staged_dir(out_dir / "plots") as written:
        plots.write_plots(table, runs, written, machine, settings.types)
        if per_cell:
            cells.write_plot(per_cell, every_run, written, machine)
    write_text(out_dir / ACCURACY_CURVES, plots.accuracy_curves(table).to_csv(index=False))
    write_text(out_dir / "summary.csv", table.to_csv(index=False))
    write_text(out_dir / "claims.md", document)
    write_text(out_dir / "claims.html", markdown.html(document))
    run.log(params, table, runs, verdicts, out_dir, REPORT_FILES)
    return table
