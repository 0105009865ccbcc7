"""The section "Budget and size": present, with a verdict per cell and its small multiples, where budget or
training-set size is an axis; absent otherwise (tests/report/test_markdown.py pins that report whole)."""

from pathlib import Path

import pytest

from depthlab import hardware
from depthlab.cell import Cell
from depthlab.report import cells, write_report
from tests.helpers.evaluations import study_params, write_evaluations

AXES = {"max_steps": [10, 30], "train_rows": [100, 200], "selection": {"max_steps": None}}


def report_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **train: object) -> str:
    monkeypatch.setattr(hardware, "summary", lambda: "a fixed machine")
    params = study_params()
    params = params.model_copy(
        update={
            "train": params.train.model_copy(update=train),
            "tracking": params.tracking.model_copy(update={"enabled": False}),
            "report": params.report.model_copy(update={"resamples": 40}),
        }
    )
    write_report(params, write_evaluations(params, tmp_path / "eval"), tmp_path / "reports")
    return (tmp_path / "reports" / "claims.md").read_text()


def test_with_budget_and_size_swept_the_report_judges_claims_2_4_and_6_in_every_cell(tmp_path, monkeypatch):
    report = report_of(tmp_path, monkeypatch, max_steps=[10, 30], train_rows=[100, 200])
    assert "Protocol: 8 seeds per configuration, 30 steps, 200 rows (the largest cell" in report
    section = report.split("## Budget and size")[1].split("## Claim 1:")[0]
    table = [line for line in section.splitlines() if line.startswith("| 10 |") or line.startswith("| 30 |")]
    assert [line.split(" | ")[:2] for line in table] == [
        ["| 10", "100"],
        ["| 10", "200"],
        ["| 30", "100"],
        ["| 30", "200"],
    ]
    assert (
        "- breast_cancer holds 150 training rows: it trained on all of them in the cells of 200 rows "
        "(train.larger_than_split: whole_split), so its cells differ in budget only." in section
    )
    assert "mnist1d holds" not in section, "a dataset larger than every size is not named"
    verdicts = [line.split(" | ")[2:] for line in table]
    assert all(len(row) == 3 and all("%" in v for v in row) for row in verdicts), "claims 2, 4, 6, each its probability"
    # Depth pays on mnist1d at the larger budget only (tests/helpers/evaluations.py): claim 2 says so.
    assert (
        "**Claim 2: Deeper models are more accurate.** Verdict: changes with the budget, not with the size." in section
    )
    assert f"![accuracy vs depth in every cell of budget and size](plots/{cells.PLOT})" in section
    header = next(line for line in section.splitlines() if line.startswith("| dataset"))
    assert [c.strip() for c in header.strip("|").split("|")][3:] == [
        f"{steps} steps, {rows} rows" for steps in (10, 30) for rows in (100, 200)
    ], "mean accuracy per cell"
    assert (tmp_path / "reports" / "plots" / cells.PLOT).read_bytes()[:4] == b"\x89PNG"
    summary = (tmp_path / "reports" / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 4 + 3 + 3 + 2 + 3 + 2 + 2, "the main table: one cell's configurations"


def test_without_an_axis_there_is_no_budget_and_size_section_nor_its_plot(tmp_path, monkeypatch):
    report = report_of(tmp_path, monkeypatch, train_rows=100)
    assert "## Budget and size" not in report and "30 steps, 100 training rows" in report
    assert not (tmp_path / "reports" / "plots" / cells.PLOT).exists()


def test_how_a_verdict_varies_over_the_cells():
    def verdicts(*values: str) -> dict[Cell, str]:
        return dict(zip([Cell(1, 10), Cell(1, 20), Cell(2, 10), Cell(2, 20)], values, strict=True))

    assert cells.how_it_varies(verdicts("depends", "depends", "depends", "depends")) == "depends in every cell"
    assert cells.how_it_varies(verdicts("refuted", "refuted", "depends", "depends")).endswith(
        "budget, not with the size"
    )
    assert cells.how_it_varies(verdicts("refuted", "depends", "refuted", "depends")).endswith(
        "size, not with the budget"
    )
    assert cells.how_it_varies(verdicts("refuted", "depends", "depends", "depends")) == (
        "changes with budget and size together"
    )
