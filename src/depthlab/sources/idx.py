"""The IDX files MNIST, Fashion-MNIST and their kin are published in, plain or gzipped.

Format (yann.lecun.com/exdb/mnist): two zero bytes, a type byte (0x08 unsigned byte, ...), the number of
dimensions, each dimension as a big-endian 32-bit integer, then the values, big-endian, row-major.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from depthlab.errors import DataError

TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read(path: Path) -> np.ndarray:
    """The array an IDX file holds; refuses a damaged or truncated one, naming it."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: not a readable file ({type(err).__name__}: {err})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in TYPES:
        raise DataError(f"{path}: not an IDX file (its first bytes are {raw[:4].hex() or 'missing'})")
    dims = raw[3]
    start = 4 + 4 * dims
    if len(raw) < start:
        raise DataError(f"{path}: IDX header cut short")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:start], ">u4"))
    dtype = np.dtype(TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - start != expected:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes of data), the file holds {len(raw) - start}"
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(shape)
