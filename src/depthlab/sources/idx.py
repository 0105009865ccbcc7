"""The IDX files MNIST, Fashion-MNIST and their kin are published in, plain or gzipped.

Format (yann.lecun.com/exdb/mnist): two zero bytes, a type byte (0x08 unsigned byte, ...), the number of
dimensions, each dimension as a big-endian 32-bit integer, then the values, big-endian, row-major.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from depthlab.errors import DataError

GZIP_RATIO = 1032  # the most that deflate expands: no gzip file holds more than this times its size
TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read(path: Path) -> np.ndarray:
    """The array an IDX file holds; refuses a damaged or truncated one, naming it. The header is checked
    against the file's size before the data is read: a damaged dimension would otherwise ask for any amount
    of memory (a gzip stream is read no further than the header declares, plus one byte to find one too long)."""
    import math
    import zlib

    try:
        with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in TYPES:
                raise DataError(f"{path}: not an IDX file (its first bytes are {head.hex() or 'missing'})")
            dims = handle.read(4 * head[3])
            if len(dims) < 4 * head[3]:
                raise DataError(f"{path}: IDX header cut short")
            shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
            dtype = np.dtype(TYPES[head[2]])
            expected = math.prod(shape) * dtype.itemsize
            size = path.stat().st_size
            if expected > size * (GZIP_RATIO if path.suffix == ".gz" else 1):
                raise DataError(
                    f"{path}: IDX header declares shape {shape} ({expected} bytes of data), more than a file of "
                    f"{size} bytes can hold: the header is damaged"
                )
            data = handle.read(expected + 1)
    except zlib.error as err:
        raise DataError(f"{path}: not a readable file (damaged gzip data: {err})") from None
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: not a readable file ({type(err).__name__}: {err})") from None
    if len(data) != expected:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes of data), the file holds "
            f"{len(data)}{' or more' if len(data) > expected else ''}"
        )
    return np.frombuffer(data, dtype).reshape(shape)
