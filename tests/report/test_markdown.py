"""The report's text pinned on a study made by hand (tests/helpers/evaluations.py), whose verdicts span every
claim's rule: a refactor leaves it byte for byte as it is; a deliberate change to the report's wording or
statistics rewrites tests/report/expected_claims.md (the failure says from where)."""

from pathlib import Path

import pytest

from depthlab import hardware
from depthlab.report import write_report
from tests.helpers.evaluations import study_params, write_evaluations

EXPECTED = Path(__file__).with_name("expected_claims.md")


def test_the_report_of_a_known_study_reads_as_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hardware, "summary", lambda: "a fixed machine")
    params = study_params()
    params = params.model_copy(update={"tracking": params.tracking.model_copy(update={"enabled": False})})
    write_report(params, write_evaluations(params, tmp_path / "eval"), tmp_path / "reports")
    written = tmp_path / "reports" / "claims.md"
    assert written.read_text() == EXPECTED.read_text(), f"the report changed: compare {written} with {EXPECTED}"
