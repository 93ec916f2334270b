"""A small, offline MNIST stand-in built from scikit-learn's digits data.

scikit-learn ships 1797 handwritten digits as 8x8 images with values 0..16
inside the package, so examples and tests can train a real classifier
without any download.  :func:`load_digits_mnist` reshapes them into MNIST's
layout (28x28, values in [0, 1], digit centred in a 20-ish pixel box with a
zero border) so code written for MNIST runs unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["BatchIterator", "DigitsSplit", "load_digits_mnist", "resize_bilinear"]

NUM_CLASSES = 10
_RESIZED_SIZE = 24
_PAD = 2  # 24 + 2 * 2 = 28, MNIST's side length
IMAGE_SIZE = _RESIZED_SIZE + 2 * _PAD


@dataclasses.dataclass(frozen=True)
class DigitsSplit:
    """Train/test arrays returned by :func:`load_digits_mnist`.

    ``train_indices`` / ``test_indices`` give, for each row, its position in
    ``sklearn.datasets.load_digits()``, so the split can be audited or
    reproduced against the original data.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_indices: np.ndarray
    test_indices: np.ndarray


def _bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Return the ``[out_size, in_size]`` 1-D linear interpolation matrix.

    Uses half-pixel centres (``align_corners=False``, as in OpenCV and
    ``tf.image.resize``) so an upscaled image is not shifted by half a pixel.
    """
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    # Clamping replicates the edge pixel rather than blending in zeros.
    src = np.clip(src, 0.0, in_size - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    # add.at because lo == hi at the clamped edges.
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinearly resize the last two axes of ``images`` to ``height x width``.

    Bilinear interpolation is separable, so it is computed exactly as
    ``Wy @ image @ Wx.T`` for the whole batch at once.  Every weight row sums
    to one, so constant images stay constant and values stay within the
    input's range.

    Args:
      images: Array of shape ``[..., H, W]``.
      height: Output height.
      width: Output width.

    Returns:
      Floating array of shape ``[..., height, width]`` (float64 for integer
      inputs, otherwise at least float32).
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"expected an array of shape [..., H, W], got {images.shape}")
    if height <= 0 or width <= 0:
        raise ValueError(f"output size must be positive, got {height}x{width}")
    in_h, in_w = images.shape[-2:]
    if in_h == 0 or in_w == 0:
        raise ValueError(f"cannot resize empty images of shape {images.shape}")
    dtype = np.float64 if images.dtype.kind in "biu" else np.result_type(images.dtype, np.float32)
    wy = _bilinear_matrix(in_h, height).astype(dtype)
    wx = _bilinear_matrix(in_w, width).astype(dtype)
    return np.einsum("oh,...hw,pw->...op", wy, images.astype(dtype), wx)


@functools.lru_cache(maxsize=1)
def _mnist_layout() -> tuple[np.ndarray, np.ndarray]:
    """Load sklearn's digits as ``[1797, 28, 28]`` float64 in [0, 1] + labels."""
    try:
        from sklearn import datasets  # optional dependency (the examples extra), needed only here
    except ImportError as exc:
        raise ImportError(
            "load_digits_mnist needs scikit-learn, which provides the bundled "
            "digits data; install it with `pip install graphc[examples]`"
        ) from exc
    bunch = datasets.load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / 16.0
    resized = resize_bilinear(images, _RESIZED_SIZE, _RESIZED_SIZE)
    padded = np.pad(resized, ((0, 0), (_PAD, _PAD), (_PAD, _PAD)))
    labels = np.asarray(bunch.target, dtype=np.int64)
    padded.flags.writeable = False
    labels.flags.writeable = False
    return padded, labels


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle and split indices so each class is split in the same ratio.

    The total test size is ``round(N * test_fraction)``; per-class quotas are
    assigned by largest remainder so that total is exact while every class
    keeps (within one sample) the global proportion.
    """
    rng = np.random.default_rng(seed)
    n_test = round(len(labels) * test_fraction)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (n_test / len(labels))
    quotas = np.floor(exact).astype(np.int64)
    leftover = n_test - int(quotas.sum())
    # Stable sort on -remainder breaks ties by class id, keeping it
    # deterministic.
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:leftover]] += 1

    train_parts: list[np.ndarray] = []
    test_parts: list[np.ndarray] = []
    for cls, quota in zip(classes, quotas, strict=True):
        members = rng.permutation(np.flatnonzero(labels == cls))
        test_parts.append(members[:quota])
        train_parts.append(members[quota:])
    # Shuffle again across classes, otherwise batches would be class-sorted.
    train = rng.permutation(np.concatenate(train_parts)).astype(np.int64)
    test = rng.permutation(np.concatenate(test_parts)).astype(np.int64)
    return train, test


@functools.lru_cache(maxsize=16)
def _build_split(
    test_fraction: float, seed: int, one_hot: bool, flatten: bool, dtype: np.dtype
) -> DigitsSplit:
    images, labels = _mnist_layout()
    train_idx, test_idx = _stratified_split(labels, test_fraction, seed)

    def features(idx: np.ndarray) -> np.ndarray:
        x = images[idx].astype(dtype)
        if flatten:
            return x.reshape(len(idx), IMAGE_SIZE * IMAGE_SIZE)
        return x.reshape(len(idx), IMAGE_SIZE, IMAGE_SIZE, 1)

    def targets(idx: np.ndarray) -> np.ndarray:
        y = labels[idx]
        if one_hot:
            return np.eye(NUM_CLASSES, dtype=np.float32)[y]
        return y.astype(np.int64)

    split = DigitsSplit(
        x_train=features(train_idx),
        y_train=targets(train_idx),
        x_test=features(test_idx),
        y_test=targets(test_idx),
        train_indices=train_idx,
        test_indices=test_idx,
    )
    # The cached arrays are shared between calls; freeze them so an
    # accidental in-place edit fails loudly instead of poisoning the cache.
    for field in dataclasses.fields(split):
        getattr(split, field.name).flags.writeable = False
    return split


def load_digits_mnist(
    test_fraction: float = 0.2,
    seed: int = 0,
    one_hot: bool = True,
    flatten: bool = True,
    dtype: Any = np.float32,
) -> DigitsSplit:
    """Load sklearn's 8x8 digits in MNIST layout, split into train and test.

    Each image is scaled from 0..16 to [0, 1], bilinearly resized to 24x24
    and zero-padded by 2 pixels per side to 28x28.  No network access is
    needed.  Results are cached in memory; every call returns fresh,
    writable copies.

    Args:
      test_fraction: Fraction of the 1797 images put in the test split, in
        ``[0, 1)``.  The split is stratified by class.
      seed: Seed for ``np.random.default_rng``; the same seed always gives
        the same split and order.
      one_hot: Return labels as one-hot float32 ``[N, 10]`` instead of int64
        class ids ``[N]``.
      flatten: Return images as ``[N, 784]`` instead of NHWC
        ``[N, 28, 28, 1]``.
      dtype: Floating dtype of the images.

    Raises:
      ImportError: scikit-learn is not installed.
      ValueError: invalid ``test_fraction``, ``seed`` or ``dtype``.
    """
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    np_dtype = np.dtype(dtype)
    if np_dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type, got {np_dtype}")
    cached = _build_split(float(test_fraction), int(seed), bool(one_hot), bool(flatten), np_dtype)
    return DigitsSplit(**{f.name: getattr(cached, f.name).copy() for f in dataclasses.fields(cached)})


class BatchIterator:
    """Iterate over aligned arrays in mini-batches.

    ``iter(it)`` yields one epoch of tuples ``(batch_0, batch_1, ...)``, one
    element per input array, all sliced with the same row indices.  Each new
    epoch draws a new order; epoch ``k``'s order depends only on ``seed``
    and ``k``, so two iterators built with the same seed produce identical
    sequences.

    Without shuffling the batches are views of the input arrays.
    """

    def __init__(
        self,
        *arrays: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
    ) -> None:
        """Create the iterator.

        Raises:
          ValueError: no arrays, a 0-d array, arrays whose first dimensions
            differ, a non-positive ``batch_size`` or a negative ``seed``.
        """
        if not arrays:
            raise ValueError("BatchIterator needs at least one array")
        converted = tuple(np.asarray(a) for a in arrays)
        if any(a.ndim == 0 for a in converted):
            raise ValueError("BatchIterator arrays must have at least one dimension")
        lengths = [a.shape[0] for a in converted]
        if len(set(lengths)) != 1:
            raise ValueError(f"all arrays must have the same first dimension, got {lengths}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self._arrays = converted
        self._num_examples = lengths[0]
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        self._epoch = 0

    @property
    def num_examples(self) -> int:
        """Number of rows in each array."""
        return self._num_examples

    @property
    def epoch(self) -> int:
        """Number of epochs started so far."""
        return self._epoch

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_remainder:
            return self._num_examples // self.batch_size
        return math.ceil(self._num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        """Yield the batches of one epoch."""
        # Claim the epoch number now rather than on first next(), so that
        # the order does not depend on when the generator is first advanced.
        epoch = self._epoch
        self._epoch += 1
        return self._epoch_batches(epoch)

    def _epoch_batches(self, epoch: int) -> Iterator[tuple[np.ndarray, ...]]:
        n, bs = self._num_examples, self.batch_size
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else None
        for b in range(len(self)):
            start, stop = b * bs, min((b + 1) * bs, n)
            if order is None:
                yield tuple(a[start:stop] for a in self._arrays)
            else:
                idx = order[start:stop]
                yield tuple(a[idx] for a in self._arrays)

    def epochs(self, n: int) -> Iterator[tuple[np.ndarray, ...]]:
        """Yield the batches of ``n`` consecutive epochs as one flat stream."""
        if n < 0:
            raise ValueError(f"number of epochs must be >= 0, got {n}")
        for _ in range(n):
            yield from self
