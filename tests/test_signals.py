"""Real signals against a real train stage: no MLflow run is ever left RUNNING, no half-written output."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from mlflow import MlflowClient

from tests.helpers.params import raw_params
from tests.helpers.project import ROOT, copy_project, project_env

pytestmark = pytest.mark.slow  # stages as processes, sent real signals

TRAIN = [sys.executable, "pipeline/train.py", "--family", "mlp"]
STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_training_left_behind():
    """Whatever a test asserts, none of the processes it started outlives it."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project with prepared data whose training runs far longer than any test waits, and writes to
    the store at every epoch, so that signals often land inside a write."""
    root = tmp_path_factory.mktemp("signals")
    copy_project(root)
    params = raw_params(train={"max_steps": 10_000_000}, runtime={"workers": 2}, tracking={"flush_interval_s": 0.001})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(
        [sys.executable, "pipeline/prepare.py", "--dataset", "mnist1d"], cwd=root, env=project_env(root), check=True
    )
    return root


def runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-mnist1d")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def start_training(project: Path) -> tuple[subprocess.Popen, set[str]]:
    """Start the train stage in its own process group; return it once both seeds' runs are RUNNING."""
    before = {r.info.run_id for r in runs(project)}
    # Output to a file: a pipe nobody reads fills up and blocks the stage mid-exit. The child keeps its own copy.
    log = project / f"train-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            TRAIN,
            cwd=project,
            env=project_env(project),
            start_new_session=True,
            stdout=output,
            stderr=output,
            text=True,
        )
    process.log = log
    STARTED.append(process)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = {r.info.run_id for r in runs(project) if r.info.status == "RUNNING"} - before
        if len(started) >= 2:  # one run per worker
            time.sleep(1)  # into the training loops
            break
        assert process.poll() is None, process.log.read_text()[-3000:]
        time.sleep(0.5)
    else:
        process.kill()
        raise AssertionError("training runs never started")
    return process, started


def exit_code(process: subprocess.Popen, timeout_s: float = 30) -> int:
    """The stage's exit code; if it does not exit in time, fail with where each of its processes is stuck."""
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGUSR1)  # the stages' faulthandler prints every thread's stack to the log
        time.sleep(2)
        raise AssertionError(f"the stage did not exit in {timeout_s} s:\n{process.log.read_text()[-12000:]}") from None


def status(project: Path, run_ids: set[str]) -> dict[str, tuple[str, str]]:
    return {
        r.info.run_id: (r.info.status, r.data.tags.get("error", "")) for r in runs(project) if r.info.run_id in run_ids
    }


@pytest.mark.parametrize(
    ("sent", "to_group", "expected_code", "reason"),
    [(signal.SIGTERM, False, 143, "terminated by SIGTERM"), (signal.SIGINT, True, 130, "interrupted (")],
    ids=["SIGTERM-to-the-stage", "Ctrl-C-to-the-process-group"],
)
def test_a_signal_ends_every_run_killed_promptly_and_writes_nothing(project, sent, to_group, expected_code, reason):
    process, started = start_training(project)
    sent_at = time.monotonic()
    if to_group:
        os.killpg(process.pid, sent)
    else:
        process.send_signal(sent)
    assert exit_code(process) == expected_code
    assert time.monotonic() - sent_at < 15, "the stage exits promptly"
    ended = status(project, started)
    assert ended and all(state == "KILLED" and reason in error for state, error in ended.values()), ended
    assert not (project / "data" / "models" / "mlp").exists()
    assert not [p for p in (project / "data" / "models").glob(".mlp.*")], "no staging left behind"


def test_runs_of_a_killed_process_are_closed_failed_by_the_next_start(project):
    process, started = start_training(project)
    os.killpg(process.pid, signal.SIGKILL)  # nothing can be caught: the runs stay RUNNING
    process.wait(timeout=30)
    assert {state for state, _ in status(project, started).values()} == {"RUNNING"}
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["max_steps"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(TRAIN, cwd=project, env=project_env(project), check=True, capture_output=True)
    ended = status(project, started)
    assert all(state == "FAILED" and "closed by a later pipeline start" in error for state, error in ended.values()), (
        ended
    )
    assert all(r.info.status != "RUNNING" for r in runs(project))


def test_an_unreachable_tracking_server_fails_fast_before_training(project):
    before = len(runs(project))
    env = {**project_env(project), "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # the discard port: nothing listens
    started = time.monotonic()
    done = subprocess.run(TRAIN, cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15
    assert done.returncode == 5
    assert "MLflow tracking server http://127.0.0.1:9 (MLFLOW_TRACKING_URI) is unreachable" in done.stderr
    assert "Traceback" not in done.stderr and "step" not in done.stdout
    assert len(runs(project)) == before


def test_an_interrupted_stage_resumes_from_its_last_state(project):
    # Signalled as soon as a state saved mid-run is seen, and long enough that no ensemble finishes in between: on
    # a quiet machine a depth-1 grid ensemble ran 6,000 steps within the second this test used to wait.
    steps = 20_000
    params = raw_params(
        train={"max_steps": steps},
        runtime={"workers": 2, "resume_interval_s": 0.2},
        sweep={"mlp": {"datasets": ["mnist1d"], "depths": [1]}},
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    resume_dir = project / ".cache" / "ensembles" / "mlp"
    shutil.rmtree(resume_dir, ignore_errors=True)  # states the interrupted runs of other tests left
    process, _ = start_training(project)
    deadline = time.monotonic() + 60
    while not any(0 < step < steps for step in _saved_steps(resume_dir).values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert exit_code(process) == 143
    saved = _saved_steps(resume_dir)
    assert saved and all(0 < step < steps for step in saved.values()), saved

    before = {r.info.run_id for r in runs(project)}
    subprocess.run(TRAIN, cwd=project, env=project_env(project), check=True, capture_output=True)
    second = [r for r in runs(project) if r.info.run_id not in before]
    resumed = [r for r in second if "resumed_from_step" in r.data.tags]
    assert len(resumed) >= len(saved) and all(r.info.status == "FINISHED" for r in second)
    for run in resumed:
        history = MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_metric_history(run.info.run_id, "val_acc")
        assert min(m.step for m in history) > int(run.data.tags["resumed_from_step"]), "continued, not restarted"
    for checkpoint in (project / "data" / "models" / "mlp").rglob("seed-*.ckpt"):
        assert torch.load(checkpoint, weights_only=True)["step"] == steps
    assert not list(resume_dir.glob("*.state")), "a finished stage leaves no resume state behind"


def _saved_steps(resume_dir: Path) -> dict[str, int]:
    """The step each resume state in `resume_dir` was saved at (a state is written aside, then renamed)."""
    return {path.name: torch.load(path, weights_only=True)["step"] for path in resume_dir.glob("*.state")}


def test_stages_that_build_no_network_start_without_torch():
    """What a stage imports is most of its fixed cost, and torch is a large part of it."""
    load = (
        "import sys; from depthlab import stages, data, validation, report, params; params.load_params(); "
        "print(sorted(m for m in ('torch', 'lightning_fabric', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", load], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
