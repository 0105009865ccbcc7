"""Training: a family's train stage, from its plan of ensembles to their checkpoints, runs and runs.json.

One idea a module, each importing only those listed before it:
- `jobs`: one ensemble to train (`EnsembleJob`), its cache keys, and what a member's training gives;
- `plan`: the ensembles of a stage, and how a grid's outcome chooses the lr its final ensemble trains at;
- `classifier`: the training module of every family, and Adam with an lr per member of an ensemble;
- `functional`: a user's network, its seeds stacked with torch.func;
- `user_module`: a user's module checked against its contract, how its seeds train (torch.func or seed by seed),
  and Lightning's training_step, optimizer and logging under Fabric;
- `resume`: where an ensemble's training is, saved so that an interrupted stage continues from it;
- `residence`: an ensemble's data resident on its device when it fits, streamed to it a batch at a time when not;
- `loop`: the training loop (`fit`: the data, the schedule and the caller's hooks), on Lightning Fabric, and its
  progress lines;
- `cache`: finished members kept for reuse by the next run of a stage;
- `ensemble_run`: one ensemble trained and tracked, each member in its own MLflow run;
- `executor`: the `Executor` interface and its in-process implementation, `Inline`;
- `pool`: the executor of worker processes forked on this machine;
- `cluster`: the executor of Ray tasks, when the environment names a cluster;
- `scheduling`: one scheduling path for every executor;
- `stage`: the stage itself (`train_family`), which reads the data and makes the plan once.
"""

from depthlab.training.classifier import Classifier
from depthlab.training.ensemble_run import seed_networks, train_ensemble
from depthlab.training.executor import worker_count
from depthlab.training.jobs import EnsembleJob, StudyData, code_digest, seeds_text
from depthlab.training.loop import fit
from depthlab.training.pool import in_child_process
from depthlab.training.stage import ensemble_job, load_study_data, train_family

__all__ = [
    "Classifier",
    "EnsembleJob",
    "StudyData",
    "code_digest",
    "ensemble_job",
    "fit",
    "in_child_process",
    "load_study_data",
    "seed_networks",
    "seeds_text",
    "train_ensemble",
    "train_family",
    "worker_count",
]
