"""Tests for graphc.data.digits."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from graphc.data import digits

load_digits_mnist = digits.load_digits_mnist
BatchIterator = digits.BatchIterator
resize_bilinear = digits.resize_bilinear

sklearn_datasets = pytest.importorskip("sklearn.datasets")
N_DIGITS = 1797


@pytest.fixture(scope="module")
def sk_digits():  # type: ignore[no-untyped-def]
    return sklearn_datasets.load_digits()


def _reference_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Scalar bilinear resize (half-pixel centres), independent of the module."""
    in_h, in_w = image.shape
    out = np.empty((out_h, out_w))

    def source(i: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        s = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
        lo = int(np.floor(s))
        return lo, min(lo + 1, n_in - 1), s - lo

    for y in range(out_h):
        y0, y1, fy = source(y, in_h, out_h)
        for x in range(out_w):
            x0, x1, fx = source(x, in_w, out_w)
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[y, x] = top * (1 - fy) + bottom * fy
    return out


# --------------------------------------------------------------------------
# resize_bilinear
# --------------------------------------------------------------------------


def test_resize_constant_image_stays_constant() -> None:
    image = np.full((3, 8, 8), 0.375)
    out = resize_bilinear(image, 24, 24)
    assert out.shape == (3, 24, 24)
    np.testing.assert_allclose(out, 0.375, rtol=0, atol=1e-12)


def test_resize_known_upscale() -> None:
    image = np.array([[0.0, 1.0], [2.0, 3.0]])
    out = resize_bilinear(image, 4, 4)
    # Half-pixel centres: 1-D weights are [1, 0], [.75, .25], [.25, .75], [0, 1].
    row = np.array([0.0, 0.25, 0.75, 1.0])
    col = np.array([0.0, 0.5, 1.5, 2.0])
    np.testing.assert_allclose(out, col[:, None] + row[None, :])


def test_resize_known_downscale_averages_pairs() -> None:
    image = np.arange(16, dtype=np.float64).reshape(4, 4)
    out = resize_bilinear(image, 2, 2)
    expected = image.reshape(2, 2, 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(out, expected)


def test_resize_matches_scalar_reference() -> None:
    rng = np.random.default_rng(3)
    images = rng.random((2, 8, 8))
    out = resize_bilinear(images, 24, 17)
    for i in range(2):
        np.testing.assert_allclose(out[i], _reference_resize(images[i], 24, 17))


def test_resize_integer_input_and_bad_args() -> None:
    out = resize_bilinear(np.full((8, 8), 16, dtype=np.int64), 24, 24)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, 16.0)
    with pytest.raises(ValueError):
        resize_bilinear(np.zeros(5), 2, 2)
    with pytest.raises(ValueError):
        resize_bilinear(np.zeros((2, 2)), 0, 2)


# --------------------------------------------------------------------------
# load_digits_mnist
# --------------------------------------------------------------------------


def test_default_shapes_and_types() -> None:
    split = load_digits_mnist()
    assert split.x_train.shape[0] + split.x_test.shape[0] == N_DIGITS
    assert split.x_test.shape[0] == round(N_DIGITS * 0.2)
    assert split.x_train.shape[1:] == (784,)
    assert split.x_train.dtype == np.float32
    assert split.y_train.shape == (split.x_train.shape[0], 10)
    assert split.y_train.dtype == np.float32
    np.testing.assert_array_equal(split.y_train.sum(axis=1), 1.0)
    np.testing.assert_array_equal(split.y_test.sum(axis=1), 1.0)


def test_nhwc_and_integer_labels() -> None:
    split = load_digits_mnist(one_hot=False, flatten=False, dtype=np.float64)
    assert split.x_train.shape[1:] == (28, 28, 1)
    assert split.x_test.shape[1:] == (28, 28, 1)
    assert split.x_train.dtype == np.float64
    assert split.y_train.dtype == np.int64
    assert split.y_train.ndim == 1
    flat = load_digits_mnist(one_hot=False, flatten=True, dtype=np.float64)
    np.testing.assert_array_equal(flat.x_train, split.x_train.reshape(len(split.x_train), 784))


def test_value_range_and_zero_border() -> None:
    split = load_digits_mnist(flatten=False)
    for x in (split.x_train, split.x_test):
        assert x.min() >= 0.0
        assert x.max() <= 1.0
        images = x[..., 0]
        assert not images[:, :2, :].any()
        assert not images[:, -2:, :].any()
        assert not images[:, :, :2].any()
        assert not images[:, :, -2:].any()
    assert split.x_train.max() == pytest.approx(1.0)


def test_labels_and_images_match_sklearn(sk_digits) -> None:  # type: ignore[no-untyped-def]
    split = load_digits_mnist(one_hot=False, flatten=False, dtype=np.float64)
    all_idx = np.concatenate([split.train_indices, split.test_indices])
    np.testing.assert_array_equal(np.sort(all_idx), np.arange(N_DIGITS))
    np.testing.assert_array_equal(split.y_train, sk_digits.target[split.train_indices])
    np.testing.assert_array_equal(split.y_test, sk_digits.target[split.test_indices])
    # Undo the shuffle for a few rows and rebuild them independently.
    for row in (0, 1, 500):
        source = sk_digits.images[split.train_indices[row]] / 16.0
        expected = np.pad(_reference_resize(source, 24, 24), 2)
        np.testing.assert_allclose(split.x_train[row, :, :, 0], expected, atol=1e-12)
    one_hot = load_digits_mnist()
    np.testing.assert_array_equal(one_hot.y_train.argmax(axis=1), split.y_train)


def test_split_is_stratified(sk_digits) -> None:  # type: ignore[no-untyped-def]
    split = load_digits_mnist(test_fraction=0.25, one_hot=False)
    full_counts = np.bincount(sk_digits.target, minlength=10)
    train_counts = np.bincount(split.y_train, minlength=10)
    test_counts = np.bincount(split.y_test, minlength=10)
    np.testing.assert_array_equal(train_counts + test_counts, full_counts)
    assert np.all(np.abs(test_counts - 0.25 * full_counts) <= 1)
    # Rows are shuffled across classes, not grouped by label.
    assert (np.diff(split.y_train) != 0).sum() > len(split.y_train) // 2


def test_deterministic_per_seed() -> None:
    a = load_digits_mnist(seed=7)
    b = load_digits_mnist(seed=7)
    np.testing.assert_array_equal(a.train_indices, b.train_indices)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    c = load_digits_mnist(seed=8)
    assert not np.array_equal(a.train_indices, c.train_indices)


def test_cached_results_are_fresh_copies() -> None:
    a = load_digits_mnist()
    a.x_train[...] = -1.0
    a.y_train[...] = 0.0
    b = load_digits_mnist()
    assert b.x_train.min() >= 0.0
    np.testing.assert_array_equal(b.y_train.sum(axis=1), 1.0)


def test_zero_test_fraction() -> None:
    split = load_digits_mnist(test_fraction=0.0, one_hot=False)
    assert split.x_train.shape == (N_DIGITS, 784)
    assert split.x_test.shape == (0, 784)
    assert split.y_test.shape == (0,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"test_fraction": -0.1},
        {"test_fraction": 1.0},
        {"seed": -1},
        {"dtype": np.int32},
    ],
)
def test_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        load_digits_mnist(**kwargs)


def test_missing_sklearn_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    digits._mnist_layout.cache_clear()
    digits._build_split.cache_clear()
    try:
        monkeypatch.setitem(sys.modules, "sklearn", None)
        with pytest.raises(ImportError, match=r"pip install graphc\[examples\]"):
            load_digits_mnist(seed=123)
    finally:
        monkeypatch.undo()
        digits._mnist_layout.cache_clear()
        digits._build_split.cache_clear()
    assert load_digits_mnist(seed=123).x_train.shape[0] > 0


def test_package_reexports() -> None:
    from graphc import data

    assert data.load_digits_mnist is not None
    assert data.DigitsSplit is not None
    assert data.BatchIterator is not None


# --------------------------------------------------------------------------
# BatchIterator
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_each_row_exactly_once_per_epoch(n: int, batch_size: int, shuffle: bool) -> None:
    ids = np.arange(n)
    features = np.arange(n * 2).reshape(n, 2) * 10
    it = BatchIterator(ids, features, batch_size=batch_size, shuffle=shuffle, seed=1)
    for _ in range(3):
        batches = list(it)
        assert len(batches) == len(it) == -(-n // batch_size)
        seen = np.concatenate([b[0] for b in batches])
        np.testing.assert_array_equal(np.sort(seen), ids)
        for id_batch, feature_batch in batches:
            # Rows of the different arrays stay aligned.
            np.testing.assert_array_equal(feature_batch, features[id_batch])
            assert len(id_batch) <= batch_size
        if not shuffle:
            np.testing.assert_array_equal(seen, ids)


def test_drop_remainder() -> None:
    it = BatchIterator(np.arange(10), batch_size=3, drop_remainder=True)
    batches = [b for (b,) in it]
    assert len(batches) == len(it) == 3
    assert all(len(b) == 3 for b in batches)
    assert len(np.unique(np.concatenate(batches))) == 9
    assert list(BatchIterator(np.arange(2), batch_size=3, drop_remainder=True)) == []


def test_deterministic_for_seed_and_varies_between_epochs() -> None:
    def run(seed: int) -> list[np.ndarray]:
        it = BatchIterator(np.arange(50), batch_size=7, seed=seed)
        return [b for (b,) in it.epochs(3)]

    a, b = run(5), run(5)
    assert len(a) == 3 * 8
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    epoch0, epoch1 = np.concatenate(a[:8]), np.concatenate(a[8:16])
    assert not np.array_equal(epoch0, epoch1)
    assert not np.array_equal(epoch0, np.concatenate(run(6)[:8]))


def test_epochs_yields_all_batches() -> None:
    it = BatchIterator(np.zeros((9, 2)), np.zeros(9), batch_size=4)
    assert len(list(it.epochs(2))) == 6
    assert it.epoch == 2
    assert list(it.epochs(0)) == []


def test_works_with_digits() -> None:
    split = load_digits_mnist()
    it = BatchIterator(split.x_train, split.y_train, batch_size=128, seed=0)
    xb, yb = next(iter(it))
    assert xb.shape == (128, 784)
    assert yb.shape == (128, 10)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((np.zeros(3), np.zeros(4)), {"batch_size": 2}),
        ((), {"batch_size": 2}),
        ((np.zeros(3),), {"batch_size": 0}),
        ((np.zeros(3),), {"batch_size": 2, "seed": -1}),
        ((np.float32(1.0),), {"batch_size": 1}),
    ],
)
def test_invalid_batch_iterator(args: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BatchIterator(*args, **kwargs)
