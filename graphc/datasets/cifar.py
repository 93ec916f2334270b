"""CIFAR-10's binary version (``cifar-10-binary.tar.gz``, extracted)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graphc.datasets._files import data_loss, read_bytes

__all__ = ["CIFAR10_CLASSES", "cifar10", "read_cifar10_batch"]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_SIDE = 32
_RECORD = 1 + 3 * _SIDE * _SIDE  # a label byte, then the red, green and blue planes


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte (0..9) and 3072 pixel bytes (the
    red, green and blue 32x32 planes, row-major). Returns images uint8 ``[N, 32, 32, 3]``
    (NHWC) and labels uint8 ``[N]``. A size that is not a whole number of records, or a
    label above 9, raises DataLossError naming the file."""
    data = read_bytes(path)
    if len(data) == 0 or len(data) % _RECORD:
        raise data_loss(
            path,
            f"size {len(data)} is not a whole number of {_RECORD}-byte CIFAR-10 records (truncated or not CIFAR-10)",
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].copy()
    if labels.max() >= len(CIFAR10_CLASSES):
        bad = int(np.argmax(labels >= len(CIFAR10_CLASSES)))
        raise data_loss(path, f"record {bad} has label {labels[bad]}, CIFAR-10's labels are 0..9")
    images = records[:, 1:].reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1).copy()
    return images, labels


def _directory(path: str | os.PathLike[str]) -> Path:
    base = Path(path)
    if not base.is_dir():
        raise FileNotFoundError(
            f"{os.fspath(base)}: not a directory (expected CIFAR-10's binary batches in it)"
        )
    if not (base / "data_batch_1.bin").exists() and (base / "cifar-10-batches-bin").is_dir():
        return base / "cifar-10-batches-bin"  # the folder the archive extracts to
    return base


def cifar10(
    path: str | os.PathLike[str],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 from the directory ``path`` (or its ``cifar-10-batches-bin`` folder) holding
    ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``.

    Returns ``((x_train, y_train), (x_test, y_test))``: images uint8 ``[N, 32, 32, 3]``,
    labels uint8 ``[N]`` (Keras's ``cifar10.load_data`` gives labels of shape ``[N, 1]``);
    class names are :data:`CIFAR10_CLASSES`. Nothing is downloaded; a missing batch
    raises FileNotFoundError, a malformed one DataLossError.
    """
    base = _directory(path)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    missing = [n for n in names if not (base / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10: {missing} not found in {os.fspath(base)}")
    train = [read_cifar10_batch(base / n) for n in names[:5]]
    x_test, y_test = read_cifar10_batch(base / names[5])
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), (x_test, y_test)
