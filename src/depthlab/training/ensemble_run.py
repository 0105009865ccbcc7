"""One ensemble trained and tracked: its members' runs opened together, the ensemble fitted as one stacked
network, and each member's outcome: its checkpoint, final metrics, tags, model and runs.json entry.

The members, (seed, lr) pairs, are stacked into one network (`depthlab.ensemble`): each keeps its own
initialisation (the same weights as when trained alone), data order, optimizer state, learning rate
(`MemberwiseAdam`) and divergence check. Same params, data, code and machine give the same weights. With a
cache folder, members finished by an earlier run are reused and an interrupted ensemble resumes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import lightning_fabric as L
import torch
from lightning_fabric.loggers import Logger
from torch import nn

from depthlab import ensemble, hardware, tracking
from depthlab.data import Meta
from depthlab.families import Family, build_network, count_parameters, family_of
from depthlab.params import Params
from depthlab.records import GRID, TrainedSeed, finite_or_none
from depthlab.training.cache import FinishedMembers, reuse_finished
from depthlab.training.classifier import Classifier
from depthlab.training.functional import FunctionalEnsemble
from depthlab.training.jobs import EnsembleJob, StudyData
from depthlab.training.loop import FitState, Hooks, Progress, Schedule, TrainingData, fit
from depthlab.training.residence import trains_on_gpu
from depthlab.training.resume import ResumeFile
from depthlab.training.user_module import LAYERS, PER_SEED, RunLogger, Stacking, UserSteps, choose_stacking


def train_ensemble(job: EnsembleJob, data: StudyData) -> list[TrainedSeed]:
    """The members of one ensemble, each in its own tracked run: those finished by an earlier run (in the
    cache) reused, the others trained as an ensemble of their own.

    A seed whose loss turns NaN or infinite stops early as a result: `diverged` is recorded, not raised.
    """
    reused, todo = reuse_finished(job)
    if todo is None:
        return reused
    if todo.cache_dir is None:
        return train_members(todo, data)[0]
    resume = ResumeFile(todo.cache_dir, todo)
    trained, _ = train_members(todo, data, resume)
    FinishedMembers(todo.cache_dir, todo).keep(todo.out_dir, trained)
    resume.discard()
    return reused + trained


def train_members(
    job: EnsembleJob, data: StudyData, resume: ResumeFile | None = None, record: bool = False
) -> tuple[list[TrainedSeed], list[tracking.Run]]:
    """Train the job's members as one ensemble, continuing from `resume`'s state if it has one; their outcomes
    and their runs (recorded ones with `record`, for a process that cannot reach the tracking store). A user's
    module is checked against its contract, and how its seeds train chosen, before any run opens."""
    torch.set_num_threads(job.threads)
    # Denormal floats (below about 1e-38) flushed to zero. Once a small table's training loss nears zero, gradients
    # and Adam's second moments fall into that range, where the CPU computes far slower (a deep MLP on a
    # small table: docs/performance.md, "Denormals flushed to zero"). No reported value is that small.
    torch.set_flush_denormal(True)
    params = job.params
    data = data.with_train_rows(job.train_rows)
    nets = seed_networks(params, job.family, job.depth, data.meta, job.seeds)
    param_count = count_parameters(nets[0])
    imported = family_of(params.models, job.family).imported
    stacking = choose_stacking(nets, data.train_xy, data.meta.shape.num_classes) if imported else LAYERS
    with tracking.tracked_runs(
        dataset=job.dataset,
        runs=run_specs(job, data.meta, param_count, stacking),
        system_metrics_interval_s=params.tracking.system_metrics_interval_s,
        flush_interval_s=params.tracking.flush_interval_s,
        enabled=params.tracking.enabled,
        record=record,
    ) as runs:
        fitted = fit_members(job, data, nets, runs, resume, stacking)
        trained = [
            fitted.outcome(index, net, run, param_count)
            for index, (net, run) in enumerate(zip(nets, runs, strict=True))
        ]
    return trained, runs


def check_user_module(params: Params, family: str, depths: dict[str, list[int]], data: dict[str, StudyData]) -> None:
    """A user's module checked against its contract at every depth of every dataset (`choose_stacking`), in the
    stage's own process before any job is sent: one message and no run, whichever executor would have trained
    it. Nothing for a built-in family."""
    if not family_of(params.models, family).imported:
        return
    for dataset, study in data.items():
        for depth in depths[dataset]:
            nets = seed_networks(params, family, depth, study.meta, tuple(params.train.seeds[:2]))
            choose_stacking(nets, study.train_xy, study.meta.shape.num_classes)


def seed_networks(params: Params, family: str, depth: int, meta: Meta, seeds: tuple[int, ...]) -> list[nn.Module]:
    """Each seed's own network, initialised exactly as if that seed were trained alone."""
    nets = []
    for seed in seeds:
        L.seed_everything(seed, verbose=False)
        nets.append(build_network(params.models, family, depth, meta.shape))
    return nets


def run_specs(job: EnsembleJob, meta: Meta, param_count: int, stacking: Stacking) -> list[tracking.RunSpec]:
    """Each member's run: its name, params and tags; its cell in both (`train.max_steps` and `train.train_rows`
    are the cell's values, `budget` and `train_rows` tags), so runs of a budget or size are found by filter; how
    its seeds trained, and why (`seed_stacking`, `seed_stacking_reason`); where the cell's size is larger than
    the dataset's training split (`train.larger_than_split: whole_split`), the rows it trained on
    (`train_rows_trained`)."""
    params, cfg = job.params, job.config
    whole_split = job.train_rows is not None and job.train_rows > meta.rows["train"]
    shared = {
        # A seed's weights depend on its ensemble (batched kernels round by position): the members, in order.
        "family": job.family,
        "depth": job.depth,
        "param_count": param_count,
        "ensemble_seeds": list(job.seeds),
        "ensemble_lrs": list(job.lrs),
        "phase": job.phase,
        "train": cfg.model_dump(mode="json", exclude={"seeds", "lr", "selection"}),
        "lr_grid": params.train.grid,
        "model": getattr(params.models, job.family).model_dump(mode="json"),
        "data": params.data.describe(job.dataset),
    }
    return [
        tracking.RunSpec(
            tracking.run_name(job.family, job.depth, seed, lr if job.phase == GRID else None),
            {**shared, "seed": seed, "lr": lr},
            {
                "family": job.family,
                "depth": job.depth,
                "seed": seed,
                "lr": f"{lr:g}",
                "phase": job.phase,
                "dataset_digest": meta.digest,
                "kind": "training",
                "budget": job.cell.steps,
                "train_rows": "all" if job.train_rows is None else job.train_rows,
                **({"train_rows_trained": meta.rows["train"]} if whole_split else {}),
                **stacking.tags,
            },
        )
        for seed, lr in job.members
    ]


def fit_members(
    job: EnsembleJob,
    data: StudyData,
    nets: list[nn.Module],
    runs: list[tracking.Run],
    resume: ResumeFile | None,
    stacking: Stacking = LAYERS,
) -> FittedEnsemble:
    """The members' networks trained as one stacked network (depthlab's stacked layers, or torch.func's for a
    user's module), or one after another (`stacking`), each member's epochs logged to its run."""
    train = job.params.train
    schedule = Schedule.of(train, job.max_steps)
    rows = job.seed_rows(data) if job.params.data.split_seeds else None  # each seed's own split
    training = TrainingData(data.train_xy, data.val_xy, job.seeds, rows, job.params.runtime.device_data_mb)
    logger = RunLogger()
    fabric = on_device(train.accelerator, job.device, [logger] if stacking.path == PER_SEED else None)
    started = time.perf_counter()
    if stacking.path == PER_SEED:
        members = []
        for index, (net, run, (seed, lr)) in enumerate(zip(nets, runs, job.members, strict=True)):
            logger.run = run
            module = UserSteps(net, lr, train.weight_decay, fabric, logger)
            L.seed_everything(seed, verbose=False)  # its random ops (dropout) as when trained alone
            hooks = Hooks(
                epoch_end=RunLog([run], Progress(f"{job.label}: seed {seed} at lr {lr:g}", job.max_steps)),
                resume=resume.for_member(index) if resume else None,
            )
            state = fit(fabric=fabric, module=module, data=training.member(index), schedule=schedule, hooks=hooks)
            module.release()
            members.append(Member(module, state, 0))
    else:
        stacked = ensemble.stack(nets) if stacking.path == LAYERS.path else FunctionalEnsemble(nets)
        module = Classifier(stacked, len(job.seeds), list(job.lrs), train.weight_decay)
        family = family_of(job.params.models, job.family)
        hooks = Hooks(
            epoch_end=RunLog(runs, Progress(job.label, job.max_steps)),
            pretrain=None if family.imported else FamilyPretraining(job, family),
            resume=resume,
        )
        state = fit(fabric=fabric, module=module, data=training, schedule=schedule, hooks=hooks)
        members = [Member(module, state, index) for index in range(len(nets))]
    if fabric.device.type == "cuda":
        torch.cuda.synchronize(fabric.device)  # the clock stops when the device's work does
    seconds = time.perf_counter() - started
    residence = members[0].state
    if residence.residence == "streamed":  # the rare case, worth a line: each batch was copied to the device
        print(f"[{job.label}] {residence.residence_note}", flush=True)
    return FittedEnsemble(job, data, fabric, members, seconds)


class RunLog:
    """The epoch-end hook of training: each seed's metrics to its run ({seed index: metrics}, an index into
    `runs`), and a progress line now and then."""

    def __init__(self, runs: list[tracking.Run], progress: Progress):
        self.runs, self.progress = runs, progress

    def __call__(self, step: int, metrics: dict[int, dict[str, float]]) -> None:
        for index, seed_metrics in metrics.items():
            self.runs[index].log_metrics(seed_metrics, step)
        self.progress(step, metrics)


class FamilyPretraining:
    """The pre-training hook of training: the family's unsupervised pre-training of the stacked network, timed."""

    def __init__(self, job: EnsembleJob, family: Family):
        self.job, self.family = job, family

    def __call__(self, net: nn.Module, inputs: torch.Tensor) -> list[dict[str, float]] | None:
        job, began = self.job, time.perf_counter()
        config = getattr(job.params.models, job.family)
        metrics = self.family.pretrain(config, net, inputs, list(job.seeds), job.params.train.batch_size)
        if metrics and metrics[0]:
            print(
                f"[{job.label}] pre-trained {len(metrics[0])} layer(s) without labels in "
                f"{time.perf_counter() - began:.1f}s",
                flush=True,
            )
        return metrics


def on_device(accelerator: str, device: int, loggers: list[Logger] | None = None) -> L.Fabric:
    """Fabric on the job's device, started before any clock does: a CUDA context takes a second or more to
    create, which a training time must not include (claim 7 compares machines by it). On a GPU, kernels are
    made deterministic first (cuDNN's deterministic algorithms, cuBLAS's fixed workspace, torch's
    deterministic mode where an op has one), so a run reproduces bit for bit on the GPU that trained it;
    every run records these settings (`determinism.*`). `loggers` hear what a user's module logs (`RunLogger`)."""
    use_gpu = trains_on_gpu(accelerator)
    if use_gpu:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        torch.use_deterministic_algorithms(True, warn_only=True)
    fabric = L.Fabric(accelerator=accelerator, devices=[device] if use_gpu else 1, loggers=loggers)
    if fabric.device.type == "cuda":
        torch.cuda.init()
        torch.cuda.synchronize(fabric.device)
    return fabric


@dataclass(frozen=True)
class Member:
    """Where one member's training ended: the module that trained it, its loop's state, its index in both."""

    module: Classifier
    state: FitState
    index: int


@dataclass
class FittedEnsemble:
    """An ensemble at the end of its training, and what each member's outcome records of it."""

    job: EnsembleJob
    data: StudyData
    fabric: L.Fabric
    members: list[Member]  # each member's, in the job's order
    seconds: float  # the whole ensemble's training time

    def outcome(self, index: int, net: nn.Module, run: tracking.Run, param_count: int) -> TrainedSeed:
        """Member `index`: its weights, as it finished or froze, saved as its checkpoint; its run's final
        metrics, tags and model."""
        job, fabric = self.job, self.fabric
        seed, lr = job.members[index]
        member = self.members[index]
        state, last = member.state, member.state.last.get(member.index, {})
        stopped = state.stopped.get(member.index)
        steps, weights = (
            (stopped.step, stopped.state) if stopped else (state.step, member.module.seed_state(member.index))
        )
        net.load_state_dict(weights)
        checkpoint = job.checkpoint(seed, lr)
        (job.out_dir / checkpoint).parent.mkdir(parents=True, exist_ok=True)
        fabric.save(job.out_dir / checkpoint, {"model": net.state_dict(), "step": steps})
        train_time_s = self.seconds / len(job.seeds)
        run.log_metrics(
            {
                "train_time_s": train_time_s,
                "ensemble_train_time_s": self.seconds,
                "steps": steps,
                "diverged": float(stopped is not None),
            },
            step=steps,
        )
        accelerator = type(fabric.accelerator).__name__.removesuffix("Accelerator").lower()
        tags = {
            "torch_threads": job.threads,  # batched kernels round by thread count: reproduce uses it
            "accelerator": accelerator,
            "device": str(fabric.device),
            "diverged": str(stopped is not None).lower(),
            "data_residence": state.residence,  # resident on the device, or streamed to it (same results)
            **{f"determinism.{key}": value for key, value in hardware.determinism().items()},
        }
        if state.resumed_from_step:
            tags["resumed_from_step"] = str(state.resumed_from_step)
        run.set_tags(tags)
        if stopped:
            print(
                f"[{job.label}] seed {seed} at lr {lr:g} diverged at step {steps}: loss is not finite; recorded "
                "as a result",
                flush=True,
            )
        else:
            run.log_model(net.cpu().eval(), self.data.train_xy[0][:2], job.params.tracking.model_format)
        run.log_inputs(self.data.dataset_inputs)
        return TrainedSeed(
            depth=job.depth,
            seed=seed,
            lr=lr,
            phase=job.phase,
            run_id=run.run_id,
            checkpoint=str(checkpoint),
            param_count=param_count,
            train_time_s=train_time_s,
            steps=steps,
            val_accuracy=None if stopped else last.get("val_acc"),
            diverged=stopped is not None,
            accelerator=accelerator,
            ensemble_seeds=list(job.seeds),
            ensemble_lrs=list(job.lrs),
            train_loss=finite_or_none(last.get("train_loss")),
            cell=job.cell,
        )
