"""One command for schedulers: `python -m depthlab.schedule` (or `make scheduled-run`).

- Takes a lock, so overlapping runs never share a workspace: the second waits up to `schedule.lock_wait_s`
  and then exits with code 75 (EX_TEMPFAIL) and a message naming the holder.
- Runs `dvc repro`, with every MLflow run it creates tagged with the trigger and a pipeline-run id.
- Records a pipeline-level MLflow run: status, duration, which stages ran and which were up to date.
- Compares each dataset's best test accuracy with the previous scheduled run; a drop larger than
  `schedule.max_accuracy_drop` writes reports/alert.md and exits with code 6.
- With a default DVC remote (`dvc remote add -d ...`): `dvc pull` first, so a fresh runner restores what an
  earlier run pushed and trains only what changed; after a successful repro `dvc push`, then a commit of
  `dvc.lock`, which is what tells the next clone which outputs to pull. A failed push fails the run (exit 8)
  and commits nothing.
- Calls dvc with this interpreter's environment, so cron and systemd need no PATH: run it as
  `.venv/bin/python -m depthlab.schedule` to keep its exit codes (make turns every failure into 2).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd

from depthlab.environment import PIPELINE_RUN_ID, TRIGGER
from depthlab.errors import PUSH_FAILED, REGRESSION, DepthlabError, Locked
from depthlab.outputs import write_text
from depthlab.params import load_params
from depthlab.regressions import best_accuracies, dataset_of, regressions

LOCK = Path(".cache/scheduled-run.lock")
ALERT = Path("reports/alert.md")
SUMMARY = Path("reports/summary.csv")


def acquire(lock: Path, wait_s: float) -> int:
    """An exclusive lock on `lock`, held until the process exits; raise Locked after `wait_s` seconds."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(handle, 200, 0).decode(errors="replace").strip() or "unknown"
                raise Locked(f"{lock}: another run holds the workspace ({holder}); waited {wait_s:g}s") from None
            time.sleep(0.5)
    os.ftruncate(handle, 0)
    os.pwrite(handle, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
    return handle


def dvc(*arguments: str, environment: dict[str, str]) -> tuple[int, list[str]]:
    """`dvc <arguments>` with its output passed through; (exit code, output lines)."""
    process = subprocess.Popen(
        ["dvc", *arguments], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip())
    return process.wait(), lines


def repro(environment: dict[str, str]) -> tuple[int, list[str], list[str]]:
    """`dvc repro`; (exit code, stages that ran, stages that were up to date)."""
    code, lines = dvc("repro", environment=environment)
    ran = [found.group(1) for line in lines if (found := re.match(r"Running stage '([^']+)'", line))]
    skipped = [found.group(1) for line in lines if (found := re.match(r"Stage '([^']+)' didn't change", line))]
    return code, ran, skipped


def default_remote(environment: dict[str, str]) -> str | None:
    """The project's default DVC remote, if one is configured."""
    done = subprocess.run(["dvc", "remote", "default"], env=environment, capture_output=True, text=True, check=False)
    name = done.stdout.strip()
    return name if done.returncode == 0 and name else None


def transfer_summary(lines: list[str]) -> str:
    """DVC's last line about a pull or push ("3 files fetched", "Everything is up to date.")."""
    return next((line for line in reversed(lines) if line.strip()), "nothing")


def commit_lock(environment: dict[str, str], message: str) -> bool:
    """Commit dvc.lock and the .gitignore files DVC writes beside outputs, if the run changed them (what DVC
    itself says to `git add`: a fresh clone needs both); whether a commit was made. Git's own identity is used
    where one is configured, a depthlab one otherwise."""
    subprocess.run(["git", "add", "--", "dvc.lock", ":(glob)**/.gitignore"], env=environment, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet"], env=environment, check=False)
    if staged.returncode == 0:
        return False
    who = subprocess.run(["git", "config", "user.email"], env=environment, capture_output=True, text=True)
    identity = [] if who.stdout.strip() else ["-c", "user.name=depthlab", "-c", "user.email=depthlab@localhost"]
    subprocess.run(["git", *identity, "commit", "-q", "-m", message], env=environment, check=True)
    return True


def headline(summary: Path = SUMMARY) -> dict[str, float]:
    """Each dataset's best mean test accuracy, from the report's summary table."""
    return best_accuracies(pd.read_csv(summary)) if summary.exists() else {}


def scheduled_run(trigger: str) -> int:
    """The whole scheduled run; returns the exit code."""
    from depthlab import tracking

    params = load_params()
    acquire(LOCK, params.schedule.lock_wait_s)
    pipeline_run_id = uuid.uuid4().hex[:12]
    environment = {
        **os.environ,
        # dvc and the stages' `python` from this interpreter's environment, whatever PATH cron or systemd give
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        TRIGGER: trigger,
        PIPELINE_RUN_ID: pipeline_run_id,
    }
    started = time.monotonic()
    remote = default_remote(environment)
    transfers: dict[str, str] = {}
    if remote:
        print(f"depthlab scheduled-run {pipeline_run_id} ({trigger}): dvc pull from {remote}", flush=True)
        _, pulled = dvc("pull", "--allow-missing", environment=environment)  # a missing object is trained
        transfers["dvc_pulled"] = transfer_summary(pulled)
    print(f"depthlab scheduled-run {pipeline_run_id} ({trigger}): dvc repro", flush=True)
    code, ran, skipped = repro(environment)
    pushed = 0
    if remote and code == 0:
        pushed, lines = dvc("push", environment=environment)
        transfers["dvc_pushed"] = transfer_summary(lines)
        if pushed == 0:
            committed = commit_lock(environment, f"depthlab scheduled run {pipeline_run_id}: dvc.lock")
            transfers["dvc_lock_committed"] = str(committed).lower()
    now = headline() if code == 0 else {}
    before = tracking.previous_pipeline_metrics("schedule") if params.tracking.enabled else {}
    problems = regressions(now, before, params.schedule.max_accuracy_drop)
    ALERT.unlink(missing_ok=True)
    if problems:
        write_text(
            ALERT,
            f"# depthlab regression alert\n\nPipeline run {pipeline_run_id} ({trigger}) against the "
            "previous scheduled run:\n\n"
            + "".join(f"- {p}\n" for p in problems.values())
            + (_champions_kept(problems) if params.tracking.enabled else ""),
        )
    if params.tracking.enabled:
        tracking.log_pipeline_run(
            pipeline_run_id,
            trigger,
            succeeded=code == 0 and pushed == 0,
            duration_s=time.monotonic() - started,
            ran=ran,
            up_to_date=skipped,
            metrics=now,
            alert=bool(problems),
            tags=transfers,
        )
    if code != 0:
        print(f"depthlab scheduled-run: dvc repro failed with exit code {code}", file=sys.stderr)
        return code
    if pushed != 0:
        print(
            f"depthlab scheduled-run: dvc push to the remote '{remote}' failed (exit code {pushed}); the outputs "
            "are intact here and dvc.lock was not committed: fix the remote and run again",
            file=sys.stderr,
        )
        return PUSH_FAILED
    if problems:
        print(f"depthlab scheduled-run: regression, see {ALERT}:\n" + "\n".join(problems.values()), file=sys.stderr)
        return REGRESSION
    print(
        f"depthlab scheduled-run: done in {time.monotonic() - started:.0f}s; ran {len(ran)}, up to date {len(skipped)}"
    )
    return 0


def _champions_kept(problems: dict[str, str]) -> str:
    """What the alert says of each regressed dataset's registered champion: the report stage left it alone."""
    from depthlab import tracking
    from depthlab.champions import Champion

    lines = []
    for key in problems:
        dataset = dataset_of(key)
        name = f"{tracking.registered_model_name(dataset)}@{tracking.CHAMPION}"
        registered = tracking.registered_champion(dataset)
        if registered is None:
            lines.append(f"- `{name}`: none registered yet, and this run registered none.\n")
        else:
            version, tags = registered
            lines.append(f"- `{name}` stays at version {version}: {Champion.from_tags(tags).describe()}.\n")
    return "\nA regressed run never moves a champion:\n\n" + "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trigger", choices=["schedule", "manual"], default="schedule")
    args = parser.parse_args()
    try:
        code = scheduled_run(args.trigger)
    except Locked as err:
        print(f"depthlab scheduled-run: {err}", file=sys.stderr)
        code = err.exit_code
    except DepthlabError as err:
        print(f"depthlab scheduled-run: error: {err}", file=sys.stderr)
        code = err.exit_code
    sys.exit(code)


if __name__ == "__main__":
    main()
