"""Re-train a recorded run with the code and params of its commit, and prove the result identical.

    python -m depthlab.reproduce <run id> [--allow-dirty]      (or: make reproduce RUN=<run id>)

The run's tags name its commit, dataset digest, ensemble and torch threads, and its param `data.split_seeds`
whether each seed drew its own split (the commit's params.yaml may say otherwise: a `dvc exp run -S`). The
commit is checked out in a temporary git worktree, and a process running that commit's own depthlab re-creates
the data (its digest must match), re-trains the run's whole ensemble (a member's weights depend on its
companions), and evaluates the member on the test split. The weights are compared bit for bit with the model
the run logged, the test metrics with its metrics; a `reproduction` run records the outcome beside the original.

Exit codes: 0 identical; 10 something differs (named); 9 refused (a dirty run, a commit not in this
repository, a run without a model); 3 the data's digest differs; 5 the store cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from depthlab import hardware
from depthlab.errors import DIFFERS, DataError, DepthlabError, Refused

METRICS = ("test_accuracy", "test_loss", "test_macro_f1")
TOLERANCE = 0.01  # across machines: metrics within this, weights not compared bit for bit


def plan(run_id: str, allow_dirty: bool) -> dict[str, Any]:
    """What the run says about itself, or why it cannot be reproduced."""
    from depthlab import tracking

    run = tracking.recorded_run(run_id)
    tags, params = run["tags"], run["params"]
    if tags.get("kind") != "training":
        raise Refused(f"run {run_id} is not a training run (kind {tags.get('kind')!r})")
    if tags.get("git_dirty") == "true" and not allow_dirty:
        raise Refused(
            f"run {run_id} was trained from uncommitted changes to {tags.get('git_commit', '?')[:12]} "
            "(git_dirty=true): its code or params are not in any commit; --allow-dirty tries the commit anyway"
        )
    if tags.get("diverged") == "true":
        raise Refused(f"run {run_id} diverged: it logged no model to compare with")
    accelerator = tags.get("accelerator", "cpu")
    if accelerator == "cuda" and hardware.fingerprint()["gpu_count"] == "0":
        raise Refused(
            f"run {run_id} trained on a GPU ({tags.get('hw.gpu_name', 'unnamed')}) and this machine has none: "
            "reproduce it on a machine with that GPU"
        )
    commit = tags.get("git_commit", "unknown")
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True, check=False)
    if known.returncode != 0:
        raise Refused(f"run {run_id} was trained at commit {commit}, which is not in this repository")
    return {
        "run": run,
        "commit": commit,
        "dataset": tags["dataset"],
        "family": tags["family"],
        "depth": int(tags["depth"]),
        "seed": int(tags["seed"]),
        "lr": float(params["lr"]),
        "phase": tags.get("phase", "final"),
        "digest": tags["dataset_digest"],
        "steps": int(params["train.max_steps"]),
        # A subsample of the training split (train.train_rows); "None" or absent (runs before it): the whole split.
        "train_rows": None if params.get("train.train_rows", "None") == "None" else int(params["train.train_rows"]),
        "ensemble_seeds": json.loads(params["ensemble_seeds"]),
        "ensemble_lrs": json.loads(params["ensemble_lrs"]),
        "threads": int(tags.get("torch_threads", "1")),
        # Each seed its own split (drawn again from its seed and the data's digest); off for runs from before it.
        "split_seeds": params.get("data.split_seeds") == "True",
        "accelerator": "cpu" if accelerator == "cpu" else "gpu",  # a CPU run retrains on the CPU, GPU or not
        "project": str(Path.cwd()),
    }


def copy_missing(inputs: list[Path], project: Path) -> None:
    """Give the worktree (the working directory) the data files and folders git does not hold, from the
    project: a CSV, an .npz, an image folder. What they make is checked against the run's data digest after."""
    import shutil

    for path in inputs:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (project / path).is_dir() else shutil.copy)(project / path, path)


def retrain(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """In the worktree, with its code: the data, the ensemble, the member's checkpoint and test metrics."""
    from depthlab.cell import Cell
    from depthlab.data import load_arrays, load_meta, prepare
    from depthlab.evaluation import load_trained, measure
    from depthlab.params import load_params
    from depthlab.training import EnsembleJob, code_digest, load_study_data, train_ensemble

    params = load_params()
    params = params.model_copy(
        update={
            "tracking": params.tracking.model_copy(update={"enabled": False}),
            "train": params.train.model_copy(update={"accelerator": spec["accelerator"]}),
            "data": params.data.model_copy(update={"split_seeds": spec["split_seeds"]}),
        }
    )
    data_dir = out / "prepared"
    copy_missing(params.data.resolve(spec["dataset"]).inputs, Path(spec["project"]))
    prepare(params.data, spec["dataset"], data_dir)
    meta = load_meta(data_dir)
    if meta.digest != spec["digest"]:
        raise DataError(
            f"{spec['dataset']}: the data made at commit {spec['commit'][:12]} has digest {meta.digest[:16]}, the run "
            f"recorded {spec['digest'][:16]}: the data changed, so the run cannot be reproduced"
        )
    data = load_study_data(params, spec["dataset"], data_dir)
    job = EnsembleJob(
        params=params,
        dataset=spec["dataset"],
        family=spec["family"],
        depth=spec["depth"],
        members=tuple(zip(spec["ensemble_seeds"], spec["ensemble_lrs"], strict=True)),
        max_steps=spec["steps"],
        cell=Cell(spec["steps"], spec["train_rows"]),  # its budget is its steps: a budget only names the cell
        phase=spec["phase"],
        data_digest=data.meta.digest,
        out_dir=out / "models",
        code=code_digest(params.models, spec["family"]),
        threads=spec["threads"],
    )
    trained = train_ensemble(job, data)  # in this process, with no cache: the whole ensemble trains again
    [member] = [t for t in trained if t.seed == spec["seed"] and t.lr == spec["lr"]]
    checkpoint = out / "models" / member.checkpoint
    x, y = load_arrays(data_dir, "test", meta)
    result = measure(load_trained(params, spec["family"], spec["depth"], meta, checkpoint), x, y, 0)
    return {"checkpoint": str(checkpoint), "metrics": {key: result[key] for key in METRICS}}


def reproduce(run_id: str, allow_dirty: bool) -> int:
    import torch

    from depthlab import tracking

    spec = plan(run_id, allow_dirty)
    run = spec.pop("run")
    with tempfile.TemporaryDirectory(prefix="depthlab-reproduce-") as scratch:
        tree, out = Path(scratch) / "tree", Path(scratch) / "out"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), spec["commit"]], check=True)
        try:
            print(f"re-training {run['name']} ({run_id}) at commit {spec['commit'][:12]} in {tree}", flush=True)
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}  # that commit's depthlab, not this one
            done = subprocess.run(
                [sys.executable, "-m", "depthlab.reproduce", "--worker", json.dumps(spec), str(out)], cwd=tree, env=env
            )
            if done.returncode != 0:
                return done.returncode
            result = json.loads((out / "result.json").read_text())
            reproduced = torch.load(result["checkpoint"], map_location="cpu", weights_only=True)["model"]
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)
    recorded = tracking.recorded_weights(run_id)
    here, tags = hardware.fingerprint(), run["tags"]
    same_machine = all(tags.get(f"hw.{key}") == here.get(key) for key in ("cpu_model", "torch", "gpu_name"))
    # A GPU run without deterministic kernels (from before they were set) may differ on its own GPU too.
    nondeterministic = tags.get("accelerator") == "cuda" and tags.get("determinism.deterministic_algorithms") != "true"
    exact = same_machine and not nondeterministic
    rows = [{"what": key, "recorded": run["metrics"].get(key), "reproduced": result["metrics"][key]} for key in METRICS]
    for row in rows:
        gap = abs((row["recorded"] if row["recorded"] is not None else float("nan")) - row["reproduced"])
        row["equal"] = gap == 0 if exact else gap <= TOLERANCE
    identical = sorted(recorded) == sorted(reproduced) and all(
        torch.equal(recorded[k], reproduced[k]) for k in recorded
    )
    rows.insert(0, {"what": "weights, bit for bit", "recorded": "", "reproduced": "", "equal": identical or None})
    print(f"\n{'':<2}{'metric':<22}{'recorded':>14}{'reproduced':>14}  equal")
    for row in rows:
        shown = {k: f"{v:.6f}" if isinstance(v, float) else str(v) for k, v in row.items()}
        print(f"  {shown['what']:<22}{shown['recorded']:>14}{shown['reproduced']:>14}  {shown['equal']}")
    if exact:
        where = "same machine (CPU, torch and GPU as recorded): weights must match bit for bit"
    elif same_machine:
        where = (
            "same machine, but the run trained on the GPU with nondeterministic kernels (determinism.* tags): "
            f"weights not required to match, metrics within {TOLERANCE}"
        )
    else:
        where = f"another machine than the run's: weights not required to match, metrics within {TOLERANCE}"
    differs = [row["what"] for row in rows[1:] if not row["equal"]] + ([] if identical or not exact else ["weights"])
    outcome = "identical" if not differs else "differs: " + ", ".join(differs)
    print(f"\n{where}\n{outcome}")
    metrics = {f"reproduced_{key}": result["metrics"][key] for key in METRICS}
    tracking.log_reproduction(run, run_id, outcome, rows, metrics)
    return 0 if not differs else DIFFERS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id", nargs="?")
    parser.add_argument("--allow-dirty", action="store_true", help="try a run trained from uncommitted changes")
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        if args.worker:
            spec, out = json.loads(args.worker[0]), Path(args.worker[1])
            result = retrain(spec, out)
            (out / "result.json").write_text(json.dumps(result))
            sys.exit(0)
        if not args.run_id:
            parser.error("give the id of a training run (MLflow UI, or runs.json)")
        sys.exit(reproduce(args.run_id, args.allow_dirty))
    except Refused as err:
        print(f"depthlab reproduce: refused: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except DepthlabError as err:
        print(f"depthlab reproduce: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
