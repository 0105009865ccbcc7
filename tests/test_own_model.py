"""A user's module as a family, through the real pipeline: the worked example (examples/resnet.py) swept by
`dvc repro` on the tiny profile, then a bad module or bad params for it refused by the real train stage, before
training, with one message; exit 2, no traceback, no run left RUNNING, earlier outputs unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from mlflow import MlflowClient

from depthlab.presets import merged
from tests.helpers.params import NO_SWEEP, USER_FAMILY, raw_params
from tests.helpers.project import copy_project, dvc, project_env, snapshot

pytestmark = pytest.mark.slow  # the real pipeline under `dvc repro`

# The example beside mlp (claim 5 compares two families) on the tiny profile's MNIST-1D, one lr, two seeds.
PARAMS = raw_params(
    models=USER_FAMILY["models"],
    sweep={**NO_SWEEP, **USER_FAMILY["sweep"], "mlp": {"datasets": ["mnist1d"], "depths": [0, 1]}},
)

# A user's module in the project's models/ folder that refuses what the cases below give it.
BAD_MODULE = """
from torch import nn


class Net(nn.Module):
    def __init__(self, depth: int, sample_shape: tuple, num_classes: int, width: int = 4):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        if depth > 2:
            raise ValueError(f"at most 2 layers, got {depth}")
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(sample_shape[0], num_classes))

    def forward(self, x):
        return self.head(x)
"""


def run(project: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=600, check=False
    )


def write_params(project: Path, raw: dict) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def commit(project: Path, message: str) -> None:
    for command in (
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message],
    ):
        done = run(project, *command)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example and mlp reproduced once, committed (runs name their commit; reproduce checks it out)."""
    root = tmp_path_factory.mktemp("own-model")
    copy_project(root)
    write_params(root, PARAMS)
    (root / "models" / "bad.py").write_text(BAD_MODULE)
    run(root, "git", "init", "-q")
    commit(root, "tiny project with the example")
    first = dvc(root, "repro")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    commit(root, "first results")
    return root


def client(project: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


def runs_of(project: Path, family: str) -> list:
    mlflow = client(project)
    experiment = mlflow.get_experiment_by_name("depthlab-mnist1d")
    return [r for r in mlflow.search_runs([experiment.experiment_id]) if r.data.tags.get("family") == family]


def test_the_example_is_swept_tracked_reported_and_reproduced(project, tmp_path):
    runs = [r for r in runs_of(project, "resnet") if r.data.tags.get("kind") == "training"]
    assert runs and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["depth"] for r in runs} == {"0", "1"}
    first = runs[0].data.tags
    assert first["seed_stacking"] == "per_seed" and first["seed_stacking_reason"], "its own training_step: seed by seed"
    assert any(key.startswith("hw.") for key in first) and first["dataset"] == "mnist1d"
    assert "module/train_loss" in runs[0].data.metrics, "the module's self.log reaches its run"
    report = (project / "reports" / "claims.md").read_text()
    assert "Families of your own: resnet (examples.resnet.ResNet, convolutional (residual))." in report
    claim5 = report.split("## Claim 5")[1].split("## Claim 6")[0]
    assert "resnet" in claim5 and "convolutional (residual)" in claim5
    assert "| mnist1d   | resnet   |" in report.split("## Every configuration")[1]
    champion = client(project).get_model_version_by_alias("depthlab-mnist1d", "champion")
    study = {r.info.run_id: r.data.tags["family"] for r in runs_of(project, "mlp") + runs}
    assert study.get(champion.run_id) in {"mlp", "resnet"}, "the champion is chosen among both families' runs"
    final = next(r for r in runs if r.data.tags.get("reported") == "true")
    # MLflow resolves a run's logged model through the process's tracking URI, which an earlier test may have set.
    previous, store = mlflow.get_tracking_uri(), f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    try:
        model = Path(mlflow.artifacts.download_artifacts(f"runs:/{final.info.run_id}/model", dst_path=str(tmp_path)))
    finally:
        mlflow.set_tracking_uri(previous)
    assert (model / "code" / "examples" / "resnet.py").is_file(), "its MLflow model carries the user's code"
    done = run(project, sys.executable, "-m", "depthlab.reproduce", final.info.run_id)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "identical" in done.stdout


def test_editing_the_users_module_retrains_its_family_and_nothing_else(project):
    module = project / "examples" / "resnet.py"
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    mlp_runs, resnet_runs = len(runs_of(project, "mlp")), len(runs_of(project, "resnet"))
    try:
        done = dvc(project, "repro")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert len(runs_of(project, "resnet")) > resnet_runs, "its family retrained"
        assert "Running stage 'train@mlp'" in done.stdout, "every train stage depends on the folders of user code"
        assert len(runs_of(project, "mlp")) == mlp_runs, "mlp retrained nothing"
        assert "Running stage 'evaluate@mlp'" not in done.stdout, "mlp's models are the same: not evaluated again"
    finally:
        module.write_text(original)
        run(project, "git", "checkout", "-q", "--", ".")
        dvc(project, "checkout", "--force", "--quiet")


USER = {"class_path": "models.bad.Net", "depth_arg": "depth", "article_type": "feed-forward"}
# case: (what changes in models.resnet, its sweep's depths, the message)
CASES = {
    "class path that does not import": (
        {"class_path": "models.missing.Net"},
        [0, 1],
        "models.resnet.class_path: module 'models.missing' does not import from",
    ),
    "module that raises on import": (
        {"class_path": "models.broken.Net"},
        [0, 1],
        "module 'models.broken' does not import from",
    ),
    "class outside the folders of user code": (
        {"class_path": "torch.nn.Linear"},
        [0, 1],
        "outside the project's folders of user code (models/, examples/)",
    ),
    "no such class": ({"class_path": "models.bad.Network"}, [0, 1], "has no class 'Network'"),
    "no such depth argument": ({"depth_arg": "layers"}, [0, 1], "has no argument 'layers' to take the depth"),
    "init_args the signature refuses": (
        {"init_args": {"widht": 4}},
        [0, 1],
        "got an unexpected keyword argument 'widht'",
    ),
    "init_args the constructor refuses": (
        {"init_args": {"width": 0}},
        [0, 1],
        "models.resnet.init_args: Net refuses {'width': 0} on mnist1d",
    ),
    "a depth at which the constructor raises": (
        {},
        [1, 3],
        "sweep.resnet.depths: Net cannot be built at depth 3 (depth=3) on mnist1d: ValueError: at most 2 layers, "
        "got 3. It builds at depths [1]",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_module_is_refused_by_the_train_stage_before_training(project, case):
    change, depths, message = CASES[case]
    (project / "models" / "broken.py").write_text("import not_a_package_anywhere\n")
    raw = merged(PARAMS, {"sweep": {"resnet": {"depths": depths}}})
    raw["models"]["resnet"] = {**USER, **change}
    before = snapshot(project)
    write_params(project, raw)
    try:
        done = run(project, sys.executable, "pipeline/train.py", "--family", "resnet")
    finally:
        write_params(project, PARAMS)
        (project / "models" / "broken.py").unlink()
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.count("error:") == 1
    assert snapshot(project) == before
    assert not [r for r in runs_of(project, "resnet") if r.info.status == "RUNNING"]


def test_an_interrupted_train_stage_of_the_users_family_resumes_from_its_last_state(project):
    """SIGTERM mid-training (the example trains seed by seed), then the stage again: it continues from the saved
    state, not from the start, and finishes every step."""
    steps = 3000  # long enough that the signal lands mid-training on a fast, quiet machine too
    raw = merged(
        PARAMS,
        {"train": {"max_steps": steps}, "runtime": {"resume_interval_s": 0.2}, "sweep": {"resnet": {"depths": [1]}}},
    )
    write_params(project, raw)
    states = project / ".cache" / "ensembles" / "resnet"
    before = {r.info.run_id for r in runs_of(project, "resnet")}
    train = [sys.executable, "pipeline/train.py", "--family", "resnet"]
    process = subprocess.Popen(train, cwd=project, env=project_env(project), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(states.glob("*.state")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143
        saved = [torch.load(path, weights_only=True) for path in states.glob("*.state")]
        assert saved, "the interrupted stage left its state"
        done = run(project, *train)
        assert done.returncode == 0, done.stderr[-3000:]
        second = [r for r in runs_of(project, "resnet") if r.info.run_id not in before and r.info.status != "KILLED"]
        resumed = [r for r in second if "resumed_from_step" in r.data.tags]
        assert resumed and all(r.info.status == "FINISHED" for r in second)
        assert all(0 < int(r.data.tags["resumed_from_step"]) < steps for r in resumed)
        assert not list(states.glob("*.state")), "a finished stage leaves no resume state behind"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        write_params(project, PARAMS)
        run(project, "git", "checkout", "-q", "--", ".")
        dvc(project, "checkout", "--force", "--quiet")
