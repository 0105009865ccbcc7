"""The report's text pinned on a study made by hand (tests/helpers/evaluations.py), whose verdicts span every
claim's rule: a refactor leaves it byte for byte as it is; a deliberate change to the report's wording or
statistics rewrites tests/report/expected_claims.md (the failure says from where)."""

from pathlib import Path

import pandas as pd
import pytest

from depthlab import hardware
from depthlab.report import write_report
from tests.helpers.evaluations import study_params, write_evaluations
from tests.helpers.params import USER_FAMILY, make_params

EXPECTED = Path(__file__).with_name("expected_claims.md")


def test_the_report_of_a_known_study_reads_as_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hardware, "summary", lambda: "a fixed machine")
    params = study_params()
    params = params.model_copy(update={"tracking": params.tracking.model_copy(update={"enabled": False})})
    write_report(params, write_evaluations(params, tmp_path / "eval"), tmp_path / "reports")
    written = tmp_path / "reports" / "claims.md"
    assert written.read_text() == EXPECTED.read_text(), f"the report changed: compare {written} with {EXPECTED}"


def test_a_family_of_the_users_is_named_and_one_whose_depth_changes_nothing_is_called_out():
    """The report names the user's families with their class and type; a family whose every depth has the same
    parameter count on a dataset (a depth argument the constructor ignores) is called out there."""
    from depthlab.report.inputs import settings
    from depthlab.report.markdown import _own_families

    params = make_params(**USER_FAMILY)
    table = pd.DataFrame(
        {
            "family": ["resnet"] * 2 + ["mlp"] * 2,
            "dataset": ["mnist1d"] * 4,
            "depth": [0, 1, 0, 1],
            "param_count": [130, 130, 410, 5000],
        }
    )
    named, blind = _own_families(params, table)
    assert named == "Families of your own: resnet (examples.resnet.ResNet, convolutional (residual))."
    assert blind.startswith("**resnet's depth changes nothing on mnist1d**: examples.resnet.ResNet has 130 parameters")
    assert _own_families(params, table.assign(param_count=[130, 962, 410, 5000])) == [named]
    assert settings(params, "a machine").types["resnet"] == "convolutional (residual)"
