"""tf.keras.utils: ``to_categorical``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """Integer class labels as one-hot rows: shape ``y.shape + (num_classes,)`` (a trailing
    1 in ``y``'s shape is dropped, as Keras); ``num_classes`` defaults to ``max(y) + 1``."""
    arr = np.asarray(y, dtype="int64")
    shape = arr.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    flat = arr.ravel()
    if flat.size and flat.min() < 0:
        raise ValueError("to_categorical needs non-negative labels")
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if flat.size and flat.max() >= num_classes:
        raise ValueError(f"label {int(flat.max())} is out of range for num_classes={num_classes}")
    out = np.zeros((flat.size, num_classes), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(*shape, num_classes)
