"""scikit-learn's bundled 8x8 digits, as they are or in MNIST's 28x28 layout."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.data import digits as _digits

__all__ = ["digits"]


def digits(
    layout: str = "mnist",
    test_fraction: float = 0.2,
    seed: int = 0,
    one_hot: bool = False,
    flatten: bool = False,
    dtype: Any = np.float32,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The 1797 digits bundled with scikit-learn, split (stratified, seeded) into train
    and test: ``((x_train, y_train), (x_test, y_test))``.

    ``layout='mnist'``: MNIST's layout, 28x28 (``graphc.data.load_digits_mnist``: scaled
    to [0, 1], resized to 24x24 and padded); ``layout='8x8'``: the original 8x8 images,
    scaled from 0..16 to [0, 1]. Images are NHWC ``[N, side, side, 1]``, or ``[N,
    side * side]`` with ``flatten``; labels are int64 class ids, or one-hot float32
    ``[N, 10]`` with ``one_hot``. Both layouts split the same rows for the same
    ``test_fraction`` and ``seed``. Needs scikit-learn (the examples extra).
    """
    if layout == "mnist":
        split = _digits.load_digits_mnist(test_fraction, seed, one_hot, flatten, dtype)
        return (split.x_train, split.y_train), (split.x_test, split.y_test)
    if layout != "8x8":
        raise ValueError(f"layout must be 'mnist' or '8x8', got {layout!r}")
    # The 28x28 split's row indices into sklearn's data give the same split for 8x8.
    split = _digits.load_digits_mnist(test_fraction, seed, False, True, np.float32)
    images, labels = _digits_8x8()
    np_dtype = np.dtype(dtype)
    if np_dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type, got {np_dtype}")

    def part(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = images[idx].astype(np_dtype)
        x = x.reshape(len(idx), 64) if flatten else x.reshape(len(idx), 8, 8, 1)
        y = labels[idx]
        return x, (np.eye(10, dtype=np.float32)[y] if one_hot else y.astype(np.int64))

    return part(split.train_indices), part(split.test_indices)


def _digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn import datasets  # optional dependency (the examples extra), needed only here
    except ImportError as exc:
        raise ImportError(
            "digits() needs scikit-learn, which provides the bundled digits data; "
            "install it with `pip install graphc[examples]`"
        ) from exc
    bunch = datasets.load_digits()
    return np.asarray(bunch.images, dtype=np.float64) / 16.0, np.asarray(bunch.target, dtype=np.int64)
