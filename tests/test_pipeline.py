"""End to end: the real pipeline under real DVC in a temporary git repository, on the tiny profile."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from depthlab import hardware
from depthlab.records import TrainedRuns
from tests.helpers.params import corrupt_user_dataset, raw_params
from tests.helpers.project import copy_project, project_env

pytestmark = pytest.mark.slow  # the real pipeline under `dvc repro`

# Two lrs, chosen on a seed of their own (100); both reported seeds train at the chosen lr.
GRID = {"lr": [0.003, 0.01], "selection": {"seeds": [100], "max_steps": 30}}
# In the environment of every command: it must never reach the MLflow store or artifacts.
FAKE_SECRET = "depthlab-fake-secret-7f3a9c1e"


def sh(repo: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**project_env(repo), "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "DEPTHLAB_API_TOKEN": FAKE_SECRET}
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def write_params(repo: Path, raw: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reproduced once and shared by this file's tests: that first `dvc repro` is most of their time. Its results
    are committed, and `restore` puts them back after every test, so no test depends on another's leftovers."""
    repo = tmp_path_factory.mktemp("project")
    copy_project(repo)
    write_params(repo, raw_params(train=GRID))
    sh(repo, "git", "init", "-q")
    commit(repo, "tiny project")  # runs record the commit they come from
    first = sh(repo, "dvc", "repro")
    assert "Running stage 'report'" in first.stdout
    commit(repo, "first results")
    return repo


def commit(repo: Path, message: str) -> None:
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


@pytest.fixture(autouse=True)
def restore(repo: Path) -> Iterator[None]:
    """After each test: params.yaml, dvc.lock and every output as the first `dvc repro` left them."""
    yield
    sh(repo, "git", "checkout", "-q", "--", ".")
    sh(repo, "dvc", "checkout", "--force", "--quiet")


def first_repro_runs(repo: Path) -> list:
    """The training runs of the shared first `dvc repro` (experiments' runs carry their name)."""
    return [r for r in training_runs(repo) if r.data.tags["dvc_experiment"] == "none"]


def client(repo: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")


def training_runs(repo: Path):
    mlflow = client(repo)
    experiment = mlflow.get_experiment_by_name("depthlab-mnist1d")
    return [r for r in mlflow.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "training"]


def test_repro_logs_every_training_run_with_its_fields(repo):
    runs = first_repro_runs(repo)
    trained = TrainedRuns.read(repo / "data" / "models" / "mlp" / "mnist1d" / "runs.json").runs
    chosen = {str(run.depth): run.lr for run in trained if run.reported}  # the lr each depth's grid chose
    grid = {f"mlp-d{d}-s100-grid-lr{lr:g}" for d in (0, 1) for lr in (0.003, 0.01)}
    expected = grid | {f"mlp-d{d}-s{s}" for d in (0, 1) for s in (0, 1)}
    assert sorted(r.info.run_name for r in runs) == sorted(expected)
    for run in runs:
        tags = run.data.tags
        assert run.info.status == "FINISHED"
        assert run.info.artifact_uri.startswith((repo / "mlartifacts").as_uri())
        assert tags["dvc_stage"] == "train@mlp" and tags["phase"] in {"grid", "final"}
        assert tags["git_commit"] != "unknown" and tags["hw.cpu_logical_cores"]
        assert tags["selected"] == str(float(tags["lr"]) == chosen[tags["depth"]]).lower()
        assert tags["reported"] == str(tags["phase"] == "final").lower()  # the grid's seed chose: never reported
        assert {"train_loss", "val_acc", "train_time_s", "test_accuracy", "test_macro_f1"} <= set(run.data.metrics)
        assert ("latency_ms_per_sample" in run.data.metrics) == (tags["reported"] == "true")  # grid runs are not timed
        assert run.data.params["param_count"] in {"410", "5110"} and run.data.params["lr"] == tags["lr"]
    report = (repo / "reports" / "claims.md").read_text()
    assert "## Claim 7:" in report and "| mnist1d   | mlp      |       1 |" in report
    assert (repo / "reports" / "validation" / "mnist1d" / "data_docs" / "index.html").exists()
    champion = client(repo).get_model_version_by_alias("depthlab-mnist1d", "champion")  # the report registered it
    assert champion.run_id in {r.info.run_id for r in runs} and champion.tags["dataset"] == "mnist1d"
    shown = sh(repo, "dvc", "metrics", "show").stdout.splitlines()
    assert shown[0].split() == ["Path", "00", "01"] and shown[1].startswith("metrics/mlp/mnist1d.json")


def test_no_secret_from_the_environment_reaches_mlflow(repo):
    stored = [repo / "mlflow.db", *(p for p in (repo / "mlartifacts").rglob("*") if p.is_file())]
    assert len(stored) > 20
    leaked = [p for p in stored if FAKE_SECRET.encode() in p.read_bytes()]
    assert not leaked


def test_second_repro_runs_nothing_though_python_wrote_bytecode_into_the_package(repo):
    written = list((repo / "src" / "depthlab").rglob("__pycache__/*.pyc"))
    assert written, "the stages ran as on a user's machine, writing bytecode beside the code they imported"
    assert "Data and pipelines are up to date" in sh(repo, "dvc", "status").stdout
    again = sh(repo, "dvc", "repro")
    assert "Running stage" not in again.stdout
    assert "Data and pipelines are up to date" in again.stdout


@pytest.mark.parametrize(
    "by_product",
    [
        "src/depthlab/.pytest_cache/v/cache/lastfailed",
        "src/depthlab/.ruff_cache/0.17.6/123",
        "src/depthlab/.mypy_cache/3.11/depthlab/params.data.json",
        "src/depthlab/families/legacy.pyc",
        "src/depthlab/depthlab.egg-info/PKG-INFO",
        "data/prepared/.mnist1d.k3j2h1.tmp/train.parquet",  # a staging folder a killed prepare left
        "data/eval/.mlp.x7q9.tmp/runs.json",
        "data/models/mlp/mnist1d/.runs.json.a1b2.tmp",  # a half-written file a killed write left
        "reports/plots/.accuracy_vs_depth.png.z9y8.tmp",
    ],
)
def test_what_tools_and_killed_stages_leave_beside_code_and_outputs_changes_no_stage(repo, by_product):
    path = repo / by_product
    created = next(parent for parent in [*reversed(path.parents), path] if not parent.exists())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("by-product")
    try:
        assert "Data and pipelines are up to date" in sh(repo, "dvc", "status").stdout
    finally:
        shutil.rmtree(created) if created.is_dir() else created.unlink()


def test_keys_that_change_how_stages_run_not_what_they_produce_leave_every_stage_up_to_date(repo):
    write_params(
        repo,
        raw_params(
            train=GRID,
            runtime={"workers": 1, "threads": 1, "resume_interval_s": 5},
            tracking={"system_metrics_interval_s": 2, "flush_interval_s": 3},
        ),
    )
    assert "Data and pipelines are up to date" in sh(repo, "dvc", "status").stdout


def test_exp_run_with_a_new_depth_reruns_only_that_family(repo):
    before = len(training_runs(repo))
    done = sh(repo, "dvc", "exp", "run", "-S", "sweep.mlp.depths=[0,1,2]")
    ran = [line for line in done.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'train@mlp':", "Running stage 'evaluate@mlp':", "Running stage 'report':"]
    assert "reused" in done.stdout
    assert len(training_runs(repo)) == before + 4, "depths 0 and 1 reused: only depth 2's grid (2 runs) and final (2)"
    sh(repo, "dvc", "plots", "show")
    assert (repo / "dvc_plots" / "index.html").exists()
    plots = json.loads(sh(repo, "dvc", "plots", "diff", "HEAD", "--json").stdout)["data"]
    accuracy = plots["test accuracy by depth"][0]["content"]  # the data-driven plot overlays the two revisions
    by_revision = {(row["rev"], row["depth"]) for row in accuracy["data"]["values"]}
    assert by_revision == {("HEAD", "0"), ("HEAD", "1"), ("workspace", "0"), ("workspace", "1"), ("workspace", "2")}
    assert accuracy["spec"]["encoding"]["strokeDash"]["field"] == "rev"


def test_exp_run_with_a_split_per_seed_retrains_on_the_same_data_and_its_runs_reproduce(repo):
    """data.split_seeds: prepare reruns (its params changed) and writes the same data, so validation does not;
    every run trains anew (its key changed), records the option, and reproduces bit for bit from the run's record
    alone: the commit's params.yaml has it off."""
    before = {r.info.run_id for r in training_runs(repo)}
    done = sh(repo, "dvc", "exp", "run", "-S", "data.split_seeds=true")
    ran = [line for line in done.stdout.splitlines() if line.startswith("Running stage")]
    assert "Running stage 'train@mlp':" in ran and "Running stage 'report':" in ran
    assert not [line for line in ran if "validate@" in line] and "reused" not in done.stdout
    trained = TrainedRuns.read(repo / "data" / "models" / "mlp" / "mnist1d" / "runs.json")
    assert trained.split_seeds is True and not {r.run_id for r in trained.runs} & before
    runs = {r.info.run_name: r for r in training_runs(repo) if r.info.run_id not in before}
    assert len(runs) == 8 and all(r.data.params["data.split_seeds"] == "True" for r in runs.values())
    run = runs["mlp-d1-s1"]
    reproduced = sh(repo, sys.executable, "-m", "depthlab.reproduce", "--allow-dirty", run.info.run_id, check=False)
    assert reproduced.returncode == 0, reproduced.stdout[-3000:] + reproduced.stderr[-3000:]
    assert reproduced.stdout.rstrip().endswith("identical")


def test_corrupt_data_stops_the_pipeline_before_training(repo):
    before = len(training_runs(repo))
    write_params(repo, corrupt_user_dataset(repo))
    done = sh(repo, "dvc", "repro", check=False)
    assert done.returncode != 0
    assert "depthlab prepare: error:" in done.stderr and "column 'a' has infinite values" in done.stderr
    assert "Running stage 'train@mlp" not in done.stdout
    assert len(training_runs(repo)) == before
    assert not (repo / "data" / "validated" / "user.json").exists()


def test_bad_params_key_fails_with_its_name(repo):
    raw = raw_params()
    raw["train"]["learning_rate"] = 0.1
    write_params(repo, raw)
    done = sh(repo, "dvc", "repro", check=False)
    assert done.returncode != 0
    assert "train.learning_rate: unknown key" in done.stderr
    assert all(r.info.status != "RUNNING" for r in training_runs(repo))


def test_a_recorded_run_reproduces_identically_and_what_cannot_is_refused(repo):
    [run] = [r for r in first_repro_runs(repo) if r.info.run_name == "mlp-d1-s1"]
    reproduce = [sys.executable, "-m", "depthlab.reproduce", run.info.run_id]
    done = sh(repo, *reproduce, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "same machine" in done.stdout and done.stdout.rstrip().endswith("identical")
    [record] = client(repo).search_runs([run.info.experiment_id], f"tags.reproduces = '{run.info.run_id}'")
    assert record.data.tags["outcome"] == "identical" and record.data.tags["kind"] == "reproduction"

    def refused_with(tag: str, value: str) -> subprocess.CompletedProcess:
        original = run.data.tags[tag]
        client(repo).set_tag(run.info.run_id, tag, value)
        try:
            return sh(repo, *reproduce, check=False)
        finally:
            client(repo).set_tag(run.info.run_id, tag, original)

    dirty = refused_with("git_dirty", "true")
    assert dirty.returncode == 9 and "uncommitted changes" in dirty.stderr
    changed = refused_with("dataset_digest", "0" * 64)  # the data made at that commit is no longer what it recorded
    assert changed.returncode == 3 and "the data changed" in changed.stderr
    if hardware.fingerprint()["gpu_count"] == "0":  # a run trained on a GPU cannot be reproduced without one
        on_gpu = refused_with("accelerator", "cuda")
        assert (
            on_gpu.returncode == 9 and "trained on a GPU" in on_gpu.stderr and "this machine has none" in on_gpu.stderr
        )
