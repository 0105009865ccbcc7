"""Where an ensemble's training data lives while it trains: whole on the device when it fits, streamed a batch
at a time when it does not.

Resident: the training and validation splits are copied to the device once and every batch is gathered
there, which is fastest while they fit (the default studies' splits are a few MB). Streamed: the splits stay
on the host, in memory or memory-mapped from a .npy file (`load_study_data` maps a study's data that does not
fit the host's memory), each step's batch is gathered there, into pinned memory when the device is a GPU so
that its copy runs asynchronously, and copied to the device; validation is copied a chunk at a time. Either
way each step sees the same rows in the same order, copied exactly, so an ensemble trains to the same
weights bit for bit (tested on the CPU, where `runtime.device_data_mb: 0` forces the streamed path).

What fits is `runtime.device_data_mb`, or with `auto` half of what is free when training starts: on a GPU the
free device memory (`torch.cuda.mem_get_info`), on the CPU the host's available memory. Half, because a GPU
is shared by two worker processes (`executor.WORKERS_PER_GPU`), each with its own copy of its data, and the
rest of a process's training needs little beyond its data: `make bench`, target 5, measures it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import psutil
import torch

from depthlab import hardware

AUTO_SHARE = 0.5  # of the free memory the data may take where `runtime.device_data_mb` is auto
MB = 2**20
COPY_ROWS = 65_536  # rows copied to a device at a time: resident data reaches it without a second host copy

Residence = Literal["resident", "streamed"]


def trains_on_gpu(accelerator: str) -> bool:
    """Whether `train.accelerator` puts training on a GPU here: asked of NVML, not torch, so that a process
    that forks workers does not create a CUDA context first."""
    return accelerator != "cpu" and hardware.fingerprint()["gpu_count"] != "0"


def limit_bytes(device_data_mb: int | str, device: torch.device) -> int:
    """The most bytes of data kept whole on `device`: `runtime.device_data_mb`, or with auto a share of the
    memory free on it now."""
    if device_data_mb != "auto":
        return int(device_data_mb) * MB
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = psutil.virtual_memory().available
    return int(free * AUTO_SHARE)


def host_limit_bytes(device_data_mb: int | str, accelerator: str) -> int:
    """The most bytes of a study's data read into the host's memory rather than memory-mapped: where training
    runs on the CPU the host is its device and `runtime.device_data_mb` applies; a GPU's limit does not."""
    on_gpu = trains_on_gpu(accelerator)
    return limit_bytes("auto" if on_gpu else device_data_mb, torch.device("cpu"))


class DeviceData:
    """An ensemble's training and validation splits placed for training on `device`: resident if their bytes
    are within `limit` (`limit_bytes`), streamed otherwise. `inputs` are the training inputs for a family's
    pre-training: on the device, or on the host where streamed."""

    def __init__(
        self,
        device: torch.device,
        train_xy: tuple[np.ndarray, np.ndarray],
        val_xy: tuple[np.ndarray, np.ndarray],
        device_data_mb: int | str = "auto",
    ):
        self.device = device
        self.bytes = sum(a.nbytes for a in (*train_xy, *val_xy))
        self.limit = limit_bytes(device_data_mb, device)
        self.residence: Residence = "resident" if self.bytes <= self.limit else "streamed"
        self.rows = len(train_xy[1])
        self.pinned = self.residence == "streamed" and device.type == "cuda"
        if self.residence == "resident":
            self.train = tuple(_on_device(a, device) for a in train_xy)
            self.val = tuple(_on_device(a, device) for a in val_xy)
        else:
            self.train, self.val = train_xy, val_xy
        self.inputs = self.train[0] if self.residence == "resident" else torch.from_numpy(train_xy[0])
        # A batch's rows are drawn on the host; they index the data where it is.
        self.index_device = device if self.residence == "resident" else torch.device("cpu")

    @property
    def note(self) -> str:
        """Where the data is and why, for a progress line."""
        relation = "within" if self.residence == "resident" else "over"
        return (
            f"data {self.residence}: {self.bytes / MB:,.0f} MB, {relation} the {self.limit / MB:,.0f} MB allowed on "
            f"{self.device}"
        )

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training batch of each seed's `rows` (seeds, batch), on the device: inputs (seeds, batch,
        *sample), labels (seeds, batch); one seed's batch has no seed axis (see ensemble.stack)."""
        shape = rows.shape[1:] if len(rows) == 1 else rows.shape
        if self.residence == "resident":
            return gather(*self.train, rows.flatten(), shape)
        index = rows.flatten().numpy()
        x, y = self.train
        return self._copied(x, index, (*shape, *x.shape[1:])), self._copied(y, index, shape)

    def val_batches(self, seeds: int, size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """The validation split in batches of `size` rows, each seen by every seed (a seed axis where
        `seeds` > 1): slices of the resident split, or chunks copied to the device as they are reached."""
        if self.residence == "resident":
            return [
                _for_seeds(self.val[0][s : s + size], self.val[1][s : s + size], seeds) for s in _starts(self.val, size)
            ]
        return _Chunks(self, seeds, size)

    def _copied(self, a: np.ndarray, index: np.ndarray | slice, shape: tuple[int, ...]) -> torch.Tensor:
        """Rows `index` of a host array on the device, as `shape`: gathered straight into pinned memory where
        the device is a GPU, so that the copy runs asynchronously (torch's pinned allocator keeps a block
        until its copy is done)."""
        count = len(range(len(a))[index]) if isinstance(index, slice) else len(index)
        host = torch.empty((count, *a.shape[1:]), dtype=_torch_dtype(a), pin_memory=self.pinned)
        if isinstance(index, slice):
            host.numpy()[...] = a[index]
        else:
            np.take(a, index, axis=0, out=host.numpy())
        return host.view(shape).to(self.device, non_blocking=self.pinned)


class _Chunks:
    """Streamed validation batches: iterable again at every validation, each chunk copied when reached."""

    def __init__(self, data: DeviceData, seeds: int, size: int):
        self.data, self.seeds, self.size = data, seeds, size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.data.val
        for start in _starts(self.data.val, self.size):
            rows = slice(start, start + self.size)
            count = len(y[rows])
            chunk = self.data._copied(x, rows, (count, *x.shape[1:])), self.data._copied(y, rows, (count,))
            yield _for_seeds(*chunk, self.seeds)


def gather(
    x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of (x, y) on their device, viewed as `shape`. index_select, not x[rows]: a third of the time."""
    return x.index_select(0, rows).view(*shape, *x.shape[1:]), y.index_select(0, rows).view(shape)


def _for_seeds(x: torch.Tensor, y: torch.Tensor, seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same batch for every seed, without a copy; one seed's batch has no seed axis."""
    return (x.expand(seeds, *x.shape), y.expand(seeds, *y.shape)) if seeds > 1 else (x, y)


def _starts(split: tuple, size: int) -> range:
    return range(0, len(split[1]), size)


def _on_device(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """A whole array on `device`. On the CPU an array in memory is used as it is and a memory-mapped one read
    into memory; to a GPU it is copied in parts, so that a mapped array is never whole in host memory."""
    if device.type == "cpu":
        return torch.from_numpy(np.array(a) if isinstance(a, np.memmap) else a)
    out = torch.empty(a.shape, dtype=_torch_dtype(a), device=device)
    for start in range(0, len(a), COPY_ROWS):
        out[start : start + COPY_ROWS].copy_(torch.from_numpy(np.ascontiguousarray(a[start : start + COPY_ROWS])))
    return out


def _torch_dtype(a: np.ndarray) -> torch.dtype:
    return torch.from_numpy(np.empty(0, a.dtype)).dtype
