import re

from depthlab import environment
from tests.helpers.project import ROOT


def test_every_depthlab_variable_is_named_only_in_the_environment_module():
    named = {
        path.relative_to(ROOT).as_posix()
        for folder in ("src", "pipeline", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"[\"']DEPTHLAB_", path.read_text())
    }
    assert named == {"src/depthlab/environment.py"}
    assert {environment.TRIGGER, environment.PIPELINE_RUN_ID, environment.EXECUTOR} == {
        "DEPTHLAB_TRIGGER",
        "DEPTHLAB_PIPELINE_RUN_ID",
        "DEPTHLAB_EXECUTOR",
    }


def test_a_run_started_by_hand_reads_as_manual(monkeypatch):
    monkeypatch.delenv(environment.TRIGGER, raising=False)
    monkeypatch.delenv(environment.PIPELINE_RUN_ID, raising=False)
    assert (environment.trigger(), environment.pipeline_run_id()) == ("manual", "none")
    monkeypatch.setenv(environment.TRIGGER, "schedule")
    assert environment.trigger() == "schedule"
