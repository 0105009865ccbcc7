import hashlib
from dataclasses import replace
from pathlib import Path

from depthlab.cell import Cell
from depthlab.records import FINAL, GRID
from depthlab.training.jobs import PACKAGE, EnsembleJob, source_digest
from tests.helpers.params import make_params


def golden_job() -> EnsembleJob:
    params = make_params(
        data={"split_seeds": False},  # the keys as they were before the option, whatever its default
        train={"batch_size": 100, "weight_decay": 0.0, "shuffle": True, "accelerator": "auto"},
        models={"mlp": {"width": 100}},
    )
    return EnsembleJob(
        params=params,
        dataset="mnist1d",
        family="mlp",
        depth=2,
        members=((0, 0.001), (1, 0.001), (0, 0.01), (1, 0.01)),
        max_steps=300,
        cell=Cell(300, None),
        phase=GRID,
        data_digest="5eed" * 16,
        out_dir=Path("out"),
        code="0123456789abcdef",
    )


def test_keys_and_cache_names_are_those_of_the_code_before_the_training_package():
    """Golden values computed by the `EnsembleJob` of c63613d (the last `training.py`) for the same job: a
    finished member or a resumable state it cached is found again, once the code digest is the same."""
    job = golden_job()
    assert job.key == "9718cef182942c0e"
    assert job.member_key(0, 0.001) == "ab55140f7f3ecc3c" and job.member_key(1, 0.01) == "7c6c32940a953d36"
    assert job.state_name == "mnist1d-d2-9718cef182942c0e.state"
    assert job.member_name(1, 0.01) == "mnist1d-d2-7c6c32940a953d36"


def test_a_member_key_does_not_depend_on_its_ensemble_nor_on_where_it_trains():
    job = golden_job()
    alone = replace(job, members=((1, 0.01),), phase=FINAL, threads=4, out_dir=Path("elsewhere"), cache_dir=Path("c"))
    assert alone.member_key(1, 0.01) == alone.key == job.member_key(1, 0.01)
    assert replace(job, members=job.members[::-1]).key != job.key, "an ensemble's members, in order, shape its runs"
    assert replace(job, code="fedcba9876543210").member_key(1, 0.01) != job.member_key(1, 0.01)


def test_source_files_are_digested_by_their_path_in_the_depthlab_package():
    path = PACKAGE / "training" / "jobs.py"
    assert PACKAGE.name == "depthlab"
    assert source_digest([path]) == hashlib.sha256(b"training/jobs.py\0" + path.read_bytes()).hexdigest()[:16]


def test_each_seed_its_own_split_changes_every_key_only_where_it_is_on():
    """With data.split_seeds off (the golden job's params) the keys are those above; on, every key differs, and a
    member's key still depends on nothing of its ensemble."""
    job = golden_job()
    assert not job.params.data.split_seeds
    split = replace(
        job, params=job.params.model_copy(update={"data": job.params.data.model_copy(update={"split_seeds": True})})
    )
    assert split.key != job.key and split.member_key(1, 0.01) != job.member_key(1, 0.01)
    alone = replace(split, members=((1, 0.01),), phase=FINAL)
    assert alone.key == alone.member_key(1, 0.01) == split.member_key(1, 0.01)


def test_a_member_draws_the_same_split_in_any_ensemble_at_any_lr(prepared, tiny_params):
    from depthlab.training import load_study_data

    data = load_study_data(tiny_params, "mnist1d", prepared)
    job = replace(golden_job(), data_digest=data.meta.digest)  # members (0, 1) at two lrs: a grid
    rows = job.seed_rows(data)
    alone = replace(job, members=((1, 0.01),)).seed_rows(data)
    assert (rows.train[1] == rows.train[3]).all() and (rows.val[3] == alone.val[0]).all()
    assert (rows.val[0] != rows.val[1]).any()
