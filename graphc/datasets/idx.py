"""MNIST's IDX files (also Fashion-MNIST's, KMNIST's: the same names and format)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graphc.datasets._files import data_loss, find, read_bytes

__all__ = ["mnist", "read_idx"]

# IDX type codes -> big-endian NumPy dtypes (Yann LeCun's description of the format).
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its shape and dtype (native
    byte order).

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C
    int32, 0x0D float32, 0x0E float64), the number of dims, then each dim as a big-endian
    uint32; the data follow, big-endian. A bad magic, an unknown type, or a data size
    that does not match the dims raises DataLossError naming the file.
    """
    data = read_bytes(path)
    if len(data) < 4:
        raise data_loss(path, f"too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise data_loss(path, f"bad magic {data[:4].hex()}: not an IDX file")
    dtype = _IDX_TYPES.get(data[2])
    if dtype is None:
        raise data_loss(path, f"unknown IDX type code 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise data_loss(path, f"truncated header: {ndim} dims need {header} bytes, the file has {len(data)}")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise data_loss(
            path, f"{kind}: dims {dims} of {dtype.name} need {expected} bytes, the file has {len(data)}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _pair(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    names = {
        "images": [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"],
        "labels": [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"],
    }
    paths = {
        k: find(directory, [n + ext for n in v for ext in ("", ".gz")], f"MNIST {prefix} {k}")
        for k, v in names.items()
    }
    images = read_idx(paths["images"])
    labels = read_idx(paths["labels"])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise data_loss(
            paths["images"], f"expected 3-D uint8 images, got {images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise data_loss(
            paths["labels"], f"expected 1-D uint8 labels, got {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise data_loss(
            paths["labels"], f"{len(labels)} labels for the {len(images)} images of {paths['images']}"
        )
    return images, labels


def mnist(
    path: str | os.PathLike[str],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST from the directory ``path`` holding ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    (each may end in ``.gz``; ``train-images.idx3-ubyte`` naming is accepted too).

    Returns ``((x_train, y_train), (x_test, y_test))`` as Keras's ``mnist.load_data``:
    images uint8 ``[N, rows, cols]`` (values 0..255), labels uint8 ``[N]``. Nothing is
    downloaded; a missing file raises FileNotFoundError, a malformed one DataLossError.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{os.fspath(directory)}: not a directory (expected MNIST's four IDX files in it)"
        )
    return _pair(directory, "train"), _pair(directory, "t10k")
