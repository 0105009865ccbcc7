"""Training data resident on the device or streamed to it a batch at a time: the same results bit for bit.
`runtime.device_data_mb: 0` forces streaming, so the CPU covers the streamed path's logic (host-side rows,
batches and validation chunks copied to the device); the CUDA check runs where a GPU is visible."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from depthlab import hardware
from depthlab.data import load_arrays, load_meta
from depthlab.training import residence
from depthlab.training.residence import MB, DeviceData
from tests.helpers.params import NO_SWEEP, make_params


def _fit(params, prepared, data, device_data_mb, accelerator="cpu", rows=None):
    """mlp depth 1, seeds 0 and 1, three epochs with validation after each: (module, state, epoch metrics)."""
    from depthlab.ensemble import stack
    from depthlab.training import Classifier, fit, seed_networks
    from depthlab.training.ensemble_run import on_device
    from depthlab.training.loop import Hooks, Schedule, TrainingData

    meta = load_meta(prepared)
    cfg = params.train.model_copy(update={"max_steps": 24})  # 720 rows at batch 100: 8 steps an epoch
    module = Classifier(stack(seed_networks(params, "mlp", 1, meta, (0, 1))), 2, cfg.grid[0], 0.0)
    epochs = []
    fabric = on_device(accelerator, 0)
    state = fit(
        fabric=fabric,
        module=module,
        data=TrainingData(*data, (0, 1), rows, device_data_mb),
        schedule=Schedule.of(cfg, cfg.max_steps),
        hooks=Hooks(lambda step, m: epochs.append((step, m))),
    )
    return module, state, epochs


def _mapped(prepared, folder):
    meta = load_meta(prepared)
    return tuple(load_arrays(prepared, split, meta, into=folder / f"{split}-x.npy") for split in ("train", "val"))


@pytest.mark.parametrize("split_seeds", [False, True])
def test_streamed_training_gives_the_resident_weights_and_metrics_bit_for_bit(
    tmp_path, tiny_params, prepared, monkeypatch, split_seeds
):
    from depthlab.data import seed_rows
    from depthlab.training import loop

    monkeypatch.setattr(loop, "VAL_BATCH", 64)  # several validation chunks, the last one short
    meta = load_meta(prepared)
    in_memory = tuple(load_arrays(prepared, split, meta) for split in ("train", "val"))
    rows = seed_rows(in_memory[0][1], in_memory[1][1], [0, 1], meta.digest) if split_seeds else None
    resident, resident_state, resident_epochs = _fit(tiny_params, prepared, in_memory, "auto", rows=rows)
    streamed, streamed_state, streamed_epochs = _fit(tiny_params, prepared, _mapped(prepared, tmp_path), 0, rows=rows)
    assert resident_state.residence == "resident" and streamed_state.residence == "streamed"
    assert "over the 0 MB allowed on cpu" in streamed_state.residence_note
    assert streamed_epochs == resident_epochs and len(resident_epochs) == 3
    for seed in (0, 1):
        weights = resident.seed_state(seed), streamed.seed_state(seed)
        assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_a_memory_mapped_split_resident_on_the_cpu_is_read_into_memory(tmp_path, prepared):
    train, val = _mapped(prepared, tmp_path)
    assert isinstance(train[0], np.memmap)
    data = DeviceData(torch.device("cpu"), train, val, "auto")
    assert data.residence == "resident" and torch.equal(data.inputs, torch.from_numpy(np.array(train[0])))
    assert not np.shares_memory(data.inputs.numpy(), train[0])


def test_auto_allows_half_the_available_memory_and_a_number_is_megabytes(monkeypatch, prepared):
    class Memory:
        available = 10 * MB

    monkeypatch.setattr(residence.psutil, "virtual_memory", lambda: Memory)
    cpu = torch.device("cpu")
    assert residence.limit_bytes("auto", cpu) == 5 * MB and residence.limit_bytes(3, cpu) == 3 * MB
    meta = load_meta(prepared)
    train, val = (load_arrays(prepared, split, meta) for split in ("train", "val"))
    size = sum(a.nbytes for a in (*train, *val))  # about 0.16 MB
    assert DeviceData(cpu, train, val, "auto").residence == "resident"
    Memory.available = size  # half of it is too little
    assert DeviceData(cpu, train, val, "auto").residence == "streamed"


def test_a_stage_over_the_limit_maps_its_data_once_and_trains_as_in_memory_with_its_residence_tagged(
    tmp_path, prepared
):
    """rbm pre-trains on the inputs, so its streamed path also pre-trains on inputs left on the host."""
    from depthlab.training import load_study_data, train_family

    sweep = {**NO_SWEEP, "rbm": {"datasets": ["mnist1d"], "depths": [1]}}
    models = {"rbm": {"pretrain_steps": 5}}
    trained = {}
    for limit in ("auto", 0):
        params = make_params(runtime={"device_data_mb": limit}, sweep=sweep, models=models)
        out = tmp_path / f"models-{limit}"
        trained[limit] = train_family(params, "rbm", {"mnist1d": prepared}, out, arrays_dir=tmp_path / "arrays")
    [folder] = (tmp_path / "arrays").iterdir()  # only the forced run mapped its data
    assert folder.name.startswith("mnist1d-") and sorted(p.name for p in folder.iterdir()) == [
        "train-x.npy",
        "train-y.npy",
        "val-x.npy",
        "val-y.npy",
    ]
    client = MlflowClient()
    for resident, streamed in zip(trained["auto"]["mnist1d"], trained[0]["mnist1d"], strict=True):
        weights = [
            torch.load(tmp_path / f"models-{limit}" / "mnist1d" / resident.checkpoint, weights_only=True)["model"]
            for limit in ("auto", 0)
        ]
        assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
        assert client.get_run(resident.run_id).data.tags["data_residence"] == "resident"
        assert client.get_run(streamed.run_id).data.tags["data_residence"] == "streamed"
        inputs = client.get_run(streamed.run_id).inputs.dataset_inputs
        assert {json.loads(i.dataset.profile)["num_rows"] for i in inputs} == {720, 80}  # whole splits described

    written = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    params = make_params(runtime={"device_data_mb": 0}, sweep=sweep, models=models)
    again = load_study_data(params, "mnist1d", prepared, tmp_path / "arrays")
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == written, "mapped once, then reused"
    assert isinstance(again.train_xy[0], np.memmap)
    meta = load_meta(prepared)
    assert np.array_equal(again.train_xy[0], load_arrays(prepared, "train", meta)[0])

    (tmp_path / "arrays" / "mnist1d-0123456789abcdef").mkdir()  # earlier data's copy: deleted when mapping anew
    (tmp_path / "arrays" / "mnist1d-big-0123456789abcdef").mkdir()  # another dataset's: kept
    load_study_data(params, "mnist1d", prepared, tmp_path / "arrays")
    assert sorted(p.name for p in (tmp_path / "arrays").iterdir()) == sorted(
        [folder.name, "mnist1d-big-0123456789abcdef"]
    )


@pytest.mark.skipif(hardware.fingerprint()["gpu_count"] == "0", reason="no NVIDIA GPU visible to NVML")
def test_streamed_to_a_gpu_through_pinned_memory_gives_the_resident_weights(tmp_path, tiny_params, prepared):
    meta = load_meta(prepared)
    in_memory = tuple(load_arrays(prepared, split, meta) for split in ("train", "val"))
    resident, resident_state, resident_epochs = _fit(tiny_params, prepared, in_memory, "auto", "gpu")
    streamed, streamed_state, streamed_epochs = _fit(tiny_params, prepared, _mapped(prepared, tmp_path), 0, "gpu")
    assert (resident_state.residence, streamed_state.residence) == ("resident", "streamed")
    assert streamed_epochs == resident_epochs
    for seed in (0, 1):
        weights = resident.seed_state(seed), streamed.seed_state(seed)
        assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
