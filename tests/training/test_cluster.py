"""Train stages on a real Ray cluster: a head with no CPUs and two worker nodes of one CPU each, on this
machine, shared by this file's tests (starting one takes seconds)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from ray.cluster_utils import Cluster

from depthlab.environment import EXECUTOR
from tests.helpers.params import raw_params
from tests.helpers.project import ROOT, copy_project, project_env

pytestmark = pytest.mark.slow  # a Ray cluster, and stages under `dvc repro`

TRAIN = [sys.executable, "pipeline/train.py", "--family", "mlp"]
DEPTHS = [0, 1, 2, 3]  # four ensembles, for two nodes


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def write_params(root: Path, **train: object) -> None:
    params = raw_params(train=train, sweep={"mlp": {"datasets": ["mnist1d"], "depths": DEPTHS}})
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with MNIST-1D prepared and validated once; each test trains in a copy of it."""
    root = tmp_path_factory.mktemp("validated")
    copy_project(root)
    write_params(root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(
        ["dvc", "repro", "validate@mnist1d"], cwd=root, env=project_env(root), check=True, capture_output=True
    )
    return root


def make_project(validated: Path, root: Path, **train: object) -> Path:
    shutil.copytree(validated, root, symlinks=True)
    write_params(root, **train)
    return root


def on_ray(cluster: Cluster, project: Path) -> dict[str, str]:
    return {**project_env(project), "RAY_ADDRESS": cluster.address}


def training_runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("depthlab-mnist1d")
    return client.search_runs([experiment.experiment_id], "tags.kind = 'training'") if experiment else []


def one_finished_run_per_member(project: Path) -> None:
    runs = training_runs(project)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert sorted(r.info.run_name for r in runs) == sorted(f"mlp-d{d}-s{s}" for d in DEPTHS for s in (0, 1))


def repro(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(["dvc", "repro", "train@mlp"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def outputs(project: Path, family: str = "mlp") -> dict[str, bytes]:
    """Every file of the stage's outputs; in runs.json, what does not name a run or a time."""
    models = project / "data" / "models" / family
    files = {str(path.relative_to(models)): path.read_bytes() for path in models.rglob("*.ckpt")}
    runs = json.loads((models / "mnist1d" / "runs.json").read_text())
    for run in runs["runs"]:
        del run["run_id"], run["train_time_s"]
    return {**files, "runs.json": json.dumps(runs, sort_keys=True).encode()}


def test_a_stage_on_ray_spreads_over_nodes_and_writes_what_the_local_executor_writes(cluster, validated, tmp_path):
    remote, local = make_project(validated, tmp_path / "ray"), make_project(validated, tmp_path / "local")
    done = repro(remote, on_ray(cluster, remote))
    repro(local, project_env(local))
    assert "trained on Ray node" in done.stdout
    assert outputs(remote) == outputs(local)
    one_finished_run_per_member(remote)
    nodes = {r.data.tags["ray_node_id"] for r in training_runs(remote)}
    assert len(nodes) == 2, "each of the two worker nodes trained an ensemble"
    assert all(r.data.tags["ray_host"] and r.data.tags["hw.host"] for r in training_runs(remote))


def test_a_node_lost_mid_sweep_leaves_one_finished_run_per_member(cluster, validated, tmp_path):
    project = make_project(validated, tmp_path / "lost", max_steps=3000)
    log = tmp_path / "repro.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["dvc", "repro", "train@mlp"],
            cwd=project,
            env=on_ray(cluster, project),
            stdout=output,
            stderr=output,
            text=True,
        )
    deadline = time.monotonic() + 120
    while "step " not in log.read_text() and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    lost = cluster.list_all_nodes()[-1]
    cluster.remove_node(lost)  # its task fails with the node and runs again on the other one
    try:
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
    one_finished_run_per_member(project)


def test_sigterm_cancels_the_tasks_and_leaves_no_run_and_no_output(cluster, validated, tmp_path):
    project = make_project(validated, tmp_path / "term", max_steps=100_000)
    log = tmp_path / "train.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            TRAIN,
            cwd=project,
            env=on_ray(cluster, project),
            stdout=output,
            stderr=output,
            text=True,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while "step " not in log.read_text() and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143, log.read_text()[-3000:]
    assert time.monotonic() - started < 15
    assert not (project / "data" / "models" / "mlp").exists()
    assert all(r.info.status != "RUNNING" for r in training_runs(project))


def test_an_unreachable_address_fails_fast_naming_it(validated):
    project = validated
    env = {**project_env(project), "RAY_ADDRESS": "127.0.0.1:9"}  # the discard port: nothing listens
    started = time.monotonic()
    done = subprocess.run(TRAIN, cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15
    assert done.returncode == 7, done.stderr[-3000:]
    assert "Ray cluster at 127.0.0.1:9 (RAY_ADDRESS) is unreachable" in done.stderr
    assert not training_runs(project)


def test_a_worker_with_other_code_is_refused(tiny_params, prepared, tmp_path):
    from depthlab.errors import ClusterError
    from depthlab.training import ensemble_job
    from depthlab.training.cluster import train_task

    job, data = ensemble_job(tiny_params, "mnist1d", "mlp", 0, prepared, tmp_path)
    with pytest.raises(ClusterError, match=r"differs from the driver's \(0123456789abcdef\): install the same"):
        train_task(job, data, "0123456789abcdef", None)


def test_a_worker_with_other_user_code_is_refused(prepared, tmp_path, monkeypatch):
    """A user's family on a node whose clone holds another version of its module: refused before training."""
    from depthlab.errors import ClusterError
    from depthlab.training import ensemble_job
    from depthlab.training.cluster import package_digest, train_task
    from depthlab.training.jobs import user_code_digest
    from tests.helpers.params import USER_FAMILY, make_params

    shutil.copytree(ROOT / "examples", tmp_path / "node" / "examples")
    monkeypatch.chdir(tmp_path / "node")  # the project's root on the node
    params = make_params(**USER_FAMILY)
    driver = user_code_digest(params.models, "resnet")
    job, data = ensemble_job(params, "mnist1d", "resnet", 1, prepared, tmp_path)
    module = tmp_path / "node" / "examples" / "resnet.py"
    module.write_text(module.read_text() + "\n# edited on one node\n")
    with pytest.raises(ClusterError, match=rf"family resnet on .* differs from the driver's \({driver}\): start"):
        train_task(job, data, package_digest(), driver)


def test_the_local_path_imports_nothing_from_ray():
    check = (
        "import sys; from depthlab import stages; from depthlab.training import cluster; "
        "print(cluster.wanted(), 'ray' in sys.modules)"
    )
    env = {key: value for key, value in project_env(ROOT).items() if key not in {"RAY_ADDRESS", EXECUTOR}}
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_users_family_trains_on_ray_as_it_does_locally(cluster, validated, tmp_path):
    """The example's LightningModule (batch norm: seed by seed) on the Ray cluster: its module imported on the
    node from the project, its runs made real on the driver with what it logged, its outputs those of a local run."""
    from tests.helpers.params import USER_FAMILY

    params = raw_params(**USER_FAMILY)
    params["sweep"]["mlp"] = {"datasets": [], "depths": []}
    projects, done = {}, {}
    for name in ("ray", "local"):
        projects[name] = make_project(validated, tmp_path / name)
        (projects[name] / "params.yaml").write_text(yaml.safe_dump(params))
        env = on_ray(cluster, projects[name]) if name == "ray" else project_env(projects[name])
        stage = ["dvc", "repro", "--single-item", "train@resnet"]
        done[name] = subprocess.run(stage, cwd=projects[name], env=env, capture_output=True, text=True)
        assert done[name].returncode == 0, done[name].stdout[-3000:] + done[name].stderr[-3000:]
    assert "trained on Ray node" in done["ray"].stdout
    assert outputs(projects["ray"], "resnet") == outputs(projects["local"], "resnet")
    runs = training_runs(projects["ray"])
    assert runs and all(r.info.status == "FINISHED" and r.data.tags["ray_node_id"] for r in runs)
    assert {r.data.tags["seed_stacking"] for r in runs} == {"per_seed"}
    client = MlflowClient(f"sqlite:///{projects['ray'] / 'mlflow.db'}")
    assert all(client.get_metric_history(r.info.run_id, "module/train_loss") for r in runs), "what it logged"
