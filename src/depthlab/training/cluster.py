"""A train stage's jobs as Ray tasks, when the environment names a cluster; otherwise nothing here runs.

The choice lives in the environment, not in params.yaml, so changing it never reruns a stage:
`DEPTHLAB_EXECUTOR=ray` (a local Ray, or the cluster `RAY_ADDRESS` names), `DEPTHLAB_EXECUTOR=local`, or,
when neither is set, Ray exactly when `RAY_ADDRESS` is set. Ray is imported only on that path.

Each job (one ensemble) is one Ray task of `runtime.ray_cpus_per_task` CPUs and `runtime.ray_gpus_per_task`
GPUs (0 by default; a fraction such as 0.25 lets four ensembles share a GPU, and Ray places them on the GPU
nodes of the cluster). The task trains with the same
code as the local path, writes nothing on the driver's machine and cannot reach its SQLite store, so it
records its runs (`tracking.RecordedRun`) and returns them with its checkpoints as bytes and the node it
ran on. The driver then writes the checkpoints into the stage's staged outputs (all-or-nothing, as
locally) and makes the recorded runs real, once: a task that Ray retries after a node is lost leaves no
run behind, so every member has exactly one run. Finished members are reused from the driver's cache
before a task is sent; an interrupted ensemble restarts rather than resuming.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from depthlab import interrupts, tracking
from depthlab.environment import EXECUTOR
from depthlab.errors import ClusterError
from depthlab.params import Params
from depthlab.records import TrainedSeed
from depthlab.training.cache import FinishedMembers, reuse_finished
from depthlab.training.ensemble_run import train_members
from depthlab.training.jobs import PACKAGE, EnsembleJob, StudyData, source_digest, user_code_digest
from depthlab.training.resume import ResumeFile

CONNECT_TIMEOUT_S = 10.0
TASK_RETRIES = 3  # a task whose node is lost runs again elsewhere


def wanted() -> bool:
    """Whether this stage's jobs go to Ray (see the module's docstring)."""
    choice = os.environ.get(EXECUTOR, "").strip().lower()
    if choice not in {"", "local", "ray"}:
        raise ClusterError(f"{EXECUTOR}={choice!r}: expected 'local' or 'ray'")
    return choice == "ray" or (not choice and bool(os.environ.get("RAY_ADDRESS")))


def package_digest() -> str:
    """A digest of every module of the installed depthlab: driver and workers must run the same code."""
    return source_digest(PACKAGE.rglob("*.py"))


def check_reachable() -> None:
    """Fail fast, naming the address, when `RAY_ADDRESS` names a cluster that does not answer: Ray itself keeps
    retrying an unreachable address for a long time."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if not address or address in {"auto", "local"} or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as err:
        raise ClusterError(
            f"Ray cluster at {address} (RAY_ADDRESS) is unreachable: {err}. Start it with `ray start --head`, "
            "fix the address, or unset RAY_ADDRESS to train on this machine."
        ) from None


def connect() -> None:
    """Join the cluster `RAY_ADDRESS` names, or start a Ray of this machine's own without one."""
    import ray

    if ray.is_initialized():
        return
    check_reachable()
    address = os.environ.get("RAY_ADDRESS", "").strip()
    try:
        ray.init(address=address or None, logging_level="WARNING", configure_logging=False)
    except (ConnectionError, RuntimeError) as err:
        raise ClusterError(f"Ray cluster at {address or 'a new local Ray'} cannot be used: {err}") from None
    interrupts.install()  # Ray's own SIGTERM handler would end the driver at once, its tasks left running


@dataclass
class TaskOutcome:
    """What a task sends back: its members' outcomes, their recorded runs, checkpoints and where it ran."""

    trained: list[TrainedSeed]
    recorded: list[tracking.RecordedRun]
    checkpoints: dict[str, bytes]
    node_id: str
    host: str


def train_task(job: EnsembleJob, data: StudyData, driver_code: str, driver_user_code: str | None) -> TaskOutcome:
    """One ensemble, trained on whichever node Ray chose, in a scratch folder of its own, once its depthlab and
    (for a user's family) the user's code are the driver's: a node imports both from its own installation and
    clone, and another version would train other networks under the driver's cache keys."""
    import ray

    if package_digest() != driver_code:
        raise ClusterError(
            f"the depthlab on {platform.node()} (code digest {package_digest()}) differs from the driver's "
            f"({driver_code}): install the same commit on every node of the cluster"
        )
    try:
        user_code = user_code_digest(job.params.models, job.family)
    except OSError as err:
        user_code = f"unreadable: {err}"
    if user_code != driver_user_code:
        raise ClusterError(
            f"the code of family {job.family} on {platform.node()} (digest {user_code}) differs from the driver's "
            f"({driver_user_code}): start every node from a clone of the project at the driver's commit"
        )
    # Ray hands arrays over read-only, straight from its object store; training wants its own.
    data = replace(data, train_xy=tuple(a.copy() for a in data.train_xy), val_xy=tuple(a.copy() for a in data.val_xy))
    with tempfile.TemporaryDirectory(prefix="depthlab-task-") as scratch:
        trained, recorded = train_members(replace(job, out_dir=Path(scratch), cache_dir=None), data, record=True)
        checkpoints = {seed.checkpoint: (Path(scratch) / seed.checkpoint).read_bytes() for seed in trained}
    return TaskOutcome(trained, recorded, checkpoints, ray.get_runtime_context().get_node_id(), platform.node())


class RayExecutor:
    """The train stage's jobs as Ray tasks of `runtime.ray_cpus_per_task` CPUs each (an Executor)."""

    capacity = sys.maxsize  # Ray queues the tasks its cluster cannot start yet

    def __init__(self, params: Params, data: Mapping[str, StudyData]):
        import ray

        connect()
        self.params = params
        self.data = data
        self.cpus = params.runtime.ray_cpus_per_task
        self.code = package_digest()
        self.user_code: dict[str, str | None] = {}  # per family: its user code's digest (`user_code_digest`)
        gpus = params.runtime.ray_gpus_per_task  # a fraction lets several ensembles share one GPU
        self.remote = ray.remote(num_cpus=self.cpus, num_gpus=gpus, max_retries=TASK_RETRIES)(train_task)
        self.refs: list[Any] = []
        self.sent: dict[Future[Any], tuple[list[TrainedSeed], EnsembleJob | None]] = {}  # reused, and sent

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.shutdown()

    def submit(self, job: EnsembleJob) -> Future[Any]:
        """The members the driver's cache does not hold, sent as one task."""
        reused, todo = reuse_finished(replace(job, threads=self.cpus))
        if todo is None:
            future: Future[Any] = Future()
            future.set_result(None)
        else:
            if job.family not in self.user_code:  # read once per family, not once per ensemble
                self.user_code[job.family] = user_code_digest(self.params.models, job.family)
            ref = self.remote.remote(todo, self.data[job.dataset], self.code, self.user_code[job.family])
            self.refs.append(ref)
            future = ref.future()
        self.sent[future] = reused, todo
        return future

    def outcome(self, job: EnsembleJob, future: Future[Any]) -> list[TrainedSeed]:
        """Checkpoints written into the staged outputs, runs made real, members kept for reuse."""
        reused, todo = self.sent.pop(future)
        if todo is None:
            return reused
        outcome: TaskOutcome = future.result()
        for relative, content in outcome.checkpoints.items():
            (job.out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (job.out_dir / relative).write_bytes(content)
        tracking_cfg = self.params.tracking
        run_ids = tracking.replay_runs(
            job.dataset,
            outcome.recorded,
            {"ray_node_id": outcome.node_id, "ray_host": outcome.host},
            flush_interval_s=tracking_cfg.flush_interval_s,
            enabled=tracking_cfg.enabled,
        )
        trained = [replace(seed, run_id=run_id) for seed, run_id in zip(outcome.trained, run_ids, strict=True)]
        if job.cache_dir:
            FinishedMembers(job.cache_dir, job).keep(job.out_dir, trained)
            ResumeFile(job.cache_dir, todo).discard()  # a state a local run left for these members is spent
        print(f"[{job.label}] trained on Ray node {outcome.node_id[:8]} ({outcome.host})", flush=True)
        return reused + trained

    def cancel(self) -> None:
        import ray

        for ref in self.refs:
            ray.cancel(ref, force=True)
